import type { ServiceConfig } from '../domain/config';
import { routerServerOf } from '../domain/config';
import type { Replicator } from './replication/types';
import { RedisReplicator } from './replication/redis';
import { HaproxyRouter } from './routers/haproxy';
import type { Router } from './routers/types';

/** The router a service's config names. */
export function routerFor(service: ServiceConfig): Router {
  const r = service.router;
  switch (r.type) {
    case 'haproxy':
      return new HaproxyRouter({
        api: r.socket !== undefined ? { socket: r.socket } : { address: r.address! },
        backend: r.backend,
        servers: Object.fromEntries(service.destinations.map((d) => [d.id, routerServerOf(d)])),
      });
  }
}

/** The replicator for a service, or undefined when its destinations do not replicate. */
export function replicatorFor(service: ServiceConfig, timeoutMs: number): Replicator | undefined {
  const kinds = new Set(service.destinations.map((d) => d.replication.type));
  if (kinds.has('redis')) return new RedisReplicator(service.destinations, timeoutMs);
  return undefined;
}
