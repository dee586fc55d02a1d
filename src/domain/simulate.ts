import { z } from 'zod';
import type { Policy, ServiceConfig } from './config';
import { decide, recoveryStrategyContext } from './detection-policy';
import { apportion, distribute, type Distribution } from './distribution';
import { durationSchema, requireMs } from './duration';
import type { ReplicationObservation } from './sync';
import { initialHealth, observe, type DestinationHealth, type HealthEvent, type HealthStatus, type HealthThresholds } from './health';
import { defaultRankingParams, emptyRanking, latencyThreshold, rankBackups, update, type RankingParams, type RankingState } from './ranking';
import { assessRedundancy, type RedundancyAssessment, type RedundancyVerdict } from './redundancy';
import { allTo, checkNotAllDown, fmtWeights, fullWeight, primaryOf, type Routing } from './routing';
import {
  chooseTarget,
  distributeWithRules,
  failoverTargets,
  tierRulesOf,
  weightChanges,
  type DistributionOptions,
  type TierRules,
  type Trigger,
  type WeightChange,
} from './tiers';
import { InvalidInputError, describeIssues } from './validation';
import { isSingleWriter, planFailover as planRunbook } from './runbook-plan';

/**
 * What-if runs of the real decision logic (health thresholds, detection policy with its cooldown,
 * tier rules, distribution, redundancy, ranking) over a scripted scenario, tick by tick at
 * `detection_interval`; and a dry-run plan for one failover. Nothing here touches a destination.
 */

const scenarioEventSchema = z
  .strictObject({
    /** Offset from the start of the run. */
    at: durationSchema,
    destination: z.string().min(1),
    /** down: probes fail; up: probes pass at baseline latency (or latencyMs); degrade: probes pass at latencyMs. */
    event: z.enum(['down', 'up', 'degrade']),
    latencyMs: z.number().min(0).optional(),
  })
  .superRefine((e, ctx) => {
    if (e.event === 'degrade' && e.latencyMs === undefined) {
      ctx.addIssue({ code: 'custom', path: ['latencyMs'], input: e.latencyMs, message: 'expected the degraded latency in ms for a "degrade" event' });
    }
    if (e.event === 'down' && e.latencyMs !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['latencyMs'], input: e.latencyMs, message: 'a "down" event has no latency; use "degrade" for a slow destination' });
    }
  });

export const scenarioSchema = z.preprocess(
  (v) => (Array.isArray(v) ? { events: v } : v),
  z.strictObject({
    events: z.array(scenarioEventSchema).max(10_000),
    /** How long to run; default: past the last event by a cooldown plus enough intervals to see recovery. */
    duration: durationSchema.optional(),
    /** Latency of a healthy probe. */
    baselineLatencyMs: z.number().min(0).default(10),
    /** Starting weights; default: active-passive on the first destination of the lowest tier, active-active as distributed. */
    routing: z.record(z.string(), z.number().int().min(0).max(256)).optional(),
  }),
);
export type ScenarioInput = z.input<typeof scenarioSchema>;
export type Scenario = z.output<typeof scenarioSchema>;

const MAX_TICKS = 100_000;

/** Validates a scenario against the service; every problem names its field. */
export function parseScenario(raw: unknown, service: ServiceConfig, policy: Policy): Scenario {
  const r = scenarioSchema.safeParse(raw, { reportInput: true });
  if (!r.success) throw new InvalidInputError('scenario', describeIssues(r.error.issues, 'scenario'));
  const ids = service.destinations.map((d) => d.id);
  const has = `(has ${ids.join(', ')})`;
  const problems: string[] = [];
  r.data.events.forEach((e, i) => {
    if (!ids.includes(e.destination))
      problems.push(`scenario.events[${i}].destination: no destination ${JSON.stringify(e.destination)} in service ${service.name} ${has}`);
  });
  for (const id of Object.keys(r.data.routing ?? {})) {
    if (!ids.includes(id)) problems.push(`scenario.routing.${id}: no destination ${JSON.stringify(id)} in service ${service.name} ${has}`);
  }
  const interval = requireMs(policy.failover_detection.detection_interval);
  if (r.data.duration !== undefined && requireMs(r.data.duration) / interval > MAX_TICKS) {
    problems.push(
      `scenario.duration: expected at most ${MAX_TICKS} detection intervals of ${policy.failover_detection.detection_interval} (got ${JSON.stringify(r.data.duration)})`,
    );
  }
  if (problems.length > 0) throw new InvalidInputError('scenario', problems);
  return r.data;
}

