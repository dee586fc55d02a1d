import { serviceSchema, type ServiceConfig } from '../../src/domain/config';

const tcp = { type: 'tcp', host: 'h', port: 1 };

/** A service from `[id, zone, region, tier, weight?]` rows, for pure-logic tests. */
export function service(dests: Array<[id: string, zone: string, region: string, tier: number, weight?: number]>): ServiceConfig {
  return serviceSchema.parse({
    name: 's',
    router: { type: 'haproxy', socket: '/x', backend: 'b' },
    destinations: dests.map(([id, zone, region, tier, weight]) => ({ id, zone, region, tier, weight: weight ?? 100, probe: tcp })),
  });
}
