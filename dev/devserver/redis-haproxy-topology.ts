import type { ServiceConfig } from '../../src/domain/config';
import { redisEndpointOf, routerServerOf } from '../../src/domain/config';
import { startHaproxy, type LocalHaproxy } from './local-haproxy';
import { startRedis, type LocalRedis } from './local-redis';

export interface LocalTopology {
  redis: Record<string, LocalRedis>;
  haproxy: LocalHaproxy;
  stop(): Promise<void>;
}

/**
 * Brings up, on loopback, what a Redis service config describes: the first destination as primary,
 * the others as its replicas (or independent servers when they do not replicate), HAProxy routing
 * to the first only.
 */
export async function startRedisHaproxyTopology(
  service: ServiceConfig,
  dir: string,
  /** Starting HAProxy weights (active-active); default: all on the first destination. */
  initialWeights?: Record<string, number>,
  /** Destinations whose redis-server keeps an fsynced AOF (comes back with its data after a restart under the same name). */
  appendonly: readonly string[] = [],
  /** HAProxy's `timeout connect` (see startHaproxy). */
  haproxyConnectTimeoutMs?: number,
): Promise<LocalTopology> {
  const router = service.router;
  if (router.type !== 'haproxy' || !router.address) throw new Error(`${service.name}: local topology needs a haproxy router on a TCP address`);
  const entry = service.entrypoint;
  if (!entry || entry.type !== 'redis') throw new Error(`${service.name}: local topology needs a redis entrypoint (the HAProxy frontend)`);
  const [primary, ...replicas] = service.destinations;
  if (!primary) throw new Error(`${service.name}: no destinations`);
  const redis: Record<string, LocalRedis> = {};
  const started: { stop(): Promise<void> }[] = [];
  try {
    const primaryPort = primary.probe.type === 'redis' ? primary.probe.port : redisEndpointOf(primary).port;
    redis[primary.id] = await startRedis({ port: primaryPort, dir, name: primary.id, appendonly: appendonly.includes(primary.id) });
    started.push(redis[primary.id]!);
    for (const d of replicas) {
      const port = d.replication.type === 'redis' ? redisEndpointOf(d).port : d.probe.type === 'redis' ? d.probe.port : undefined;
      if (!port) throw new Error(`${service.name}: destination ${d.id} has no redis port`);
      redis[d.id] = await startRedis({
        port,
        dir,
        name: d.id,
        appendonly: appendonly.includes(d.id),
        ...(d.replication.type === 'redis' ? { replicaOfPort: primaryPort } : {}),
      });
      started.push(redis[d.id]!);
    }
    const haproxy = await startHaproxy({
      dir,
      frontendPort: entry.port,
      adminPort: Number(router.address.split(':').pop()),
      backend: router.backend,
      ...(haproxyConnectTimeoutMs !== undefined ? { connectTimeoutMs: haproxyConnectTimeoutMs } : {}),
      servers: service.destinations.map((d, i) => ({
        name: routerServerOf(d),
        port: redis[d.id]!.port,
        weight: initialWeights ? (initialWeights[d.id] ?? 0) : i === 0 ? d.weight : 0,
      })),
    });
    started.push(haproxy);
    // `redis` and `haproxy` are live: a server restarted in place, a reloaded HAProxy, are stopped too.
    const topology: LocalTopology = { redis, haproxy, stop: () => stopAll([...new Set([...started, ...Object.values(redis), topology.haproxy])]) };
    return topology;
  } catch (err) {
    await stopAll(started);
    throw err;
  }
}

async function stopAll(procs: { stop(): Promise<void> }[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop().catch(() => {})));
}
