import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config-file';
import { policySchema, serviceSchema, type ServiceConfig } from '../../src/domain/config';
import type { Routing } from '../../src/domain/routing';
import {
  checkRegionEntry,
  chooseTarget,
  distributeWithRules,
  failoverTargets,
  planScopeFailover,
  scopeMembers,
  tierRulesOf,
  trafficFlows,
  type TierRules,
} from '../../src/domain/tiers';
import { InvalidInputError } from '../../src/domain/validation';
import { service } from '../support/service-builder';

const routing = (weights: Record<string, number>): Routing => ({ generation: 7, weights });
const free: TierRules = { neverCrossRegionAutomatically: false, approvalForCrossRegion: false };
const strict: TierRules = { neverCrossRegionAutomatically: true, approvalForCrossRegion: false };
const approval: TierRules = { neverCrossRegionAutomatically: false, approvalForCrossRegion: true };

// Active-passive: primary a; b shares its zone; c in another zone; d in another region.
const ap = service([
  ['a', 'z1', 'r1', 0],
  ['b', 'z1', 'r1', 1],
  ['c', 'z2', 'r1', 1],
  ['d', 'z9', 'r2', 0],
]);

describe('multi-level failover order and rules', () => {
  it('tries same zone, then other zone, then other region', () => {
    const t = failoverTargets(ap, 'a', { trigger: 'automatic', rules: free });
    expect(t.map((o) => [o.id, o.proximity])).toEqual([
      ['b', 'same-zone'],
      ['c', 'other-zone'],
      ['d', 'other-region'],
    ]);
    expect(t.every((o) => o.allowed && !o.approvalRequired)).toBe(true);
  });

  it('never crosses a region automatically when the rule says so; a person may', () => {
    const unavailable = new Set(['b', 'c']);
    const auto = failoverTargets(ap, 'a', { unavailable, trigger: 'automatic', rules: strict });
    expect(auto).toHaveLength(1);
    expect(auto[0]).toMatchObject({ id: 'd', allowed: false });
    expect(chooseTarget(auto)).toEqual({
      reasons: ['d (other-region): would send traffic into region r2; never_cross_region_automatically: an operator must start that failover'],
    });
    const manual = failoverTargets(ap, 'a', { unavailable, trigger: 'manual', rules: strict });
    expect(chooseTarget(manual).target?.id).toBe('d');
  });

  it('asks for approval to enter another region, and prefers a target that needs none', () => {
    const e = checkRegionEntry(['r2'], 'manual', approval);
    expect(e).toEqual({ allowed: true, approvalRequired: true, reasons: ['sends traffic into region r2; approval_for_cross_region: waits for approval'] });
    // Ranking prefers d, but c needs no approval.
    const t = failoverTargets(ap, 'a', { unavailable: new Set(['b']), trigger: 'automatic', rules: approval, order: ['d', 'c'] });
    expect(t.map((o) => o.id)).toEqual(['d', 'c']);
    expect(chooseTarget(t).target?.id).toBe('c');
    const onlyFar = failoverTargets(ap, 'a', { unavailable: new Set(['b', 'c']), trigger: 'automatic', rules: approval });
    expect(chooseTarget(onlyFar).target).toMatchObject({ id: 'd', approvalRequired: true });
    expect(chooseTarget([])).toEqual({ reasons: ['no healthy destination to fail over to'] });
  });

  it('reads the rules from config, with defaults, and names a bad value', () => {
    const p = policySchema.parse({});
    expect(tierRulesOf(p.failover_execution)).toEqual(free);
    expect(p.failover_execution.target_selection).toBe('proximity');
    expect(p.redundancy_management).toMatchObject({
      max_load_factor: 1.4,
      offered_load: 1,
      slow_start_steps: 0,
      other_zone_backups: 0,
      other_region_backups: 0,
    });
    const text = `failover_manager:
  failover_execution: { never_cross_region_automatically: true, approval_for_cross_region: true, target_selection: intelligent }
services:
  - name: s
    router: { type: haproxy, socket: /x, backend: b }
    destinations: [{ id: a, zone: z, region: r, probe: { type: tcp, host: h, port: 1 } }]
`;
    expect(tierRulesOf(parseConfigText(text).failover_manager.failover_execution)).toEqual({
      neverCrossRegionAutomatically: true,
      approvalForCrossRegion: true,
    });
    try {
      parseConfigText(text.replace('never_cross_region_automatically: true', 'never_cross_region_automatically: sometimes'));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidInputError);
      expect((err as InvalidInputError).problems).toEqual([
        'failover_manager.failover_execution.never_cross_region_automatically: Invalid input: expected boolean, received string (got "sometimes")',
      ]);
    }
  });
});

