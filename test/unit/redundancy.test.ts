import { describe, expect, it } from 'vitest';
import { policySchema, serviceSchema, type ServiceConfig } from '../../src/domain/config';
import { emptyRanking, update } from '../../src/domain/ranking';
import { assessRedundancy, mayDrainWithoutApproval, selectBackups, type RedundancyInput } from '../../src/domain/redundancy';
import type { Routing } from '../../src/domain/routing';
import { service } from '../support/service-builder';

const redundancy = (r: Record<string, unknown> = {}) => policySchema.parse({ redundancy_management: r }).redundancy_management;
const routing = (weights: Record<string, number>): Routing => ({ generation: 1, weights });

// a (primary) and b in zone z1, c in z2, d in another region, tier 1.
const svc = service([
  ['a', 'z1', 'r1', 0],
  ['b', 'z1', 'r1', 0],
  ['c', 'z2', 'r1', 0],
  ['d', 'z9', 'r2', 1],
]);
const base = (healthy: string[], extra: Partial<RedundancyInput> = {}): RedundancyInput => ({
  service: svc,
  routing: routing({ a: 100, b: 0, c: 0, d: 0 }),
  healthy: new Set(healthy),
  strategy: 'active-passive',
  policy: redundancy(),
  ...extra,
});

describe('redundancy assessment', () => {
  it('is ok with enough healthy backups, counted per tier, zone and region', () => {
    const r = assessRedundancy(base(['a', 'b', 'c', 'd']));
    expect(r.verdict).toBe('ok');
    expect(r.primary).toBe('a');
    expect(r.backups).toEqual({ total: 3, otherZone: 2, otherRegion: 1 });
    expect(r.byTier).toEqual([
      { key: '0', healthy: ['a', 'b', 'c'], total: 3 },
      { key: '1', healthy: ['d'], total: 1 },
    ]);
    expect(r.byZone.map((z) => [z.key, z.healthy.length])).toEqual([
      ['z1', 2],
      ['z2', 1],
      ['z9', 1],
    ]);
    expect(r.byRegion.map((z) => [z.key, z.healthy.length])).toEqual([
      ['r1', 3],
      ['r2', 1],
    ]);
    expect(r.diversity).toEqual({ zones: 3, regions: 2 });
    expect(r.ranked.map((b) => b.id)).toEqual(['b', 'c', 'd']);
    expect(r.selected).toEqual(['b']);
  });

  it('is below level when healthy backups are fewer than redundancy_level', () => {
    const r = assessRedundancy(base(['a', 'c'], { policy: redundancy({ redundancy_level: 2 }) }));
    expect(r.verdict).toBe('below-level');
    expect(r.reasons).toContain('1 healthy backup(s), redundancy_level 2');
  });

  it('applies per-zone and per-region requirements (multi-level redundancy)', () => {
    const r = assessRedundancy(base(['a', 'b', 'c'], { policy: redundancy({ other_zone_backups: 1, other_region_backups: 1 }) }));
    expect(r.verdict).toBe('below-level');
    expect(r.reasons).toEqual(['0 healthy backup(s) outside region r1, other_region_backups 1', 'tier 1 has no healthy destination (1 configured)']);
    const ok = assessRedundancy(base(['a', 'b', 'c', 'd'], { policy: redundancy({ redundancy_level: 2, other_zone_backups: 2, other_region_backups: 1 }) }));
    expect(ok.verdict).toBe('ok');
    // Diversity first: the other-region backup, then other-zone, then by rank.
    expect(ok.selected).toEqual(['c', 'd']);
  });

  it("is at risk when every backup shares the primary's zone, or a tier has nothing healthy", () => {
    const sameZone = assessRedundancy(base(['a', 'b']));
    expect(sameZone.verdict).toBe('at-risk');
    expect(sameZone.reasons).toContain('every healthy backup is in zone z1: losing that zone loses the service');
    expect(sameZone.reasons).toContain('tier 1 has no healthy destination (1 configured)');
    const tierOnly = assessRedundancy(base(['a', 'b', 'c']));
    expect(tierOnly.verdict).toBe('at-risk');
    expect(tierOnly.reasons).toEqual(['no healthy backup outside region r1', 'tier 1 has no healthy destination (1 configured)']);
  });

  it('counts against the best healthy destination when the primary is down', () => {
    const r = assessRedundancy(base(['b', 'c', 'd']));
    expect(r.primary).toBe('b');
    expect(r.verdict).toBe('at-risk');
    expect(r.reasons[0]).toBe('a carries traffic but is unhealthy; counted against b');
    expect(r.backups.total).toBe(2);
  });

  it('reports nothing healthy as below level', () => {
    const r = assessRedundancy(base([]));
    expect(r.verdict).toBe('below-level');
    expect(r.reasons).toEqual(['no healthy destination: nothing can carry traffic']);
  });

  it('checks N+1 capacity for active-active', () => {
    const aa = service([
      ['a', 'z1', 'r1', 0],
      ['b', 'z2', 'r1', 0],
    ]);
    const input = (r: Record<string, unknown>): RedundancyInput => ({
      service: aa,
      routing: routing({ a: 100, b: 100 }),
      healthy: new Set(['a', 'b']),
      strategy: 'active-active',
      policy: redundancy(r),
    });
    const tight = assessRedundancy(input({}));
    expect(tight.verdict).toBe('at-risk');
    expect(tight.reasons).toContain('losing a would exhaust capacity (short by 60)');
    // Half-loaded, one destination can carry it all.
    expect(assessRedundancy(input({ offered_load: 0.5 })).verdict).toBe('ok');
  });

  it('orders backups by learned score when a ranking is given', () => {
    let state = emptyRanking();
    for (let i = 0; i < 30; i++) {
      for (const id of ['a', 'b', 'c', 'd']) state = update(state, { destination: id, kind: 'probe', up: id !== 'b' || i % 3 !== 0, latencyMs: 20 }, i * 1000);
    }
    const r = assessRedundancy(base(['a', 'b', 'c', 'd'], { ranking: { state, now: 30_000 } }));
    expect(r.ranked.map((x) => x.id)).toEqual(['c', 'd', 'b']);
    expect(r.ranked.every((b) => typeof b.score === 'number')).toBe(true);
  });

  it('selects backups greedily and deterministically', () => {
    const ranked = [
      { id: 'b', proximity: 'same-zone', tier: 0, zone: 'z1', region: 'r1' },
      { id: 'c', proximity: 'other-zone', tier: 0, zone: 'z2', region: 'r1' },
      { id: 'd', proximity: 'other-region', tier: 1, zone: 'z9', region: 'r2' },
    ] as const;
    expect(selectBackups([...ranked], { total: 2, otherZone: 0, otherRegion: 0 })).toEqual(['b', 'c']);
    expect(selectBackups([...ranked], { total: 1, otherZone: 1, otherRegion: 0 })).toEqual(['c']);
    expect(selectBackups([...ranked], { total: 0, otherZone: 0, otherRegion: 1 })).toEqual(['d']);
  });
});

