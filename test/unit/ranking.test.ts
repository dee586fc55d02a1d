import { describe, expect, it } from 'vitest';
import { serviceSchema } from '../../src/domain/config';
import { rankCandidates } from '../../src/domain/plan';
import {
  decay,
  emptyRanking,
  ewmaStep,
  isLatencyDegraded,
  latencyThreshold,
  rankBackups,
  rankingParamsSchema,
  scoreOf,
  update,
  type RankingObservation,
  type RankingState,
} from '../../src/domain/ranking';
import { InvalidInputError, parseOrThrow } from '../../src/domain/validation';

const params = rankingParamsSchema.parse({ latencyAlpha: 0.5, minBaselineSamples: 3, degradedK: 3, degradedFloorMs: 0, rebaselineAfter: 3 });

function feed(state: RankingState, obs: RankingObservation[], start = 0, step = 1000, p = params): RankingState {
  return obs.reduce((s, o, i) => update(s, o, start + i * step, p), state);
}
const probe = (destination: string, up: boolean, latencyMs?: number): RankingObservation => ({
  destination,
  kind: 'probe',
  up,
  ...(latencyMs !== undefined ? { latencyMs } : {}),
});

describe('ranking math', () => {
  it('EWMA mean and variance follow the incremental (Welford-style) form', () => {
    let s = ewmaStep(null, 0, 10, 0.5);
    expect(s).toEqual({ mean: 10, variance: 0 });
    s = ewmaStep(s.mean, s.variance, 20, 0.5);
    expect(s).toEqual({ mean: 15, variance: 25 });
    s = ewmaStep(s.mean, s.variance, 30, 0.5);
    expect(s.mean).toBeCloseTo(22.5);
    expect(s.variance).toBeCloseTo(68.75);
    const state = feed(emptyRanking(), [probe('a', true, 10), probe('a', true, 20), probe('a', true, 30)]);
    expect(state.destinations.a!.latency).toMatchObject({ mean: 22.5, samples: 3 });
    expect(state.destinations.a!.latency.variance).toBeCloseTo(68.75);
  });

  it('ignores latency of failed probes', () => {
    const state = feed(emptyRanking(), [probe('a', true, 10), probe('a', false, 5000)]);
    expect(state.destinations.a!.latency.mean).toBe(10);
    expect(state.destinations.a!.probes.total).toBeCloseTo(2, 1);
  });

  it('decays probe history exponentially with its half-life, so recent probes count more', () => {
    expect(decay(8, 60_000, 60_000)).toBe(4);
    expect(decay(8, -5, 60_000)).toBe(8);
    const p = rankingParamsSchema.parse({ successHalfLifeMs: 60_000 });
    // One failure, then one success a half-life later: good 1, total 0.5 + 1.
    const state = feed(emptyRanking(), [probe('a', false), probe('a', true, 10)], 0, 60_000, p);
    expect(state.destinations.a!.probes).toEqual({ good: 1, total: 1.5, at: 60_000 });
    // Laplace smoothing: (good + 1) / (total + 2).
    expect(scoreOf(state, 'a', 60_000, p).success).toBeCloseTo(2 / 3.5);
    // With no new probes the evidence fades and the estimate returns toward 0.5.
    const later = scoreOf(state, 'a', 60_000 + 600_000, p);
    expect(later.evidence).toBeCloseTo(1.5 / 1024);
    expect(later.success).toBeCloseTo(0.5, 2);
  });

  it('weighs failover outcomes: successes raise, rollbacks lower, both fade', () => {
    const p = rankingParamsSchema.parse({ outcomeHalfLifeMs: 1000 });
    const outcome = (o: 'success' | 'rollback'): RankingObservation => ({ destination: 'a', kind: 'failover', outcome: o });
    const s = [outcome('success'), outcome('success'), outcome('rollback')].reduce((st, o) => update(st, o, 0, p), emptyRanking());
    expect(scoreOf(s, 'a', 0, p).outcomes).toBeCloseTo(3 / 5);
    const bad = update(emptyRanking(), outcome('rollback'), 0, p);
    expect(scoreOf(bad, 'a', 0, p).outcomes).toBeCloseTo(1 / 3);
    expect(scoreOf(bad, 'a', 10_000, p).outcomes).toBeCloseTo(0.5, 3);
  });

  it('combines components with the documented weights; no history scores 0.5', () => {
    expect(scoreOf(emptyRanking(), 'x', 0).score).toBeCloseTo(0.5);
    const state = feed(
      emptyRanking(),
      Array.from({ length: 5 }, () => probe('a', true, 100)),
    );
    const b = scoreOf(state, 'a', 4000);
    // Steady 100 ms: latency 100/(100+100), no jitter: stability 1.
    expect(b.latency).toBeCloseTo(0.5);
    expect(b.stability).toBeCloseTo(1);
    expect(b.score).toBeCloseTo(0.5 * b.success + 0.2 * 0.5 + 0.1 * 1 + 0.2 * 0.5);
    expect(() => parseOrThrow(rankingParamsSchema, { weights: { success: 0.9 } }, 'ranking params')).toThrow(InvalidInputError);
    expect(() => parseOrThrow(rankingParamsSchema, { weights: { success: 0.9 } }, 'ranking params')).toThrow(/weights: expected weights summing to 1/);
  });

  it("flags latency relative to the destination's own baseline, above an absolute floor", () => {
    // Baseline alternates 10/30 ms: mean ≈ 20, stddev ≈ 10.
    const jittery = feed(
      emptyRanking(),
      [10, 30, 10, 30, 10, 30, 10, 30].map((l) => probe('a', true, l)),
    );
    const rec = jittery.destinations.a!;
    const t = latencyThreshold(rec, params)!;
    expect(t).toBeCloseTo(rec.latency.mean! + 3 * Math.sqrt(rec.latency.variance));
    expect(isLatencyDegraded(rec, t + 1, params)).toBe(true);
    expect(isLatencyDegraded(rec, t - 1, params)).toBe(false);
    // A very steady baseline: the floor keeps noise from counting.
    const floor = rankingParamsSchema.parse({ ...params, degradedFloorMs: 50 });
    const steady = feed(
      emptyRanking(),
      [10, 10, 10, 10].map((l) => probe('a', true, l)),
      0,
      1000,
      floor,
    );
    expect(latencyThreshold(steady.destinations.a, floor)).toBe(50);
    expect(isLatencyDegraded(steady.destinations.a, 45, floor)).toBe(false);
    expect(isLatencyDegraded(steady.destinations.a, 400, floor)).toBe(true);
    // Not before the baseline has enough samples.
    const young = feed(emptyRanking(), [probe('a', true, 10), probe('a', true, 10)]);
    expect(latencyThreshold(young.destinations.a, params)).toBeUndefined();
    expect(isLatencyDegraded(young.destinations.a, 10_000, params)).toBe(false);
  });

  it('keeps degraded samples out of the baseline until the shift has lasted rebaselineAfter samples', () => {
    const base = feed(
      emptyRanking(),
      [10, 10, 10, 10].map((l) => probe('a', true, l)),
    );
    const one = update(base, probe('a', true, 400), 10_000, params);
    expect(one.destinations.a!.latency).toMatchObject({ mean: 10, samples: 4, degradedStreak: 1, lastDegraded: true });
    const two = update(one, probe('a', true, 400), 11_000, params);
    expect(two.destinations.a!.latency.mean).toBe(10);
    const three = update(two, probe('a', true, 400), 12_000, params);
    // Third in a row (rebaselineAfter 3): the new level is learned.
    expect(three.destinations.a!.latency.mean).toBe(205);
    expect(three.destinations.a!.latency.samples).toBe(5);
    const back = update(three, probe('a', true, 10), 13_000, params);
    expect(back.destinations.a!.latency.degradedStreak).toBe(0);
  });

  it('is a pure reducer over plain JSON state', () => {
    const s0 = feed(emptyRanking(), [probe('a', true, 12), probe('b', false)]);
    const frozen = JSON.parse(JSON.stringify(s0)) as RankingState;
    Object.freeze(frozen);
    Object.values(frozen.destinations).forEach((r) => Object.freeze(r));
    const s1 = update(frozen, probe('a', true, 14), 5000, params);
    expect(frozen).toEqual(s0);
    expect(s1).not.toBe(frozen);
    expect(JSON.parse(JSON.stringify(s1))).toEqual(s1);
    expect(update(s0, probe('a', true, 14), 5000, params)).toEqual(s1);
  });
});

