import { describe, expect, it } from 'vitest';
import { apportion, distribute, ejectionLimit, slowStartFactor, slowStartWeight, type DistributionMember } from '../../src/domain/distribution';
import { checkNotAllDown } from '../../src/domain/routing';

const m = (id: string, tier: number, weight: number): DistributionMember => ({ id, tier, weight });
const sum = (w: Record<string, number>) => Object.values(w).reduce((a, v) => a + v, 0);

describe('apportion (largest remainder)', () => {
  it('keeps the total and gives leftovers to the largest remainders, ties to the lower index', () => {
    expect(apportion([1, 1, 1], 100)).toEqual([34, 33, 33]);
    expect(apportion([2, 1], 10)).toEqual([7, 3]);
    expect(apportion([166.666, 83.333], 250)).toEqual([167, 83]);
    expect(apportion([0, 0], 10)).toEqual([0, 0]);
  });

  it('gives a positive value at least 1 when asked, taken from the largest', () => {
    expect(apportion([1000, 1], 10)).toEqual([10, 0]);
    expect(apportion([1000, 1], 10, true)).toEqual([9, 1]);
  });
});

describe('active-active distribution', () => {
  it('spreads by capacity: nominal weights when everything is healthy', () => {
    const d = distribute({ destinations: [m('a', 0, 100), m('b', 0, 100), m('c', 0, 50), m('x', 1, 100)] });
    expect(d.verdict).toBe('ok');
    expect(d.weights).toEqual({ a: 100, b: 100, c: 50, x: 0 });
    expect(d.demand).toBe(250);
    expect(d.members.find((s) => s.id === 'x')!.state).toBe('standby');
    expect(d.members.find((s) => s.id === 'a')!.utilization).toBeCloseTo(1);
  });

  it("moves a failed destination's share to the rest in proportion to capacity", () => {
    const d = distribute({ destinations: [m('a', 0, 100), m('b', 0, 100), m('c', 0, 50)], unhealthy: ['b'], maxLoadFactor: 2 });
    expect(d.verdict).toBe('ok');
    // b's 100 goes 2:1 to a and c: a 166.67, c 83.33, rounded by largest remainder.
    expect(d.weights).toEqual({ a: 167, b: 0, c: 83 });
    expect(sum(d.weights)).toBe(250);
    const a = d.members.find((s) => s.id === 'a')!;
    const c = d.members.find((s) => s.id === 'c')!;
    expect(a.utilization).toBeCloseTo(c.utilization, 1);
    expect(d.members.find((s) => s.id === 'b')!.state).toBe('ejected');
  });

  it('caps each destination at capacity × max_load_factor and spills the rest to the next tier', () => {
    const d = distribute({ destinations: [m('a', 0, 100), m('b', 0, 100), m('c', 0, 50), m('x', 1, 100)], unhealthy: ['b'], maxLoadFactor: 1.4 });
    expect(d.verdict).toBe('spilled');
    expect(d.weights).toEqual({ a: 140, b: 0, c: 70, x: 40 });
    expect(d.tiers.map((t) => [t.tier, t.load])).toEqual([
      [0, 210],
      [1, 40],
    ]);
    for (const s of d.members) expect(s.load).toBeLessThanOrEqual(s.capacity * 1.4 + 1e-9);
    expect(d.reasons.join('\n')).toMatch(/spillover: tier 1 takes 40 of 250/);
  });

  it('spills tier by tier: tier 1 fills to its bound before tier 2 gets anything', () => {
    const d = distribute({
      destinations: [m('a', 0, 100), m('b', 0, 100), m('x', 1, 50), m('y', 2, 100)],
      unhealthy: ['a', 'b'],
      maxEjectPercent: 100,
      maxLoadFactor: 1.2,
    });
    expect(d.weights).toEqual({ a: 0, b: 0, x: 60, y: 120 });
    expect(d.tiers.map((t) => t.load)).toEqual([0, 60, 120]);
    expect(d.members.find((s) => s.id === 'a')!.state).toBe('tier-down');
  });

  it('says "capacity exhausted" when even all tiers cannot carry the load, and reports the overload', () => {
    const d = distribute({ destinations: [m('a', 0, 100), m('b', 0, 100), m('x', 1, 50)], unhealthy: ['b'], maxLoadFactor: 1.2 });
    expect(d.verdict).toBe('capacity-exhausted');
    expect(d.carried).toBeCloseTo(180);
    expect(d.shortfall).toBeCloseTo(20);
    expect(d.weights).toEqual({ a: 120, b: 0, x: 60 });
    // Traffic still follows the weights, so both run above their limit.
    const a = d.members.find((s) => s.id === 'a')!;
    expect(a.load).toBeCloseTo(133.33, 1);
    expect(a.load).toBeGreaterThan(a.limit);
    expect(d.reasons.join('\n')).toMatch(/capacity exhausted: demand 200 exceeds the 180 .*\(short by 20\)/);
  });

  it('with every backup tier down, the surviving tier takes what it can and the verdict says the rest is lost', () => {
    const d = distribute({ destinations: [m('a', 0, 100), m('b', 0, 100), m('x', 1, 100), m('y', 1, 100)], unhealthy: ['b', 'x', 'y'], maxLoadFactor: 1.4 });
    expect(d.verdict).toBe('capacity-exhausted');
    expect(d.weights).toEqual({ a: 140, b: 0, x: 0, y: 0 });
    expect(d.members.filter((s) => s.tier === 1).map((s) => s.state)).toEqual(['tier-down', 'tier-down']);
    expect(checkNotAllDown(d.weights, new Set(['b', 'x', 'y']))).toBeUndefined();
  });

  it('routes nowhere (and says so) when nothing is healthy', () => {
    const d = distribute({ destinations: [m('a', 0, 100), m('x', 1, 100)], unhealthy: ['a', 'x'] });
    expect(d.verdict).toBe('no-healthy-destination');
    expect(d.weights).toEqual({ a: 0, x: 0 });
    expect(checkNotAllDown(d.weights, new Set(['a', 'x']))).toMatch(/nowhere/);
  });

  it('handles a single destination', () => {
    expect(distribute({ destinations: [m('solo', 0, 80)] }).weights).toEqual({ solo: 80 });
    const down = distribute({ destinations: [m('solo', 0, 80)], unhealthy: ['solo'] });
    expect(down.verdict).toBe('no-healthy-destination');
    expect(down.weights).toEqual({ solo: 0 });
  });

  it('never ejects more than max_eject_percent of a tier at once; the rest stay, flagged', () => {
    const dests = [m('a', 0, 100), m('b', 0, 100), m('c', 0, 100), m('d', 0, 100)];
    const d = distribute({ destinations: dests, unhealthy: ['c', 'a', 'd'], maxEjectPercent: 50, maxLoadFactor: 3 });
    expect(d.tiers[0]!.ejected).toEqual(['c', 'a']);
    expect(d.tiers[0]!.held).toEqual(['d']);
    expect(d.members.find((s) => s.id === 'd')!.state).toBe('held');
    expect(d.weights).toEqual({ a: 0, b: 200, c: 0, d: 200 });
    expect(d.reasons[0]).toMatch(/tier 0: d unhealthy but kept in rotation \(max_eject_percent 50 allows 2 of 4 ejected\)/);
    // A tier with nothing healthy left is not held: it is out as a whole, and its traffic spills.
    const all = distribute({ destinations: [...dests, m('x', 1, 200), m('y', 1, 200)], unhealthy: ['a', 'b', 'c', 'd'], maxEjectPercent: 50 });
    expect(all.weights).toEqual({ a: 0, b: 0, c: 0, d: 0, x: 200, y: 200 });
    expect(all.verdict).toBe('spilled');
  });

  it('ejects at least one even when the percentage rounds to zero', () => {
    expect(ejectionLimit(3, 10)).toBe(1);
    expect(ejectionLimit(4, 50)).toBe(2);
    expect(ejectionLimit(10, 25)).toBe(2);
    const d = distribute({ destinations: [m('a', 0, 100), m('b', 0, 100), m('c', 0, 100)], unhealthy: ['b', 'c'], maxEjectPercent: 10, maxLoadFactor: 2 });
    expect(d.tiers[0]!.ejected).toEqual(['b']);
    expect(d.tiers[0]!.held).toEqual(['c']);
  });

  it('does not count deliberate exclusions (drain, evacuation) against max_eject_percent', () => {
    const d = distribute({ destinations: [m('a', 0, 100), m('b', 0, 100), m('x', 1, 200)], excluded: ['a', 'b'], maxEjectPercent: 10 });
    expect(d.weights).toEqual({ a: 0, b: 0, x: 200 });
    expect(d.members.map((s) => s.state)).toEqual(['excluded', 'excluded', 'active']);
  });

  it('slow-starts a returning destination over N steps', () => {
    expect([0, 1, 2, 3, 4, 5].map((k) => slowStartFactor(k, 4))).toEqual([0, 0.25, 0.5, 0.75, 1, 1]);
    expect(slowStartFactor(1, 4, 2)).toBeCloseTo(0.5);
    expect(slowStartFactor(1, 0)).toBe(1);
    expect([1, 2, 3, 4].map((k) => slowStartWeight(100, k, 4))).toEqual([25, 50, 75, 100]);
    expect(slowStartWeight(3, 1, 10)).toBe(1);
    expect(slowStartWeight(100, 0, 4)).toBe(0);
    const steps = [1, 2, 3, 4].map(
      (step) => distribute({ destinations: [m('a', 0, 100), m('b', 0, 100)], slowStart: { a: { step, steps: 4 } }, maxLoadFactor: 2 }).weights,
    );
    expect(steps).toEqual([
      { a: 40, b: 160 },
      { a: 67, b: 133 },
      { a: 86, b: 114 },
      { a: 100, b: 100 },
    ]);
  });

  it('spreads equally in equal mode, whatever the configured weights', () => {
    const d = distribute({ destinations: [m('a', 0, 200), m('b', 0, 50), m('c', 0, 0)], mode: 'equal' });
    expect(d.weights).toEqual({ a: 100, b: 100, c: 0 });
    expect(d.members.find((s) => s.id === 'c')!.state).toBe('no-capacity');
  });

  it('keeps weights inside the router range (0..256), preserving proportions', () => {
    const d = distribute({ destinations: [m('a', 0, 256), m('b', 0, 256), m('x', 1, 256)], unhealthy: ['b'], maxLoadFactor: 1.4 });
    expect(Math.max(...Object.values(d.weights))).toBeLessThanOrEqual(256);
    // a carries 358.4, x the other 153.6: weights keep that 7:3 ratio.
    expect(d.weights.a! / d.weights.x!).toBeCloseTo(358.4 / 153.6, 1);
    expect(Math.abs(d.members.find((s) => s.id === 'a')!.load - 358.4)).toBeLessThan(1);
  });

  it('is deterministic and independent of input order', () => {
    const dests = [m('c', 0, 30), m('a', 0, 70), m('b', 0, 50), m('y', 1, 40), m('x', 1, 40)];
    const one = distribute({ destinations: dests, unhealthy: ['a'], maxLoadFactor: 1.1 });
    const two = distribute({ destinations: [...dests].reverse(), unhealthy: ['a'], maxLoadFactor: 1.1 });
    expect(two.weights).toEqual(one.weights);
    expect(one.weights).toEqual({ a: 0, b: 55, c: 33, x: 31, y: 31 });
    expect(sum(one.weights)).toBe(150);
  });
});
