import { describe, expect, it } from 'vitest';
import { policySchema, serviceSchema, type ServiceConfig } from '../../src/domain/config';
import { formatDecisions, formatPlan, formatSimulation, parseScenario, planFailover, simulate, type SimDecision } from '../../src/domain/simulate';
import { InvalidInputError } from '../../src/domain/validation';

const tcp = { type: 'tcp', host: 'h', port: 1 };
function service(name: string, dests: Array<[id: string, zone: string, region: string, tier: number, weight?: number]>): ServiceConfig {
  return serviceSchema.parse({
    name,
    router: { type: 'haproxy', socket: '/x', backend: 'b' },
    destinations: dests.map(([id, zone, region, tier, weight]) => ({ id, zone, region, tier, weight: weight ?? 100, probe: tcp })),
  });
}
const policy = (p: Record<string, unknown>) => policySchema.parse(p);
const brief = (d: SimDecision) => [d.atMs, d.action, d.from ?? d.destination ?? '', d.to ?? '', d.weights, d.generation];

// Active-passive: a (primary) and b in region r1, c in r2 on tier 1.
const ap = service('orders', [
  ['a', 'z1', 'r1', 0],
  ['b', 'z2', 'r1', 0],
  ['c', 'z3', 'r2', 1],
]);
// Active-active: three in r1 on tier 0 (c half size), x in r2 on tier 1.
const aa = service('fanout', [
  ['a', 'z1', 'r1', 0],
  ['b', 'z2', 'r1', 0],
  ['c', 'z3', 'r1', 0, 50],
  ['x', 'z9', 'r2', 1],
]);

describe('scenario validation', () => {
  const p = policy({});
  const problems = (raw: unknown): string[] => {
    try {
      parseScenario(raw, ap, p);
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidInputError);
      return (err as InvalidInputError).problems;
    }
    throw new Error('expected the scenario to be rejected');
  };

  it('accepts the short array form and fills defaults', () => {
    expect(parseScenario([{ at: '10s', destination: 'a', event: 'down' }], ap, p)).toEqual({
      events: [{ at: '10s', destination: 'a', event: 'down' }],
      baselineLatencyMs: 10,
    });
  });

  it('names every bad field, its value and what was expected', () => {
    const found = problems([
      { at: 'soon', destination: 'a', event: 'down' },
      { at: '20s', destination: 'b', event: 'degrade' },
      { at: '30s', destination: 'b', event: 'explode' },
      { at: '40s', destination: 'a', event: 'down', latencyMs: 5 },
      { at: '50s', destination: 'a', event: 'up', colour: 'red' },
    ]);
    expect(found.slice(0, 4)).toEqual([
      'scenario.events[0].at: expected a duration with a unit, such as "500ms", "30s" or "5m" (got "soon")',
      'scenario.events[1].latencyMs: expected the degraded latency in ms for a "degrade" event',
      'scenario.events[2].event: Invalid option: expected one of "down"|"up"|"degrade" (got "explode")',
      'scenario.events[3].latencyMs: a "down" event has no latency; use "degrade" for a slow destination (got 5)',
    ]);
    expect(found[4]).toBe('scenario.events[4].colour: unknown key');
    expect(found).toHaveLength(5);
  });

  it('names destinations the service does not have, and too long a run', () => {
    expect(problems({ events: [{ at: '1s', destination: 'zz', event: 'down' }], routing: { qq: 1 }, duration: '200000s' })).toEqual([
      'scenario.events[0].destination: no destination "zz" in service orders (has a, b, c)',
      'scenario.routing.qq: no destination "qq" in service orders (has a, b, c)',
      'scenario.duration: expected at most 100000 detection intervals of 1s (got "200000s")',
    ]);
  });
});