describe('traffic flows', () => {
  it('splits each loss over the gainers in proportion to what they gain', () => {
    expect(trafficFlows({ a: 100, b: 100, c: 0, d: 0 }, { a: 0, b: 0, c: 150, d: 50 })).toEqual([
      { from: 'a', to: 'c', share: 0.375 },
      { from: 'a', to: 'd', share: 0.125 },
      { from: 'b', to: 'c', share: 0.375 },
      { from: 'b', to: 'd', share: 0.125 },
    ]);
    expect(trafficFlows({ a: 100 }, { a: 50 })).toEqual([]);
    expect(trafficFlows({ a: 0 }, { a: 50 })).toEqual([]);
  });
});

describe('zone and region failover plans', () => {
  // Active-active: zone z1 holds a and b; z2 holds c and d; tier 1 in another region.
  const aa = service([
    ['a', 'z1', 'r1', 0],
    ['b', 'z1', 'r1', 0],
    ['c', 'z2', 'r1', 0],
    ['d', 'z2', 'r1', 0, 50],
    ['x', 'z9', 'r2', 1],
  ]);
  const aaRouting = routing({ a: 100, b: 100, c: 100, d: 50, x: 0 });

  it('moves a whole zone (two destinations at once) as one plan', () => {
    expect(scopeMembers(aa, { zone: 'z1' })).toEqual(['a', 'b']);
    const plan = planScopeFailover({
      service: aa,
      routing: aaRouting,
      scope: { zone: 'z1' },
      strategy: 'active-active',
      trigger: 'manual',
      rules: free,
      distribution: { maxLoadFactor: 2, offeredLoad: 0.8 },
    });
    expect(plan.verdict).toBe('ok');
    expect(plan.evacuated).toEqual(['a', 'b']);
    // Demand 0.8 × 350 = 280 over c (100) and d (50) in 2:1, within 2× capacity: no spill.
    expect(plan.weights).toEqual({ a: 0, b: 0, c: 187, d: 93, x: 0 });
    expect(plan.changes).toEqual([
      { id: 'a', from: 100, to: 0 },
      { id: 'b', from: 100, to: 0 },
      { id: 'c', from: 100, to: 187 },
      { id: 'd', from: 50, to: 93 },
    ]);
    expect(plan.flows.map((f) => [f.from, f.to])).toEqual([
      ['a', 'c'],
      ['a', 'd'],
      ['b', 'c'],
      ['b', 'd'],
    ]);
    expect(plan.flows.reduce((s, f) => s + f.share, 0)).toBeCloseTo(200 / 350);
    expect(plan.distribution!.members.find((m) => m.id === 'a')!.state).toBe('excluded');
  });

  it('spills a zone evacuation into the next tier when the rest of the tier cannot carry it', () => {
    const plan = planScopeFailover({ service: aa, routing: aaRouting, scope: { zone: 'z1' }, strategy: 'active-active', trigger: 'manual', rules: free });
    // Demand 350; c and d carry 1.4 × 150 = 210; x in r2 takes 140.
    expect(plan.weights).toEqual({ a: 0, b: 0, c: 140, d: 70, x: 140 });
    expect(plan.regionsAfter).toEqual(['r1', 'r2']);
    expect(plan.distribution!.verdict).toBe('spilled');
  });

  it('keeps an automatic zone evacuation inside the region when crossing is forbidden', () => {
    const plan = planScopeFailover({ service: aa, routing: aaRouting, scope: { zone: 'z1' }, strategy: 'active-active', trigger: 'automatic', rules: strict });
    expect(plan.weights).toEqual({ a: 0, b: 0, c: 140, d: 70, x: 0 });
    expect(plan.distribution!.verdict).toBe('capacity-exhausted');
    expect(plan.reasons.join('\n')).toMatch(/kept inside region r1 \(never_cross_region_automatically; r2 left to an operator\)/);
    const asked = planScopeFailover({
      service: aa,
      routing: aaRouting,
      scope: { zone: 'z1' },
      strategy: 'active-active',
      trigger: 'automatic',
      rules: approval,
    });
    expect(asked.verdict).toBe('needs-approval');
    expect(asked.weights.x).toBe(140);
  });

  it('blocks an automatic region evacuation that could only cross regions', () => {
    const plan = planScopeFailover({
      service: aa,
      routing: aaRouting,
      scope: { region: 'r1' },
      strategy: 'active-active',
      trigger: 'automatic',
      rules: strict,
    });
    expect(plan.verdict).toBe('blocked');
    expect(plan.weights).toEqual(aaRouting.weights);
    expect(plan.reasons).toEqual([
      'would send traffic into region r2; never_cross_region_automatically: an operator must start that failover',
      'nothing in region r1 can take traffic',
    ]);
    const manual = planScopeFailover({ service: aa, routing: aaRouting, scope: { region: 'r1' }, strategy: 'active-active', trigger: 'manual', rules: strict });
    expect(manual.verdict).toBe('ok');
    expect(manual.weights).toEqual({ a: 0, b: 0, c: 0, d: 0, x: 140 });
    expect(manual.distribution!.verdict).toBe('capacity-exhausted');
  });

  it('active-passive: fails the primary over to another zone, skipping its zone-mates', () => {
    const plan = planScopeFailover({
      service: ap,
      routing: routing({ a: 100, b: 0, c: 0, d: 0 }),
      scope: { zone: 'z1' },
      strategy: 'active-passive',
      trigger: 'automatic',
      rules: free,
    });
    expect(plan).toMatchObject({ verdict: 'ok', target: 'c', evacuated: ['a', 'b'] });
    expect(plan.weights).toEqual({ a: 0, b: 0, c: 100, d: 0 });
    expect(plan.flows).toEqual([{ from: 'a', to: 'c', share: 1 }]);
    expect(plan.reasons[0]).toBe('evacuate zone z1: a → c (other-zone, tier 1)');
  });

  it('active-passive: a zone without the primary changes no routing', () => {
    const plan = planScopeFailover({
      service: ap,
      routing: routing({ a: 100, b: 0, c: 0, d: 0 }),
      scope: { zone: 'z2' },
      strategy: 'active-passive',
      trigger: 'automatic',
      rules: free,
    });
    expect(plan.verdict).toBe('ok');
    expect(plan.changes).toEqual([]);
    expect(plan.reasons).toEqual(['primary a is outside zone z2; backups lost with it: c']);
  });

  it('active-passive: region evacuation under the rules', () => {
    const r = routing({ a: 100, b: 0, c: 0, d: 0 });
    const blocked = planScopeFailover({ service: ap, routing: r, scope: { region: 'r1' }, strategy: 'active-passive', trigger: 'automatic', rules: strict });
    expect(blocked.verdict).toBe('blocked');
    expect(blocked.weights).toEqual(r.weights);
    const asked = planScopeFailover({ service: ap, routing: r, scope: { region: 'r1' }, strategy: 'active-passive', trigger: 'manual', rules: approval });
    expect(asked).toMatchObject({ verdict: 'needs-approval', target: 'd' });
    const none = planScopeFailover({
      service: ap,
      routing: r,
      scope: { region: 'r1' },
      strategy: 'active-passive',
      trigger: 'manual',
      rules: free,
      unhealthy: ['d'],
    });
    expect(none.verdict).toBe('no-target');
    expect(planScopeFailover({ service: ap, routing: r, scope: { zone: 'nope' }, strategy: 'active-passive', trigger: 'manual', rules: free }).verdict).toBe(
      'no-target',
    );
  });

  it('distributeWithRules leaves an allowed distribution alone', () => {
    const ruled = distributeWithRules({
      service: aa,
      routing: aaRouting,
      unhealthy: ['a'],
      trigger: 'automatic',
      rules: strict,
      options: { maxLoadFactor: 2 },
    });
    expect(ruled.confinedTo).toBeUndefined();
    expect(ruled.blocked).toBe(false);
    expect(ruled.distribution.weights).toEqual({ a: 0, b: 140, c: 140, d: 70, x: 0 });
  });
});
