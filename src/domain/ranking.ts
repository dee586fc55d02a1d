import { z } from 'zod';
import type { ServiceConfig } from './config';
import { rankCandidates, type Candidate } from './plan';

/**
 * Adaptive ranking: a score per destination learned from its own history (probe success,
 * latency level and jitter, outcomes of failovers to it). State is plain JSON so it can live in
 * workflow state; `update` is a pure reducer taking the time as a parameter. Formulas and the
 * reasons for each choice: docs/ranking.md.
 */

export const rankingParamsSchema = z.lazy(() =>
  z.strictObject({
    /** Probe history loses half its weight over this long. */
    successHalfLifeMs: z
      .number()
      .positive()
      .default(10 * 60_000),
    /** Failover outcomes lose half their weight over this long. */
    outcomeHalfLifeMs: z
      .number()
      .positive()
      .default(7 * 24 * 3_600_000),
    /** EWMA smoothing for latency mean and variance, per sample. */
    latencyAlpha: z.number().gt(0).max(1).default(0.1),
    /** Latency is degraded above mean + k·stddev of the destination's own baseline … */
    degradedK: z.number().min(0).default(3),
    /** … and above this absolute floor, so a very steady baseline does not flag noise. */
    degradedFloorMs: z.number().min(0).default(50),
    /** Samples before the baseline is trusted for the relative threshold. */
    minBaselineSamples: z.number().int().min(1).default(10),
    /** Consecutive degraded samples after which the new level becomes the baseline. */
    rebaselineAfter: z.number().int().min(1).default(30),
    /** Latency at which the latency component is 0.5. */
    latencyRefMs: z.number().positive().default(100),
    weights: z
      .strictObject({
        success: z.number().min(0).default(0.5),
        latency: z.number().min(0).default(0.2),
        stability: z.number().min(0).default(0.1),
        outcomes: z.number().min(0).default(0.2),
      })
      .prefault({})
      .refine((w) => Math.abs(w.success + w.latency + w.stability + w.outcomes - 1) < 1e-9, { message: 'expected weights summing to 1' }),
    /** Scores in the same band of this width count as equal; proximity decides between them. */
    tieBand: z.number().positive().max(1).default(0.02),
  }),
);
export type RankingParams = z.output<typeof rankingParamsSchema>;
export const defaultRankingParams: RankingParams = rankingParamsSchema.parse({});

export interface DestinationRecord {
  /** Exponentially decayed counts of good and all probes, as of `at`. */
  probes: { good: number; total: number; at: number | null };
  /** Exponentially weighted latency mean and variance of good probes (the baseline). */
  latency: { mean: number | null; variance: number; samples: number; degradedStreak: number; lastDegraded: boolean };
  /** Exponentially decayed counts of failovers to this destination that held, or were rolled back, as of `at`. */
  failovers: { success: number; rollback: number; at: number | null };
}

export interface RankingState {
  version: 1;
  destinations: Record<string, DestinationRecord>;
}

export type RankingObservation =
  { destination: string; kind: 'probe'; up: boolean; latencyMs?: number } | { destination: string; kind: 'failover'; outcome: 'success' | 'rollback' };

export function emptyRanking(): RankingState {
  return { version: 1, destinations: {} };
}

export function emptyRecord(): DestinationRecord {
  return {
    probes: { good: 0, total: 0, at: null },
    latency: { mean: null, variance: 0, samples: 0, degradedStreak: 0, lastDegraded: false },
    failovers: { success: 0, rollback: 0, at: null },
  };
}

/** value · 2^(−elapsed / halfLife); time running backwards counts as no time. */
export function decay(value: number, elapsedMs: number, halfLifeMs: number): number {
  return value * Math.pow(2, -Math.max(0, elapsedMs) / halfLifeMs);
}

/** One step of the exponentially weighted mean and variance (Welford-style incremental form). */
export function ewmaStep(mean: number | null, variance: number, x: number, alpha: number): { mean: number; variance: number } {
  if (mean === null) return { mean: x, variance: 0 };
  const diff = x - mean;
  const incr = alpha * diff;
  return { mean: mean + incr, variance: (1 - alpha) * (variance + diff * incr) };
}

/** Latency above which a sample is degraded for this destination; undefined while its baseline is too young. */
export function latencyThreshold(rec: DestinationRecord | undefined, params: RankingParams = defaultRankingParams): number | undefined {
  if (!rec || rec.latency.mean === null || rec.latency.samples < params.minBaselineSamples) return undefined;
  return Math.max(params.degradedFloorMs, rec.latency.mean + params.degradedK * Math.sqrt(rec.latency.variance));
}

export function isLatencyDegraded(rec: DestinationRecord | undefined, latencyMs: number, params: RankingParams = defaultRankingParams): boolean {
  const t = latencyThreshold(rec, params);
  return t !== undefined && latencyMs > t;
}