describe('simulation (active-passive)', () => {
  it('produces the exact decisions for a scripted outage and return', () => {
    const r = simulate({
      service: ap,
      policy: policy({
        failover_detection: { failure_threshold: 3, recovery_threshold: 2, cooldown: '5s' },
        recovery_management: { automatic_recovery: true },
      }),
      scenario: {
        events: [
          { at: '2s', destination: 'a', event: 'down' },
          { at: '10s', destination: 'a', event: 'up' },
        ],
        duration: '20s',
      },
    });
    expect(r.ticks).toBe(21);
    expect(r.decisions.map(brief)).toEqual([
      // Probes fail at 2, 3, 4 s: the third crosses failure_threshold.
      [4000, 'failover', 'a', 'b', { a: 0, b: 100, c: 0 }, 2],
      // Good at 10, 11, 12 s: two in a row, and the 6-probe window back at 0.5.
      [12_000, 'recovery', 'b', 'a', { a: 100, b: 0, c: 0 }, 3],
    ]);
    expect(r.decisions[0]!.why).toMatch(/^a down: 3 consecutive failed probes \(threshold 3\).*; → b \(other-zone, tier 0\)$/);
    expect(r.decisions[1]!.why).toMatch(/^a recovered: /);
    expect(r.failovers).toBe(1);
    expect(r.routing).toEqual({ generation: 3, weights: { a: 100, b: 0, c: 0 } });
    expect(r.ranking.destinations.b!.failovers.success).toBe(1);
  });

  it('with recovery_strategy intelligent keeps traffic on a same-tier backup, and fails back to a better tier', () => {
    const outage = {
      events: [
        { at: '2s', destination: 'a', event: 'down' },
        { at: '10s', destination: 'a', event: 'up' },
      ],
      duration: '20s',
    };
    const p = policy({
      failover_detection: { failure_threshold: 3, recovery_threshold: 2, cooldown: '5s' },
      recovery_management: { automatic_recovery: true, recovery_strategy: 'intelligent' },
    });
    const same = simulate({ service: ap, policy: p, scenario: outage });
    expect(same.decisions.filter((d) => d.action === 'failover' || d.action === 'recovery').map(brief)).toEqual([
      [4000, 'failover', 'a', 'b', { a: 0, b: 100, c: 0 }, 2],
    ]);
    expect(same.decisions.at(-1)!.why).toMatch(/recovery_strategy intelligent: a is in no better tier than b, so traffic stays on b/);
    const tiered = service('orders', [
      ['a', 'z1', 'r1', 0],
      ['c', 'z3', 'r2', 1],
    ]);
    const back = simulate({ service: tiered, policy: p, scenario: outage });
    expect(back.decisions.filter((d) => d.action === 'failover' || d.action === 'recovery').map((d) => [d.action, d.to])).toEqual([
      ['failover', 'c'],
      ['recovery', 'a'],
    ]);
  });

  const flapping = [0, 1, 2, 3, 4].flatMap((i) => [
    { at: `${2 + i * 8}s`, destination: 'a', event: 'down' },
    { at: `${6 + i * 8}s`, destination: 'a', event: 'up' },
  ]);
  const flapPolicy = (cooldown: string) =>
    policy({ failover_detection: { failure_threshold: 3, recovery_threshold: 2, cooldown }, recovery_management: { automatic_recovery: true } });

  it('keeps a flapping primary to one failover with the cooldown', () => {
    const r = simulate({ service: ap, policy: flapPolicy('60s'), scenario: { events: flapping, duration: '50s' } });
    expect(r.failovers).toBe(1);
    expect(r.decisions.map((d) => [d.atMs / 1000, d.action])).toEqual([
      [4, 'failover'],
      [8, 'none'],
      [12, 'none'],
      [16, 'none'],
      [20, 'none'],
      [24, 'none'],
      [28, 'none'],
      [32, 'none'],
      [36, 'none'],
      [40, 'none'],
    ]);
    expect(r.decisions[1]!.why).toMatch(/within the cooldown/);
    expect(r.decisions[2]!.why).toMatch(/carries no traffic/);
    expect(r.routing.weights).toEqual({ a: 0, b: 100, c: 0 });
  });

  it('without a cooldown the same input fails over and back every time', () => {
    const r = simulate({ service: ap, policy: flapPolicy('1s'), scenario: { events: flapping, duration: '50s' } });
    expect(r.failovers).toBe(5);
    expect(r.decisions.filter((d) => d.action === 'recovery')).toHaveLength(5);
  });

  it("fails over on latency degraded against the destination's own learned baseline", () => {
    const r = simulate({
      service: ap,
      policy: policy({ failover_detection: { health_threshold: 0.75 } }),
      scenario: { events: [{ at: '20s', destination: 'a', event: 'degrade', latencyMs: 400 }], duration: '30s' },
    });
    // 400 ms is under quality.max_latency (500 ms) but far above a's 10 ms baseline (threshold: the 50 ms floor).
    expect(r.decisions.map(brief)).toEqual([[23_000, 'failover', 'a', 'b', { a: 0, b: 100, c: 0 }, 2]]);
    expect(r.decisions[0]!.why).toMatch(/^a degraded: .*bound 50ms/);
    expect(r.health.a).toBe('degraded');
  });

  it('refuses an automatic cross-region failover when the rule forbids it, and reports redundancy', () => {
    const r = simulate({
      service: ap,
      policy: policy({ failover_execution: { never_cross_region_automatically: true } }),
      scenario: {
        events: [
          { at: '0s', destination: 'b', event: 'down' },
          { at: '5s', destination: 'a', event: 'down' },
        ],
        duration: '10s',
      },
    });
    expect(r.decisions.map((d) => [d.atMs, d.action, d.destination ?? ''])).toEqual([
      [2000, 'none', 'b'],
      [7000, 'blocked', 'a'],
      [7000, 'redundancy', ''],
    ]);
    expect(r.decisions[1]!.why).toMatch(/c \(other-region\): would send traffic into region r2; never_cross_region_automatically/);
    expect(r.decisions[2]!.why).toBe(
      'below-level: a carries traffic but is unhealthy; counted against c; 0 healthy backup(s), redundancy_level 1; tier 0 has no healthy destination (2 configured)',
    );
    expect(r.routing.generation).toBe(1);
  });

  it('asks for approval instead of crossing when approval_for_cross_region is set', () => {
    const r = simulate({
      service: ap,
      policy: policy({ failover_execution: { approval_for_cross_region: true } }),
      scenario: {
        events: [
          { at: '0s', destination: 'b', event: 'down' },
          { at: '0s', destination: 'a', event: 'down' },
        ],
        duration: '5s',
      },
    });
    expect(r.decisions.filter((d) => d.action !== 'redundancy').map(brief)).toEqual([
      [2000, 'needs-approval', 'a', 'c', { a: 100, b: 0, c: 0 }, 1],
      [2000, 'none', 'b', '', { a: 100, b: 0, c: 0 }, 1],
    ]);
  });

  it('chooses by learned score with target_selection: intelligent', () => {
    const three = service('s3', [
      ['a', 'z1', 'r1', 0],
      ['b', 'z1', 'r1', 0],
      ['c', 'z2', 'r1', 0],
    ]);
    // b (same zone as a) flaps until 26 s, then is steady and healthy again well before a fails; c never fails.
    const events = Array.from({ length: 14 }, (_, i) => ({ at: `${i * 2}s`, destination: 'b', event: i % 2 === 0 ? 'down' : 'up' }));
    events.push({ at: '40s', destination: 'a', event: 'down' });
    const run = (targetSelection: string) =>
      simulate({
        service: three,
        policy: policy({ failover_execution: { target_selection: targetSelection } }),
        scenario: { events, duration: '45s' },
      }).decisions.find((d) => d.action === 'failover')!;
    expect(run('proximity').to).toBe('b');
    const smart = run('intelligent');
    expect(smart.to).toBe('c');
    expect(smart.why).toMatch(/→ c \(score 0\.\d{3}, other-zone, tier 0\)/);
  });
});

