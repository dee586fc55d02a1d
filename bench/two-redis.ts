import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../dev/devserver/free-port';
import { startRedisHaproxyTopology } from '../dev/devserver/redis-haproxy-topology';
import { validateConfig, type Config } from '../src/domain/config';

/** One service of two local Redis servers behind a local HAProxy (redis-a primary), as the benches use it. */
export async function twoRedisService(name: string, failoverManager: Record<string, unknown>, opts: { haproxyConnectTimeoutMs?: number } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fm-bench-${name}-`));
  const [admin, front, pa, pb] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const config: Config = validateConfig({
    failover_manager: failoverManager,
    services: [
      {
        name,
        router: { type: 'haproxy', address: `127.0.0.1:${admin}`, backend: name.replace(/-bus$/, '') },
        entrypoint: { type: 'redis', host: '127.0.0.1', port: front },
        destinations: [
          { id: 'redis-a', zone: 'z1', region: 'r1', probe: { type: 'redis', host: '127.0.0.1', port: pa }, replication: { type: 'redis' } },
          { id: 'redis-b', zone: 'z2', region: 'r1', probe: { type: 'redis', host: '127.0.0.1', port: pb }, replication: { type: 'redis' } },
        ],
      },
    ],
  });
  const service = config.services[0]!;
  const topo = await startRedisHaproxyTopology(service, dir, undefined, [], opts.haproxyConnectTimeoutMs);
  return { dir, config, service, topo, front };
}