describe('ranking backups', () => {
  const tcp = { type: 'tcp', host: 'h', port: 1 };
  const service = serviceSchema.parse({
    name: 's',
    router: { type: 'haproxy', socket: '/x', backend: 'b' },
    destinations: [
      { id: 'src', zone: 'z1', region: 'r1', probe: tcp },
      { id: 'same', zone: 'z1', region: 'r1', probe: tcp },
      { id: 'zone', zone: 'z2', region: 'r1', probe: tcp },
      { id: 'far', zone: 'z9', region: 'r2', probe: tcp },
    ],
  });

  it('with no history, is exactly the proximity order of plan.ts', () => {
    expect(rankBackups(service, 'src', emptyRanking(), 0).map((c) => c.id)).toEqual(rankCandidates(service, 'src').map((c) => c.id));
  });

  it('puts a destination with a bad record behind healthier ones, whatever its proximity', () => {
    const obs: RankingObservation[] = [];
    for (let i = 0; i < 20; i++) obs.push(probe('same', i % 2 === 0), probe('zone', true, 20), probe('far', true, 20));
    const state = feed(emptyRanking(), obs, 0, 100);
    const ranked = rankBackups(service, 'src', state, 2000);
    expect(ranked.map((c) => c.id)).toEqual(['zone', 'far', 'same']);
    expect(ranked[0]!.score).toBeGreaterThan(ranked[2]!.score);
    const rolledBack = update(state, { destination: 'zone', kind: 'failover', outcome: 'rollback' }, 2000);
    const again = update(rolledBack, { destination: 'zone', kind: 'failover', outcome: 'rollback' }, 2000);
    expect(rankBackups(service, 'src', again, 2000).map((c) => c.id)).toEqual(['far', 'zone', 'same']);
  });

  it('treats scores within the tie band as equal and keeps proximity order between them', () => {
    const state = feed(emptyRanking(), [probe('far', true, 20), probe('zone', true, 21)], 0, 10);
    const ranked = rankBackups(service, 'src', state, 100, { down: new Set(['same']) });
    expect(Math.abs(ranked[0]!.score - ranked[1]!.score)).toBeLessThan(0.02);
    expect(ranked.map((c) => c.id)).toEqual(['zone', 'far']);
    const fine = rankingParamsSchema.parse({ tieBand: 1e-6 });
    expect(rankBackups(service, 'src', state, 100, { down: new Set(['same']), params: fine }).map((c) => c.id)).toEqual(['far', 'zone']);
  });
});