describe('simulation (active-active)', () => {
  it('ejects, holds during the cooldown, then slow-starts the destination back', () => {
    const r = simulate({
      service: aa,
      policy: policy({
        failover_detection: { failure_threshold: 2, recovery_threshold: 2, cooldown: '10s' },
        failover_execution: { failover_strategy: 'active-active' },
        redundancy_management: { slow_start_steps: 3, max_load_factor: 2 },
      }),
      scenario: [
        { at: '1s', destination: 'b', event: 'down' },
        { at: '5s', destination: 'b', event: 'up' },
      ],
    });
    expect(r.decisions.map(brief)).toEqual([
      [2000, 'rebalance', 'b', '', { a: 167, b: 0, c: 83, x: 0 }, 2],
      [7000, 'hold', 'b', '', { a: 167, b: 0, c: 83, x: 0 }, 2],
      // Back at 1/3 of its capacity: 33.3 of a 183.3 tier carrying 250.
      [12_000, 'return', 'b', 'b', { a: 136, b: 46, c: 68, x: 0 }, 3],
      [13_000, 'slow-start', '', '', { a: 115, b: 77, c: 58, x: 0 }, 4],
      [14_000, 'slow-start', '', '', { a: 100, b: 100, c: 50, x: 0 }, 5],
    ]);
    expect(r.decisions[1]!.why).toBe('b recovered 5s after leaving rotation; cooldown 10s keeps it out until +12s');
    expect(r.failovers).toBe(1);
  });

  it('keeps flapping to one ejection per cooldown', () => {
    const events = Array.from({ length: 10 }, (_, i) => ({ at: `${1 + i * 4}s`, destination: 'b', event: i % 2 === 0 ? 'down' : 'up' }));
    const settings = { failover_execution: { failover_strategy: 'active-active' }, redundancy_management: { max_load_factor: 2 } };
    const input = {
      service: aa,
      policy: policy({ ...settings, failover_detection: { failure_threshold: 2, recovery_threshold: 2, cooldown: '60s' } }),
      scenario: { events, duration: '45s' },
    };
    const r = simulate(input);
    expect(r.failovers).toBe(1);
    expect(r.decisions.map((d) => d.action)).toEqual(['rebalance', 'hold', 'none', 'hold', 'none', 'hold', 'none', 'hold', 'none', 'hold']);
    expect(r.decisions.every((d) => d.generation === 2)).toBe(true);
    expect(r.decisions[1]!.why).toBe('b recovered 5s after leaving rotation; cooldown 1m00s keeps it out until +1m02s');
    const noCooldown = simulate({
      ...input,
      policy: policy({ ...settings, failover_detection: { failure_threshold: 2, recovery_threshold: 2, cooldown: '1s' } }),
    });
    expect(noCooldown.failovers).toBe(5);
    expect(noCooldown.routing.generation).toBe(11);
  });

  it('stays in the region while a cross-region spill waits for approval', () => {
    const r = simulate({
      service: aa,
      policy: policy({
        failover_detection: { failure_threshold: 2 },
        failover_execution: { failover_strategy: 'active-active', approval_for_cross_region: true },
      }),
      scenario: { events: [{ at: '1s', destination: 'b', event: 'down' }], duration: '5s' },
    });
    expect(r.decisions.map(brief)).toEqual([
      [2000, 'needs-approval', 'b', '', { a: 140, b: 0, c: 70, x: 0 }, 2],
      [2000, 'redundancy', '', '', { a: 140, b: 0, c: 70, x: 0 }, 2],
    ]);
    expect(r.decisions[0]!.why).toMatch(/approval_for_cross_region: waits for approval; meanwhile kept inside region r1/);
    expect(r.decisions[1]!.why).toBe('at-risk: losing a would exhaust capacity (short by 40)');
  });
});

