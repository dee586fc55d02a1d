import type { ServiceConfig } from '../domain/config';
import { routerServerOf } from '../domain/config';
import type { Replicator } from './replication/types';
import { RedisReplicator } from './replication/redis';
import { NatsJetStreamReplicator } from './replication/nats-jetstream';
import { RabbitmqReplicator } from './replication/rabbitmq';
import { requireMs } from '../domain/duration';
import { FileRouter } from './routers/file';
import { HaproxyRouter } from './routers/haproxy';
import { NatsKvRouter } from './routers/nats-kv';
import { WebhookRouter } from './routers/http-webhook';
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
    case 'file':
      return new FileRouter({
        path: r.path,
        service: service.name,
        servers: Object.fromEntries(service.destinations.map((d) => [d.id, routerServerOf(d)])),
        // Before the first write: the first destination listed is the active one, as in the local topologies.
        initial: Object.fromEntries(service.destinations.map((d, i) => [d.id, i === 0 ? d.weight : 0])),
      });
    case 'http-webhook':
      return new WebhookRouter({
        service: service.name,
        url: r.url,
        readUrl: r.read_url,
        authHeader: r.auth_header,
        authEnv: r.auth_env,
        timeoutMs: requireMs(r.timeout),
        tls: r.tls,
        servers: Object.fromEntries(service.destinations.map((d) => [d.id, routerServerOf(d)])),
      });
    case 'nats-kv':
      return new NatsKvRouter({
        connection: r,
        bucket: r.bucket,
        key: r.key,
        service: service.name,
        servers: Object.fromEntries(service.destinations.map((d) => [d.id, routerServerOf(d)])),
        // Before the first write: the first destination listed is the active one, as for the file router.
        initial: Object.fromEntries(service.destinations.map((d, i) => [d.id, i === 0 ? d.weight : 0])),
      });
  }
}

/** The replicator for a service, or undefined when its destinations do not replicate. */
export function replicatorFor(service: ServiceConfig, timeoutMs: number): Replicator | undefined {
  const kinds = new Set(service.destinations.map((d) => d.replication.type));
  if (kinds.has('redis')) return new RedisReplicator(service.destinations, timeoutMs);
  if (kinds.has('nats-jetstream')) return new NatsJetStreamReplicator(service.destinations, timeoutMs);
  if (kinds.has('rabbitmq')) return new RabbitmqReplicator(service.destinations, timeoutMs);
  return undefined;
}
