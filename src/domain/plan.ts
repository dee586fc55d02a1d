import type { DestinationConfig, ServiceConfig } from './config';

export type Proximity = 'same-zone' | 'other-zone' | 'other-region';

export function proximity(from: DestinationConfig, to: DestinationConfig): Proximity {
  if (from.region !== to.region) return 'other-region';
  return from.zone === to.zone ? 'same-zone' : 'other-zone';
}

const proximityRank: Record<Proximity, number> = { 'same-zone': 0, 'other-zone': 1, 'other-region': 2 };

export interface Candidate {
  id: string;
  proximity: Proximity;
  tier: number;
}

/**
 * Backup candidates for `sourceId`, best first: same zone, then other zone, then other region;
 * within that by configured tier, then higher weight, then id (stable). Down ones are left out.
 */
export function rankCandidates(service: ServiceConfig, sourceId: string, down: ReadonlySet<string> = new Set()): Candidate[] {
  const source = service.destinations.find((d) => d.id === sourceId);
  if (!source) return [];
  return service.destinations
    .filter((d) => d.id !== sourceId && !down.has(d.id))
    .sort(
      (a, b) => proximityRank[proximity(source, a)] - proximityRank[proximity(source, b)] || a.tier - b.tier || b.weight - a.weight || a.id.localeCompare(b.id),
    )
    .map((d) => ({ id: d.id, proximity: proximity(source, d), tier: d.tier }));
}