export type SimAction =
  | 'failover'
  | 'recovery'
  /** active-active: a destination ejected, weights spread over the rest */
  | 'rebalance'
  /** active-active: a destination back in rotation after its cooldown */
  | 'return'
  | 'slow-start'
  /** recovered, but kept out until the cooldown ends */
  | 'hold'
  | 'needs-approval'
  | 'blocked'
  | 'none'
  | 'redundancy';

export interface SimDecision {
  atMs: number;
  action: SimAction;
  destination?: string;
  from?: string;
  to?: string;
  why: string;
  weights: Record<string, number>;
  generation: number;
}

export interface SimulationResult {
  service: string;
  strategy: Policy['failover_execution']['failover_strategy'];
  intervalMs: number;
  ticks: number;
  decisions: SimDecision[];
  routing: Routing;
  health: Record<string, HealthStatus>;
  ranking: RankingState;
  /** Failovers (active-passive) or ejections (active-active) carried out. */
  failovers: number;
}

function distributionOptions(policy: Policy): DistributionOptions {
  const r = policy.redundancy_management;
  return { mode: r.load_distribution, maxEjectPercent: r.max_eject_percent, maxLoadFactor: r.max_load_factor, offeredLoad: r.offered_load };
}

/** The thresholds the detection workflow uses, from the same config keys. */
export function healthThresholdsOf(policy: Policy): HealthThresholds {
  const det = policy.failover_detection;
  return {
    failureThreshold: det.failure_threshold,
    recoveryThreshold: det.recovery_threshold,
    healthThreshold: det.health_threshold,
    maxLatencyMs: requireMs(policy.quality.max_latency),
    windowSize: Math.max(5, det.failure_threshold * 2),
  };
}

function initialRouting(service: ServiceConfig, policy: Policy, given: Record<string, number> | undefined): Routing {
  const zero = Object.fromEntries(service.destinations.map((d) => [d.id, 0]));
  if (given) return { generation: 1, weights: { ...zero, ...given } };
  if (policy.failover_execution.failover_strategy === 'active-active') {
    return { generation: 1, weights: distribute({ ...distributionOptions(policy), destinations: service.destinations }).weights };
  }
  const lowest = Math.min(...service.destinations.map((d) => d.tier));
  const first = service.destinations.find((d) => d.tier === lowest)!;
  return { generation: 1, weights: allTo({ generation: 0, weights: zero }, first.id, fullWeight(first.weight)) };
}

export interface SimulationInput {
  service: ServiceConfig;
  policy: Policy;
  /** Raw scenario (validated here) or an already parsed one. */
  scenario: unknown;
  rankingParams?: RankingParams;
}