/** Pure reducer: the state after one observation at time `now` (ms). The input state is not changed. */
export function update(state: RankingState, obs: RankingObservation, now: number, params: RankingParams = defaultRankingParams): RankingState {
  const prev = state.destinations[obs.destination] ?? emptyRecord();
  let rec: DestinationRecord;
  if (obs.kind === 'probe') {
    const k = prev.probes.at === null ? 1 : decay(1, now - prev.probes.at, params.successHalfLifeMs);
    const probes = { good: prev.probes.good * k + (obs.up ? 1 : 0), total: prev.probes.total * k + 1, at: Math.max(now, prev.probes.at ?? now) };
    let latency = prev.latency;
    if (obs.up && obs.latencyMs !== undefined && Number.isFinite(obs.latencyMs)) {
      const degraded = isLatencyDegraded(prev, obs.latencyMs, params);
      const streak = degraded ? prev.latency.degradedStreak + 1 : 0;
      // A degraded sample stays out of the baseline until the shift has lasted long enough to be the new normal.
      const fold = !degraded || streak >= params.rebaselineAfter;
      const next = fold
        ? ewmaStep(prev.latency.mean, prev.latency.variance, obs.latencyMs, params.latencyAlpha)
        : { mean: prev.latency.mean, variance: prev.latency.variance };
      latency = { mean: next.mean, variance: next.variance, samples: prev.latency.samples + (fold ? 1 : 0), degradedStreak: streak, lastDegraded: degraded };
    }
    rec = { ...prev, probes, latency };
  } else {
    const k = prev.failovers.at === null ? 1 : decay(1, now - prev.failovers.at, params.outcomeHalfLifeMs);
    rec = {
      ...prev,
      failovers: {
        success: prev.failovers.success * k + (obs.outcome === 'success' ? 1 : 0),
        rollback: prev.failovers.rollback * k + (obs.outcome === 'rollback' ? 1 : 0),
        at: Math.max(now, prev.failovers.at ?? now),
      },
    };
  }
  return { ...state, destinations: { ...state.destinations, [obs.destination]: rec } };
}

export interface ScoreBreakdown {
  score: number;
  /** Laplace-smoothed decayed probe success rate. */
  success: number;
  latency: number;
  stability: number;
  outcomes: number;
  /** Effective number of probes behind `success` after decay. */
  evidence: number;
}

/** The destination's score (0..1) at time `now`; one with no history scores 0.5 on every component. */
export function scoreOf(state: RankingState, id: string, now: number, params: RankingParams = defaultRankingParams): ScoreBreakdown {
  const rec = state.destinations[id] ?? emptyRecord();
  const pk = rec.probes.at === null ? 1 : decay(1, now - rec.probes.at, params.successHalfLifeMs);
  const good = rec.probes.good * pk;
  const total = rec.probes.total * pk;
  const fk = rec.failovers.at === null ? 1 : decay(1, now - rec.failovers.at, params.outcomeHalfLifeMs);
  const ok = rec.failovers.success * fk;
  const bad = rec.failovers.rollback * fk;
  const ref = params.latencyRefMs;
  const success = (good + 1) / (total + 2);
  const latency = rec.latency.mean === null ? 0.5 : ref / (ref + rec.latency.mean);
  const stability = rec.latency.mean === null ? 0.5 : ref / (ref + Math.sqrt(rec.latency.variance));
  const outcomes = (ok + 1) / (ok + bad + 2);
  const w = params.weights;
  const score = w.success * success + w.latency * latency + w.stability * stability + w.outcomes * outcomes;
  return { score, success, latency, stability, outcomes, evidence: total };
}

export interface RankedCandidate extends Candidate {
  score: number;
  breakdown: ScoreBreakdown;
}

/**
 * Backup candidates for `sourceId`, best score first. Scores in the same tie band keep the
 * proximity order of plan.ts (same zone, other zone, other region, tier), so with no history
 * the order is exactly the proximity order.
 */
export function rankBackups(
  service: ServiceConfig,
  sourceId: string,
  state: RankingState,
  now: number,
  opts: { down?: ReadonlySet<string>; params?: RankingParams } = {},
): RankedCandidate[] {
  const params = opts.params ?? defaultRankingParams;
  const band = (s: number) => Math.floor(s / params.tieBand + 1e-9);
  return rankCandidates(service, sourceId, opts.down ?? new Set())
    .map((c, i) => {
      const breakdown = scoreOf(state, c.id, now, params);
      return { c: { ...c, score: breakdown.score, breakdown }, i };
    })
    .sort((a, b) => band(b.c.score) - band(a.c.score) || a.i - b.i)
    .map(({ c }) => c);
}
