import type { RouterConfig, ServiceConfig } from '../domain/config';
import { resolvePrimary, tiedForMostWeight, type RoleReading } from '../domain/routing';
import { routerFor } from '.';
import type { ProbeResult } from './probes';
import type { RouterReadout } from './routers/types';

/** The router and the destinations' roles do not name one primary; acting on a guess could make two writers. */
export class AmbiguousPrimaryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AmbiguousPrimaryError';
  }
}

function routerName(r: RouterConfig): string {
  switch (r.type) {
    case 'haproxy':
      return `HAProxy backend ${r.backend}`;
    case 'file':
      return `routing file ${r.path}`;
    case 'http-webhook':
      return `webhook router ${r.read_url ?? r.url}`;
    case 'nats-kv':
      return `NATS KV ${r.bucket}/${r.key}`;
  }
}

/**
 * A service's routing as its router reports it, with the primary resolved from the destinations'
 * roles when the router gives several the same, highest weight (the widely published HAProxy setup
 * for Redis: both servers ready at equal weight, a `role:master` check choosing the writer). Only for
 * services whose destinations replicate (one writer); independent destinations share traffic by design.
 * Throws AmbiguousPrimaryError when the roles do not name exactly one, or disagree with the router.
 * `probe` asks a destination (only the tied ones are asked); `known` are probes taken already.
 */
export async function readRoutingWithPrimary(
  service: ServiceConfig,
  probe: (destination: string) => Promise<ProbeResult>,
  known: Readonly<Record<string, ProbeResult>> = {},
  readout?: RouterReadout,
): Promise<RouterReadout> {
  const read = readout ?? (await routerFor(service).read());
  if (!service.destinations.some((d) => d.replication.type !== 'none')) return read;
  const tied = tiedForMostWeight(read.routing);
  if (tied.length < 2) return read;
  const roles: Record<string, RoleReading> = {};
  await Promise.all(
    tied.map(async (id) => {
      const p = known[id] ?? (await probe(id));
      roles[id] = { up: p.up, role: p.role };
    }),
  );
  const routerUp = Object.fromEntries(tied.map((id) => [id, read.detail[id]?.up]));
  const resolved = resolvePrimary({ routing: read.routing, roles, routerUp, router: routerName(service.router) });
  if (!resolved) return read;
  if ('problem' in resolved) throw new AmbiguousPrimaryError(`${service.name}: ${resolved.problem}`);
  return { ...read, routing: { ...read.routing, primary: resolved.primary } };
}