export function simulate(input: SimulationInput): SimulationResult {
  const { service, policy } = input;
  const scenario = parseScenario(input.scenario, service, policy);
  const params = input.rankingParams ?? defaultRankingParams;
  const det = policy.failover_detection;
  const exec = policy.failover_execution;
  const strategy = exec.failover_strategy;
  const intervalMs = requireMs(det.detection_interval);
  const cooldownMs = requireMs(det.cooldown);
  const probeTimeoutMs = requireMs(det.timeout);
  const thresholds = healthThresholdsOf(policy);
  const rules = tierRulesOf(exec);
  const slowSteps = policy.redundancy_management.slow_start_steps;
  const ids = service.destinations.map((d) => d.id);
  const events = scenario.events.map((e, i) => ({ ...e, atMs: requireMs(e.at), i })).sort((a, b) => a.atMs - b.atMs || a.i - b.i);
  const lastAt = events.length > 0 ? events[events.length - 1]!.atMs : 0;
  const durationMs =
    scenario.duration !== undefined
      ? requireMs(scenario.duration)
      : Math.min(lastAt + cooldownMs + intervalMs * (thresholds.windowSize + det.recovery_threshold + slowSteps + 1), intervalMs * MAX_TICKS);
  const ticks = Math.floor(durationMs / intervalMs);

  const conditions: Record<string, { up: boolean; latencyMs: number }> = Object.fromEntries(
    ids.map((id) => [id, { up: true, latencyMs: scenario.baselineLatencyMs }]),
  );
  let health: Record<string, DestinationHealth> = Object.fromEntries(ids.map((id) => [id, initialHealth()]));
  let ranking = emptyRanking();
  let routing = initialRouting(service, policy, scenario.routing);
  const lastFailoverFrom: Record<string, number> = {};
  let failedOver: string[] = [];
  /** active-active: unhealthy destinations taken out, in the order they failed */
  let out: string[] = [];
  const returning: Record<string, number> = {};
  const decisions: SimDecision[] = [];
  let failovers = 0;
  let t = 0;

  const record = (d: Omit<SimDecision, 'atMs' | 'weights' | 'generation'>) =>
    decisions.push({ atMs: t, ...d, weights: { ...routing.weights }, generation: routing.generation });
  const apply = (weights: Record<string, number>) => {
    routing = { generation: routing.generation + 1, weights };
  };
  const unavailable = () => new Set(ids.filter((id) => health[id]!.status !== 'up'));
  const downSet = () => new Set(ids.filter((id) => health[id]!.status === 'down'));
  const intelligent = exec.target_selection === 'intelligent';

  const onPassive = (event: HealthEvent) => {
    const primary = primaryOf(routing);
    const decision = decide(event, {
      primary,
      nowMs: t,
      cooldownMs,
      lastFailoverFrom,
      automaticFailover: exec.automatic_failover,
      automaticRecovery: policy.recovery_management.automatic_recovery,
      failedOver,
      ...recoveryStrategyContext(policy.recovery_management.recovery_strategy, service),
    });
    if (decision.action === 'none') return record({ action: 'none', destination: event.destination, why: decision.reason });
    // The scenario has no replication: a resync-only recovery cannot arise here.
    if (decision.action === 'recovery' && decision.failback) {
      const dest = service.destinations.find((d) => d.id === decision.destination)!;
      apply(allTo(routing, dest.id, fullWeight(dest.weight)));
      failedOver = failedOver.filter((id) => id !== dest.id);
      return record({ action: 'recovery', destination: dest.id, ...(primary ? { from: primary } : {}), to: dest.id, why: decision.reason });
    }
    // The simulator runs active-passive decisions; active-active rebalancing is modelled elsewhere in it.
    if (decision.action !== 'failover') return record({ action: 'none', destination: event.destination, why: decision.reason });
    const from = decision.from;
    const skip = new Set([...unavailable(), from]);
    const ranked = intelligent ? rankBackups(service, from, ranking, t, { down: skip, params }) : undefined;
    const order = ranked?.map((c) => c.id);
    const options = failoverTargets(service, from, { unavailable: skip, trigger: 'automatic', rules, ...(order ? { order } : {}) });
    const choice = chooseTarget(options);
    if (!choice.target) return record({ action: 'blocked', destination: from, from, why: `${decision.reason}; ${choice.reasons.join('; ')}` });
    const target = choice.target;
    if (target.approvalRequired)
      return record({ action: 'needs-approval', destination: from, from, to: target.id, why: `${decision.reason}; ${target.reasons.join('; ')}` });
    const weight = fullWeight(service.destinations.find((d) => d.id === target.id)!.weight);
    const weights = allTo(routing, target.id, weight);
    const unsafe = checkNotAllDown(weights, downSet());
    if (unsafe) return record({ action: 'blocked', destination: from, from, to: target.id, why: `${decision.reason}; ${unsafe}` });
    apply(weights);
    lastFailoverFrom[from] = t;
    if (!failedOver.includes(from)) failedOver = [...failedOver, from];
    ranking = update(ranking, { destination: target.id, kind: 'failover', outcome: 'success' }, t, params);
    failovers += 1;
    const score = ranked?.find((c) => c.id === target.id)?.score;
    const how = score !== undefined ? `score ${score.toFixed(3)}, ` : '';
    record({
      action: 'failover',
      destination: from,
      from,
      to: target.id,
      why: `${decision.reason}; → ${target.id} (${how}${target.proximity}, tier ${target.tier})${target.reasons.length ? `; ${target.reasons.join('; ')}` : ''}`,
    });
  };

  /** Recomputes active-active weights; applies them unless a rule blocks the change. */
  const rebalance = (action: SimAction, subject: Partial<SimDecision>, why: string) => {
    const slowStart = Object.fromEntries(Object.entries(returning).map(([id, step]) => [id, { step, steps: slowSteps }]));
    const base = { service, routing, unhealthy: out, slowStart, options: distributionOptions(policy) };
    let ruled = distributeWithRules({ ...base, trigger: 'automatic' as Trigger, rules });
    let note = '';
    if (ruled.check.approvalRequired) {
      // The cross-region part waits for a person; meanwhile stay inside the current regions.
      const interim = distributeWithRules({ ...base, trigger: 'automatic' as Trigger, rules: { ...rules, neverCrossRegionAutomatically: true } });
      note = `; ${ruled.check.reasons.join('; ')}; meanwhile ${interim.reasons[interim.reasons.length - 1] ?? 'unchanged'}`;
      action = 'needs-approval';
      ruled = interim;
    }
    const d = ruled.distribution;
    if (ruled.blocked || d.verdict === 'no-healthy-destination') {
      return record({ action: 'blocked', ...subject, why: `${why}; ${ruled.reasons.join('; ')}` });
    }
    const changed = weightChanges(routing.weights, d.weights).length > 0;
    if (changed) apply(d.weights);
    const detail = d.reasons.length > 0 ? `; ${d.reasons.join('; ')}` : '';
    if (changed || action !== 'slow-start') record({ action, ...subject, why: `${why}${detail}${note}` });
  };

  const onActive = (event: HealthEvent) => {
    const id = event.destination;
    if (event.kind === 'down' || event.kind === 'degraded') {
      if (out.includes(id)) return record({ action: 'none', destination: id, why: `${id} ${event.kind}; already out of rotation` });
      if (!exec.automatic_failover)
        return record({ action: 'none', destination: id, why: `${id} ${event.kind}; automatic_failover is off, an operator must act` });
      out = [...out, id];
      delete returning[id];
      lastFailoverFrom[id] = t;
      failovers += 1;
      return rebalance('rebalance', { destination: id, from: id }, `${id} ${event.kind}: ${event.reason}`);
    }
    if (!out.includes(id)) return record({ action: 'none', destination: id, why: `${id} recovered: ${event.reason}` });
    const since = t - (lastFailoverFrom[id] ?? -Infinity);
    if (since < cooldownMs) {
      record({
        action: 'hold',
        destination: id,
        why: `${id} recovered ${fmtMs(since)} after leaving rotation; cooldown ${fmtMs(cooldownMs)} keeps it out until ${fmtTime((lastFailoverFrom[id] ?? 0) + cooldownMs)}`,
      });
    }
  };

  /** Active-active: recovered destinations whose cooldown is over come back, ramping up if slow start is set. */
  const returnRecovered = () => {
    for (const id of out) {
      if (health[id]!.status !== 'up' || t - (lastFailoverFrom[id] ?? -Infinity) < cooldownMs) continue;
      out = out.filter((x) => x !== id);
      if (slowSteps > 0) returning[id] = 1;
      rebalance(
        'return',
        { destination: id, to: id },
        `${id} healthy and its cooldown is over; back in rotation${slowSteps > 0 ? ` with slow start 1/${slowSteps}` : ''}`,
      );
    }
  };

  const advanceSlowStart = () => {
    const ramping = Object.keys(returning).sort();
    if (ramping.length === 0) return;
    for (const id of ramping) {
      returning[id] = returning[id]! + 1;
      if (returning[id]! >= slowSteps) delete returning[id];
    }
    rebalance(
      'slow-start',
      {},
      `slow start: ${ramping.map((id) => (returning[id] ? `${id} ${returning[id]}/${slowSteps}` : `${id} at full weight`)).join(', ')}`,
    );
  };

  const healthySet = () => new Set(ids.filter((id) => health[id]!.status === 'up' && !out.includes(id)));
  const assess = (): RedundancyAssessment => assessRedundancy({ service, routing, healthy: healthySet(), strategy, policy: policy.redundancy_management });
  let redundancy: RedundancyVerdict = assess().verdict;
  if (redundancy !== 'ok') record({ action: 'redundancy', why: `${redundancy}: ${assess().reasons.join('; ')}` });

  let next = 0;
  for (let k = 0; k <= ticks; k++) {
    t = k * intervalMs;
    while (next < events.length && events[next]!.atMs <= t) {
      const e = events[next++]!;
      conditions[e.destination] =
        e.event === 'down' ? { up: false, latencyMs: probeTimeoutMs } : { up: true, latencyMs: e.latencyMs ?? scenario.baselineLatencyMs };
    }
    if (strategy === 'active-active') advanceSlowStart();

    const happened: HealthEvent[] = [];
    for (const id of ids) {
      const c = conditions[id]!;
      // Latency counts as slow above the absolute bound or above the destination's own learned threshold.
      const learned = latencyThreshold(ranking.destinations[id], params);
      const maxLatencyMs = learned === undefined ? thresholds.maxLatencyMs : Math.min(thresholds.maxLatencyMs, learned);
      const obs = c.up ? { up: true, latencyMs: c.latencyMs } : { up: false, latencyMs: c.latencyMs, failure: 'timeout', error: 'scripted down' };
      const { health: h, event } = observe(id, health[id]!, obs, { ...thresholds, maxLatencyMs });
      health = { ...health, [id]: h };
      ranking = update(ranking, { destination: id, kind: 'probe', up: c.up, ...(c.up ? { latencyMs: c.latencyMs } : {}) }, t, params);
      if (event) happened.push(event);
    }
    for (const event of happened) (strategy === 'active-active' ? onActive : onPassive)(event);
    if (strategy === 'active-active') returnRecovered();

    const now = assess();
    if (now.verdict !== redundancy) {
      redundancy = now.verdict;
      record({ action: 'redundancy', why: `${now.verdict}: ${now.reasons.join('; ')}` });
    }
  }

  return {
    service: service.name,
    strategy,
    intervalMs,
    ticks: ticks + 1,
    decisions,
    routing,
    health: Object.fromEntries(ids.map((id) => [id, health[id]!.status])),
    ranking,
    failovers,
  };
}

