import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../dev/devserver/free-port';
import { startRedisHaproxyTopology, type LocalTopology } from '../../dev/devserver/redis-haproxy-topology';
import { validateConfig, type Config, type ServiceConfig } from '../../src/domain/config';
import { distribute } from '../../src/domain/distribution';

export interface ActiveActiveFixture {
  config: Config;
  service: ServiceConfig;
  topology: LocalTopology;
  initial: Record<string, number>;
  dir: string;
  stop(): Promise<void>;
}

/**
 * An active-active service of independent redis-servers (standing for queues) behind HAProxy,
 * starting with the weights the distribution gives when everything is healthy.
 */
export async function startActiveActive(
  name: string,
  members: { id: string; zone: string; region?: string; weight: number; tier?: number }[],
  policy: Record<string, unknown> = {},
): Promise<ActiveActiveFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fm-${name}-`));
  const [adminPort, frontPort] = [await freePort(), await freePort()];
  const destinations = [];
  for (const m of members) {
    destinations.push({
      id: m.id,
      zone: m.zone,
      region: m.region ?? 'r1',
      tier: m.tier ?? 0,
      weight: m.weight,
      probe: { type: 'redis', host: '127.0.0.1', port: await freePort() },
      replication: { type: 'none' },
    });
  }
  const config = validateConfig({
    failover_manager: {
      ...policy,
      failover_execution: { failover_strategy: 'active-active', data_sync: false, ...(policy.failover_execution as object) },
    },
    services: [
      {
        name,
        router: { type: 'haproxy', address: `127.0.0.1:${adminPort}`, backend: name.replace(/[^a-z0-9]/g, '_') },
        entrypoint: { type: 'redis', host: '127.0.0.1', port: frontPort },
        destinations,
      },
    ],
  });
  const service = config.services[0]!;
  const red = config.failover_manager.redundancy_management;
  const initial = distribute({
    destinations: service.destinations,
    mode: red.load_distribution,
    maxEjectPercent: red.max_eject_percent,
    maxLoadFactor: red.max_load_factor,
    offeredLoad: red.offered_load,
  }).weights;
  const topology = await startRedisHaproxyTopology(service, dir, initial);
  return { config, service, topology, initial, dir, stop: () => topology.stop() };
}