describe('formatting', () => {
  it('prints one readable line per decision', () => {
    const r = simulate({
      service: ap,
      policy: policy({ failover_detection: { cooldown: '5s' }, recovery_management: { automatic_recovery: true } }),
      scenario: { events: [{ at: '2s', destination: 'a', event: 'down' }], duration: '6s' },
    });
    const lines = formatDecisions(r.decisions);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ {5}\+4s {2}failover {7}a → b {12}\[a=0 b=100 c=0\] gen 2 — a down: /);
    const text = formatSimulation(r);
    expect(text.split('\n')[0]).toBe('simulation of orders (active-passive), 7 ticks every 1s: 1 failover(s)');
    expect(text.split('\n').at(-1)).toBe('final: [a=0 b=100 c=0] gen 2; health a=down b=up c=up');
  });
});

describe('dry-run failover plan', () => {
  const p = policy({});
  const routing = { generation: 3, weights: { a: 100, b: 0, c: 0 } };

  it('lists every gradual step with weights and expected load, changing nothing', () => {
    const before = JSON.stringify(routing);
    const plan = planFailover({ service: ap, policy: p, routing, probes: { a: { up: true }, b: { up: true }, c: { up: true } } });
    expect(JSON.stringify(routing)).toBe(before);
    expect(plan).toMatchObject({ verdict: 'ok', source: 'a', target: 'b', emergency: false });
    expect(plan.steps.map((s) => [s.percent, s.weights])).toEqual([
      [25, { a: 75, b: 25, c: 0 }],
      [50, { a: 50, b: 50, c: 0 }],
      [100, { a: 0, b: 100, c: 0 }],
    ]);
    expect(plan.steps[0]!.destinations.find((d) => d.id === 'b')).toEqual({
      id: 'b',
      up: true,
      weight: 25,
      share: 0.25,
      load: 25,
      capacity: 100,
      utilization: 0.25,
    });
    expect(plan.changes).toEqual([
      { id: 'a', from: 100, to: 0 },
      { id: 'b', from: 0, to: 100 },
    ]);
    expect(formatPlan(plan).split('\n').slice(0, 4)).toEqual([
      'plan for orders (active-passive): ok, a → b',
      '  now: [a=100 b=0 c=0] gen 3',
      '  step 1 (25%): [a=75 b=25 c=0]',
      '      a                up   weight  75  share    75%  load 75/100 (75%)',
    ]);
  });

  it('takes the emergency path in one step when the source is down', () => {
    const plan = planFailover({ service: ap, policy: p, routing, probes: { a: { up: false }, b: { up: true }, c: { up: true } } });
    expect(plan.emergency).toBe(true);
    expect(plan.steps.map((s) => s.weights)).toEqual([{ a: 0, b: 100, c: 0 }]);
    expect(plan.reasons).toEqual(['a is down: emergency path, no gradual steps']);
  });

  it('refuses a target that is down or unknown, and counts a destination without a probe as down', () => {
    const down = planFailover({ service: ap, policy: p, routing, probes: { a: { up: true }, b: { up: false }, c: { up: true } }, to: 'b' });
    expect(down.verdict).toBe('blocked');
    expect(down.reasons).toEqual(['target b is down (probe failed); refusing to route traffic to it']);
    expect(down.steps).toEqual([]);
    const unknown = planFailover({ service: ap, policy: p, routing, probes: { a: { up: true }, b: { up: true } }, to: 'zz' });
    expect(unknown.reasons).toEqual(['c: no probe result, counted as down', 'to: no destination "zz" in service orders (has a, b, c)']);
    const none = planFailover({ service: ap, policy: p, routing, probes: { a: { up: true }, b: { up: false }, c: { up: false } } });
    expect(none.verdict).toBe('no-target');
  });

  it('plans active-active: a down destination moves at once; a return is stepped', () => {
    const aaPolicy = policy({ failover_execution: { failover_strategy: 'active-active' } });
    const all = { a: { up: true }, b: { up: true }, c: { up: true }, x: { up: true } };
    const out = planFailover({
      service: aa,
      policy: aaPolicy,
      routing: { generation: 3, weights: { a: 100, b: 100, c: 50, x: 0 } },
      probes: { ...all, b: { up: false } },
    });
    expect(out.emergency).toBe(true);
    expect(out.steps.map((s) => [s.percent, s.weights])).toEqual([[100, { a: 140, b: 0, c: 70, x: 40 }]]);
    expect(out.steps[0]!.destinations.map((d) => Math.round(d.utilization * 100))).toEqual([140, 0, 140, 40]);
    const back = planFailover({ service: aa, policy: aaPolicy, routing: { generation: 4, weights: { a: 140, b: 0, c: 70, x: 40 } }, probes: all });
    expect(back.emergency).toBe(false);
    expect(back.steps.map((s) => s.weights)).toEqual([
      { a: 130, b: 25, c: 65, x: 30 },
      { a: 120, b: 50, c: 60, x: 20 },
      { a: 100, b: 100, c: 50, x: 0 },
    ]);
    const same = planFailover({ service: aa, policy: aaPolicy, routing: { generation: 5, weights: { a: 100, b: 100, c: 50, x: 0 } }, probes: all });
    expect(same.verdict).toBe('nothing-to-do');
  });
});