/** "+12s", "+1.5s", "+2m05s". */
export function fmtTime(ms: number): string {
  return `+${fmtMs(ms)}`;
}

function fmtMs(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${Number(s.toFixed(3))}s`;
  const m = Math.floor(s / 60);
  const rest = Number((s - m * 60).toFixed(3));
  return `${m}m${rest < 10 ? '0' : ''}${rest}s`;
}

export { fmtWeights };

/** One readable line per decision. */
export function formatDecisions(decisions: readonly SimDecision[]): string[] {
  return decisions.map((d) => {
    const subject = d.from && d.to ? `${d.from} → ${d.to}` : (d.destination ?? d.to ?? d.from ?? '');
    return `${fmtTime(d.atMs).padStart(8)}  ${d.action.padEnd(14)} ${subject.padEnd(16)} [${fmtWeights(d.weights)}] gen ${d.generation} — ${d.why}`;
  });
}

export function formatSimulation(r: SimulationResult): string {
  return [
    `simulation of ${r.service} (${r.strategy}), ${r.ticks} ticks every ${fmtMs(r.intervalMs)}: ${r.failovers} failover(s)`,
    ...formatDecisions(r.decisions),
    `final: [${fmtWeights(r.routing.weights)}] gen ${r.routing.generation}; health ${Object.entries(r.health)
      .map(([id, h]) => `${id}=${h}`)
      .join(' ')}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Dry-run plan of one failover.

export interface ProbeReading {
  up: boolean;
  latencyMs?: number;
  replication?: ReplicationObservation;
}

export interface PlanDestination {
  id: string;
  up: boolean;
  weight: number;
  /** Share of traffic, 0..1. */
  share: number;
  /** Expected load in capacity units. */
  load: number;
  capacity: number;
  utilization: number;
}

export interface PlanStep {
  percent: number;
  weights: Record<string, number>;
  destinations: PlanDestination[];
}

export type DryRunVerdict = 'ok' | 'needs-approval' | 'blocked' | 'no-target' | 'nothing-to-do';

export interface DryRunPlan {
  service: string;
  strategy: Policy['failover_execution']['failover_strategy'];
  verdict: DryRunVerdict;
  reasons: string[];
  source?: string;
  target?: string;
  /** The source is down: no gradual steps. */
  emergency: boolean;
  before: Routing;
  steps: PlanStep[];
  changes: WeightChange[];
  distribution?: Distribution;
  redundancyAfter: RedundancyAssessment;
}

export interface DryRunInput {
  service: ServiceConfig;
  policy: Policy;
  routing: Routing;
  /** Latest probe per destination; a destination without one counts as down. */
  probes: Readonly<Record<string, ProbeReading>>;
  /** Active-passive: the target; chosen by the rules when left out. */
  to?: string;
  trigger?: Trigger;
  ranking?: { state: RankingState; now: number; params?: RankingParams };
}

function stepDestinations(
  service: ServiceConfig,
  weights: Record<string, number>,
  demand: number,
  up: ReadonlySet<string>,
  capacityOf: (id: string) => number,
): PlanDestination[] {
  const sum = Object.values(weights).reduce((a, v) => a + v, 0);
  return service.destinations.map((d) => {
    const w = weights[d.id] ?? 0;
    const share = sum > 0 ? w / sum : 0;
    const capacity = capacityOf(d.id);
    const load = share * demand;
    return { id: d.id, up: up.has(d.id), weight: w, share, load, capacity, utilization: capacity > 0 ? load / capacity : 0 };
  });
}

/** Weights part-way (percent) from `before` to `after`; down destinations are at 0 from the first step. */
function interpolate(
  ids: readonly string[],
  before: Record<string, number>,
  after: Record<string, number>,
  percent: number,
  down: ReadonlySet<string>,
): Record<string, number> {
  const values = ids.map((id) => (down.has(id) ? 0 : (before[id] ?? 0) + ((after[id] ?? 0) - (before[id] ?? 0)) * (percent / 100)));
  const total = Math.round(values.reduce((a, v) => a + v, 0));
  const ints = apportion(values, total, true);
  return Object.fromEntries(ids.map((id, i) => [id, ints[i]!]));
}

/** Every step, weight and expected load per destination of the failover the rules would run now. Changes nothing. */
export function planFailover(input: DryRunInput): DryRunPlan {
  const { service, policy, routing } = input;
  const exec = policy.failover_execution;
  const strategy = exec.failover_strategy;
  const trigger = input.trigger ?? 'manual';
  const rules: TierRules = tierRulesOf(exec);
  const ids = service.destinations.map((d) => d.id);
  const up = new Set(ids.filter((id) => input.probes[id]?.up === true));
  const down = new Set(ids.filter((id) => !up.has(id)));
  const reasons: string[] = ids.filter((id) => input.probes[id] === undefined).map((id) => `${id}: no probe result, counted as down`);
  // Single-writer replication switches in one step after fencing (see the failover runbook): no ramp.
  const singleWriter = isSingleWriter(service, policy);
  const gradual = exec.gradual_failover.enabled && !singleWriter ? exec.gradual_failover.steps : [100];

  const finish = (verdict: DryRunVerdict, after: Record<string, number>, extra: Partial<DryRunPlan>, steps: PlanStep[] = []): DryRunPlan => ({
    service: service.name,
    strategy,
    verdict,
    reasons,
    emergency: false,
    before: routing,
    steps,
    changes: weightChanges(routing.weights, after),
    redundancyAfter: assessRedundancy({
      service,
      routing: { generation: routing.generation + 1, weights: after },
      healthy: up,
      strategy,
      policy: policy.redundancy_management,
    }),
    ...extra,
  });

  if (strategy === 'active-active') {
    const ruled = distributeWithRules({ service, routing, unhealthy: ids.filter((id) => down.has(id)), trigger, rules, options: distributionOptions(policy) });
    const d = ruled.distribution;
    reasons.push(...ruled.reasons);
    if (ruled.blocked) return finish('blocked', routing.weights, { distribution: d });
    if (d.verdict === 'no-healthy-destination') return finish('no-target', routing.weights, { distribution: d });
    if (weightChanges(routing.weights, d.weights).length === 0) return finish('nothing-to-do', routing.weights, { distribution: d });
    const caps = new Map(d.members.map((m) => [m.id, m.capacity]));
    // A down destination's share has to move at once: stepping it over would overload the rest past their bound.
    const emergency = ids.some((id) => down.has(id) && (routing.weights[id] ?? 0) > 0);
    const percents = emergency ? [100] : gradual;
    const steps = percents.map((p) => {
      const weights = interpolate(ids, routing.weights, d.weights, p, down);
      return { percent: p, weights, destinations: stepDestinations(service, weights, d.demand, up, (id) => caps.get(id) ?? 0) };
    });
    return finish(ruled.check.approvalRequired ? 'needs-approval' : 'ok', d.weights, { distribution: d, emergency }, steps);
  }

  if (input.to !== undefined && !ids.includes(input.to)) {
    reasons.push(`to: no destination ${JSON.stringify(input.to)} in service ${service.name} (has ${ids.join(', ')})`);
    return finish('blocked', routing.weights, {});
  }
  // The runbook's own plan: what it would refuse, approve or do with these probes.
  const primary = primaryOf(routing);
  const prefer =
    exec.target_selection === 'intelligent' && input.ranking && primary
      ? rankBackups(service, primary, input.ranking.state, input.ranking.now, {
          down: new Set([...down, primary]),
          ...(input.ranking.params ? { params: input.ranking.params } : {}),
        }).map((c) => c.id)
      : undefined;
  const plan = planRunbook({
    service,
    policy,
    routing,
    probes: input.probes,
    planned: false,
    trigger,
    checkSync: true,
    nowMs: input.ranking?.now ?? Date.now(),
    ...(input.to !== undefined ? { to: input.to } : {}),
    ...(prefer ? { prefer } : {}),
  });
  const { source, target } = plan;
  const at = { ...(source ? { source } : {}), ...(target ? { target } : {}) };
  if (plan.refusal) {
    reasons.push(plan.refusal.message);
    return finish(plan.refusal.type === 'NoTarget' && plan.candidates.length === 0 ? 'no-target' : 'blocked', routing.weights, at);
  }
  const chosen = plan.candidates.find((c) => c.id === target);
  reasons.push(...(chosen?.reasons ?? []), ...plan.approval.filter((r) => !chosen?.reasons.includes(r)));
  if (plan.unsafeTarget) reasons.push(`${plan.unsafeTarget}: an automatic failover waits for approval, and promotes it only with --accept-data-loss`);
  const full = plan.targetWeight;
  const after = allTo(routing, target!, full);
  if (plan.emergency) reasons.push(`${source} is down: emergency path, no gradual steps`);
  const demand = fullWeight(service.destinations.find((d) => d.id === source)!.weight) * policy.redundancy_management.offered_load;
  const caps = (id: string) => service.destinations.find((d) => d.id === id)!.weight;
  const steps = plan.steps.map((p) => {
    const [sw, tw] = apportion([100 - p, p], full);
    const weights = p >= 100 ? after : { ...allTo(routing, target!, tw!), [source!]: sw! };
    return { percent: p, weights, destinations: stepDestinations(service, weights, demand, up, caps) };
  });
  const approval = plan.approval.length > 0 || plan.unsafeTarget !== undefined;
  return finish(approval ? 'needs-approval' : 'ok', after, { ...at, emergency: plan.emergency }, steps);
}

/** Readable lines for a dry-run plan. */
export function formatPlan(plan: DryRunPlan): string {
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
  const lines = [
    `plan for ${plan.service} (${plan.strategy}): ${plan.verdict}${plan.source && plan.target ? `, ${plan.source} → ${plan.target}` : ''}${plan.emergency ? ' (emergency)' : ''}`,
    ...plan.reasons.map((r) => `  · ${r}`),
    `  now: [${fmtWeights(plan.before.weights)}] gen ${plan.before.generation}`,
  ];
  plan.steps.forEach((s, i) => {
    lines.push(`  step ${i + 1} (${s.percent}%): [${fmtWeights(s.weights)}]`);
    for (const d of s.destinations) {
      lines.push(
        `      ${d.id.padEnd(16)} ${d.up ? 'up  ' : 'down'} weight ${String(d.weight).padStart(3)}  share ${pct(d.share).padStart(6)}  load ${Math.round(d.load * 10) / 10}/${d.capacity} (${pct(d.utilization)})`,
      );
    }
  });
  lines.push(`  redundancy after: ${plan.redundancyAfter.verdict} — ${plan.redundancyAfter.reasons.join('; ')}`);
  return lines.join('\n');
}
