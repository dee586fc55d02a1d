import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config, ServiceConfig } from '../../src/domain/config';
import { validateConfig } from '../../src/domain/config';
import { freePort } from '../../dev/devserver/free-port';
import { replicationInfo, withRedis } from '../../src/drivers/redis-connection';
import { startRedisHaproxyTopology, type LocalTopology } from '../../dev/devserver/redis-haproxy-topology';

export interface RedisServiceFixture {
  config: Config;
  service: ServiceConfig;
  topology: LocalTopology;
  dir: string;
  stop(): Promise<void>;
}

/**
 * Two redis-servers behind HAProxy on free loopback ports, and a config for them: a primary and
 * its replica (single writer), or two independent servers (`replicated: false`) standing for
 * independent queues that weights can ramp between.
 */
export async function startRedisService(
  name = 'orders-bus',
  policy: Record<string, unknown> = {},
  opts: { replicated?: boolean; validation?: unknown[]; /** Destinations whose redis keeps an fsynced AOF. */ appendonly?: string[] } = {},
): Promise<RedisServiceFixture> {
  const replicated = opts.replicated ?? true;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fm-${name}-`));
  const [adminPort, frontPort, portA, portB] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const config = validateConfig({
    failover_manager: {
      failover_detection: { detection_interval: '200ms', timeout: '1s' },
      ...policy,
    },
    services: [
      {
        name,
        router: { type: 'haproxy', address: `127.0.0.1:${adminPort}`, backend: name.replace(/[^a-z0-9]/g, '_') },
        entrypoint: { type: 'redis', host: '127.0.0.1', port: frontPort },
        ...(opts.validation ? { validation: opts.validation } : {}),
        destinations: [
          {
            id: 'redis-a',
            zone: 'z1',
            region: 'r1',
            probe: { type: 'redis', host: '127.0.0.1', port: portA },
            replication: { type: replicated ? 'redis' : 'none' },
          },
          {
            id: 'redis-b',
            zone: 'z2',
            region: 'r1',
            probe: { type: 'redis', host: '127.0.0.1', port: portB },
            replication: { type: replicated ? 'redis' : 'none' },
          },
        ],
      },
    ],
  });
  const service = config.services[0]!;
  const topology = await startRedisHaproxyTopology(service, dir, undefined, opts.appendonly);
  if (replicated) await waitForReplicaLink(portB);
  return { config, service, topology, dir, stop: () => topology.stop() };
}

async function waitForReplicaLink(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const info = await withRedis({ host: '127.0.0.1', port }, 1000, replicationInfo).catch(() => undefined);
    if (info?.linkUp) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`replica on ${port} did not link to its primary`);
}

/** The same service with some policy keys changed (the worker reads config per runbook). */
export function withPolicy(fx: RedisServiceFixture, patch: Record<string, Record<string, unknown>>): Config {
  const policy = fx.config.failover_manager as unknown as Record<string, Record<string, unknown>>;
  const merged = Object.fromEntries(Object.entries(policy).map(([section, values]) => [section, { ...values, ...(patch[section] ?? {}) }]));
  return validateConfig({ ...fx.config, failover_manager: merged });
}