describe('drain without approval', () => {
  it('allows a drain that keeps redundancy_level healthy backups', () => {
    const v = mayDrainWithoutApproval(base(['a', 'b', 'c', 'd']), ['b']);
    expect(v.allowed).toBe(true);
    expect(v.reasons).toEqual(['2 healthy backup(s) remain (level 1)']);
  });

  it('needs approval to drop below redundancy_level', () => {
    const v = mayDrainWithoutApproval(base(['a', 'b']), ['b']);
    expect(v.allowed).toBe(false);
    expect(v.reasons).toEqual(['backups: 1 → 0, redundancy_level 1', 'needs approval']);
  });

  it('draining the primary counts against the destination that would take over', () => {
    const v = mayDrainWithoutApproval(base(['a', 'b', 'c']), ['a']);
    expect(v.after.primary).toBe('b');
    expect(v.allowed).toBe(true);
    const zone = mayDrainWithoutApproval(base(['a', 'b', 'c', 'd'], { policy: redundancy({ other_zone_backups: 2 }) }), ['c']);
    expect(zone.allowed).toBe(false);
    expect(zone.reasons[0]).toBe('backups outside the primary zone: 2 → 1, other_zone_backups 2');
  });

  it('always allows draining what is already unhealthy, and never allows emptying the service', () => {
    const already = mayDrainWithoutApproval(base(['a'], { policy: redundancy({ redundancy_level: 3 }) }), ['b']);
    expect(already.allowed).toBe(true);
    expect(already.reasons).toEqual(['b not healthy now; draining lowers nothing']);
    const last = mayDrainWithoutApproval(base(['a'], { policy: redundancy({ redundancy_level: 0 }) }), ['a']);
    expect(last.allowed).toBe(false);
    expect(last.reasons[0]).toBe('draining a leaves no healthy destination');
  });

  it('refuses unknown destinations', () => {
    expect(mayDrainWithoutApproval(base(['a', 'b']), ['zz']).reasons).toEqual(['unknown destination(s): zz']);
  });
});
