import type { Policy, ServiceConfig } from './config';
import { requireMs } from './duration';
import { mayDrainWithoutApproval, type DrainVerdict } from './redundancy';
import { checkNotAllDown, fmtWeights, fullWeight, primaryOf, type Routing } from './routing';
import { checkFailoverTarget, type ReplicationObservation, type SourceLastSeen, type TargetCheck } from './sync';
import { chooseTarget, failoverTargets, tierRulesOf, type TargetOption, type Trigger } from './tiers';

/**
 * The one planner behind the failover, switchover and maintenance (drain) runbooks and the dry runs
 * (`failover plan`, `simulate`): from the routing and the probes it decides source, target, steps,
 * what needs a person's approval, and what is refused. Pure: the runbooks read the routing and probe,
 * then act on the plan; the dry run prints it.
 */

/** Why a runbook must not run: its message and the failure type the runbook ends with. */
export interface Refusal {
  message: string;
  type: string;
}

/** What the planner needs of a probe (the runbook's ProbeResult, the dry run's reading). */
export interface PlanProbe {
  up: boolean;
  /** Why it is down. */
  error?: string;
  replication?: ReplicationObservation;
}

/** The refusal text for an input naming a destination the service does not have, or undefined. */
export function unknownDestination(service: ServiceConfig, id: string, field: string, what: string): string | undefined {
  const ids = service.destinations.map((d) => d.id);
  if (ids.includes(id)) return undefined;
  return `invalid ${what} input:\n  - ${field}: no destination ${JSON.stringify(id)} in service ${service.name} (has ${ids.join(', ')})`;
}

/** Single-writer replication (Redis): one writable primary, switched in one fenced step. */
export function isSingleWriter(service: ServiceConfig, policy: Policy): boolean {
  return policy.failover_execution.data_sync.enabled && service.destinations.some((d) => d.replication.type !== 'none');
}

export interface FailoverPlanInput {
  service: ServiceConfig;
  policy: Policy;
  routing: Routing;
  probes: Readonly<Record<string, PlanProbe>>;
  /** A planned switchover (the source must be up) rather than a failover. */
  planned: boolean;
  trigger: Trigger;
  /** The target asked for; chosen by the rules when left out. */
  to?: string;
  /** Candidate order (detection's learned ranking); the configured order when left out. */
  prefer?: readonly string[];
  /** Single writer: check that a target is a copy of the source (runbook feature `targetSync`). */
  checkSync: boolean;
  /** The source's offset when last seen up (detection passes it), for the data-loss estimate. */
  sourceLastSeen?: SourceLastSeen;
  /** A person accepted promoting a target known to lack data: who. */
  acceptDataLoss?: { by: string };
  nowMs: number;
}

export interface FailoverPlan {
  kind: 'failover' | 'switchover';
  /** Set once a destination carrying traffic was found. */
  source?: string;
  target?: string;
  sourceUp: boolean;
  /** The source is down: no gradual steps. */
  emergency: boolean;
  singleWriter: boolean;
  /** Percent steps of the traffic move ([100]: one step). */
  steps: number[];
  targetWeight: number;
  finalWeights: Record<string, number>;
  /** Reasons a person must approve before anything changes (policy, region rules). */
  approval: string[];
  /** The candidates the rules considered, best first (the chosen one's reasons say why it may be entered). */
  candidates: TargetOption[];
  /** Single writer, target sync checked: is the target a copy of the source. */
  targetCheck?: TargetCheck;
  /** The target is known to lack data and a person accepted it. */
  acceptedLoss?: { by: string; estimate: number | null };
  /** An automatic run with a target known to lack data: it waits for a person, and silence aborts. */
  unsafeTarget?: string;
  /** Ends the run before anything changes; `afterTargetCheck`: only once the target check is recorded. */
  refusal?: Refusal & { afterTargetCheck?: boolean };
  /** The `plan` step's detail. */
  describe: string;
}

function whyDown(probe: PlanProbe | undefined): string {
  return probe ? (probe.error ?? 'probe failed') : 'no probe result';
}

function lossText(loss: number | null): string {
  return loss === null ? 'an unknown amount of' : `an estimated ${loss} bytes of`;
}

/** Failover (source down or not) and planned switchover of one active-passive service. */
export function planFailover(input: FailoverPlanInput): FailoverPlan {
  const { service, policy, routing: before, probes } = input;
  const exec = policy.failover_execution;
  const ids = service.destinations.map((d) => d.id);
  const down = new Set(ids.filter((id) => probes[id]?.up !== true));
  const singleWriter = isSingleWriter(service, policy);
  const source = primaryOf(before);
  const sourceUp = source !== undefined && !down.has(source);
  const plan: FailoverPlan = {
    kind: input.planned ? 'switchover' : 'failover',
    sourceUp,
    emergency: !sourceUp,
    singleWriter,
    steps: [100],
    targetWeight: 0,
    finalWeights: before.weights,
    approval: [],
    candidates: [],
    describe: '',
    ...(source ? { source } : {}),
  };
  const refused = (message: string, type: string): FailoverPlan => ({ ...plan, refusal: { message, type } });
  if (!source) return refused(`service ${service.name} has no destination carrying traffic; nothing to fail over from`, 'NoSource');
  if (input.planned && !sourceUp) {
    return refused(
      `planned switchover needs a healthy source, but ${source} is down (${whyDown(probes[source])}); start an unplanned failover instead`,
      'SourceDown',
    );
  }
  // Same zone, other zone, other region; the region rules decide what may be entered and how.
  const options = failoverTargets(service, source, {
    unavailable: down,
    trigger: input.trigger,
    rules: tierRulesOf(exec),
    ...(input.prefer ? { order: input.prefer } : {}),
  });
  plan.candidates = options;
  // Single writer: a target must be a copy of the source (a returned old primary, an empty restart, a replica whose link broke long ago is not).
  const checkSync = input.checkSync && singleWriter;
  const checkTarget = (id: string): TargetCheck =>
    checkFailoverTarget({
      service,
      source,
      target: id,
      sourceUp,
      maxLag: exec.consistency_check.max_lag,
      maxLinkDownMs: requireMs(exec.max_link_down),
      nowMs: input.nowMs,
      ...(probes[id]?.replication ? { targetObs: probes[id]!.replication } : {}),
      ...(input.sourceLastSeen ? { sourceLastSeen: input.sourceLastSeen } : {}),
    });
  let chosen: TargetOption | undefined = input.to !== undefined ? options.find((o) => o.id === input.to) : chooseTarget(options).target;
  if (checkSync && input.to === undefined) chosen = chooseTarget(options.filter((o) => checkTarget(o.id).safe)).target ?? chosen;
  const target = input.to ?? chosen?.id;
  if (!target)
    return refused(
      `no destination may take the traffic of ${source}: ${chooseTarget(options).reasons.join('; ')} (down: ${[...down].join(', ') || 'none'})`,
      'NoTarget',
    );
  if (chosen && !chosen.allowed) return refused(`target ${target} refused: ${chosen.reasons.join('; ')}`, 'Blocked');
  if (target === source)
    return refused(`invalid failover input:\n  - input.to: ${JSON.stringify(target)} already carries the traffic of ${service.name}`, 'InvalidInput');
  if (down.has(target)) return refused(`target ${target} is down (${whyDown(probes[target])}); refusing to route traffic to it`, 'TargetDown');
  plan.target = target;
  plan.targetWeight = fullWeight(service.destinations.find((d) => d.id === target)!.weight);
  plan.finalWeights = Object.fromEntries(ids.map((id) => [id, id === target ? plan.targetWeight : 0]));
  const unsafe = checkNotAllDown(plan.finalWeights, down);
  if (unsafe) return refused(unsafe, 'UnsafeRouting');
  // Single writer: one fenced switch; a down source: at once.
  plan.steps = singleWriter || !sourceUp || !exec.gradual_failover.enabled ? [100] : exec.gradual_failover.steps;
  plan.describe = `${source} → ${target}${plan.emergency ? ' (emergency: source down, no gradual steps)' : ''}${input.planned ? ' (planned)' : ''}${singleWriter ? ' (single writer)' : ''}`;
  if (exec.approval.required) plan.approval.push('policy requires approval');
  if (chosen?.approvalRequired) plan.approval.push(...chosen.reasons);
  if (!checkSync) return plan;

  const check = checkTarget(target);
  plan.targetCheck = check;
  if (check.safe) return plan;
  const loss = check.estimatedLoss;
  if (input.acceptDataLoss) {
    plan.acceptedLoss = { by: input.acceptDataLoss.by, estimate: loss };
  } else if (input.trigger === 'manual') {
    plan.refusal = {
      message:
        `target ${target} does not hold all of ${source}'s data: ${check.reasons.join('; ')}; promoting it would lose ${lossText(loss)} acknowledged writes. ` +
        'To promote it anyway, start again with --accept-data-loss (input "acceptDataLoss": true); nothing was changed',
      type: 'TargetUnsynced',
      afterTargetCheck: true,
    };
  } else {
    plan.unsafeTarget = `${check.reasons.join('; ')}; promoting ${target} would lose ${lossText(loss)} acknowledged writes`;
  }
  return plan;
}

/**
 * How a destination is drained: `switchover` (single writer: fenced, zero-lag switch to a
 * replica), `shift` (independent: its traffic ramps over to one other destination), `proportional`
 * (independent, others carry traffic too: its weight ramps to 0 and the rest absorb it by weight),
 * `idle` (it carries no traffic; nothing routes to it).
 */
export type DrainMode = 'switchover' | 'shift' | 'proportional' | 'idle';

export interface WeightStep {
  percent: number;
  weights: Record<string, number>;
}

export interface DrainPlanInput {
  service: ServiceConfig;
  policy: Policy;
  routing: Routing;
  probes: Readonly<Record<string, PlanProbe>>;
  destination: string;
  trigger: Trigger;
}

export interface DrainPlan {
  /** Undefined only when refused before a mode was found. */
  mode?: DrainMode;
  /** Where its traffic goes (switchover/shift), or the destination validated while it drains (proportional). */
  target?: string;
  singleWriter: boolean;
  /** Percent steps of the drain. */
  steps: number[];
  /** Proportional: the weights of every step. */
  plan?: WeightStep[];
  finalWeights: Record<string, number>;
  /** The redundancy check: draining it leaves enough healthy backups, or it needs approval. */
  redundancy: DrainVerdict;
  /** Reasons a person must approve before anything changes (policy, redundancy, region rules). */
  approval: string[];
  refusal?: Refusal;
  /** What the drain does, in the `plan` step's detail. */
  describe: string;
}

/** Planned maintenance: where one destination's traffic goes while it is drained. */
export function planDrain(input: DrainPlanInput): DrainPlan {
  const { service, policy, routing: before, destination: dest } = input;
  const exec = policy.failover_execution;
  const ids = service.destinations.map((d) => d.id);
  const down = new Set(ids.filter((id) => input.probes[id]?.up !== true));
  const singleWriter = isSingleWriter(service, policy);
  const steps = exec.gradual_failover.enabled ? exec.gradual_failover.steps : [100];
  // Invariant: never below redundancy_level healthy backups without a person agreeing.
  const redundancy = mayDrainWithoutApproval(
    { service, routing: before, healthy: new Set(ids.filter((id) => !down.has(id))), strategy: exec.failover_strategy, policy: policy.redundancy_management },
    [dest],
  );
  const base = { singleWriter, steps, redundancy, finalWeights: before.weights, approval: [] as string[], describe: '' };
  const refused = (message: string, type: string): DrainPlan => ({ ...base, refusal: { message, type } });
  const approve = (p: Omit<DrainPlan, 'approval' | 'redundancy' | 'singleWriter' | 'steps'>, region?: string[]): DrainPlan => {
    const approval = [
      ...(exec.approval.required ? ['policy requires approval'] : []),
      ...(redundancy.allowed ? [] : [`redundancy: ${redundancy.reasons.join('; ')}`]),
      ...(region ?? []),
    ];
    const unsafe = checkNotAllDown(p.finalWeights, down);
    return { ...base, ...p, approval, ...(unsafe ? { refusal: { message: `draining ${dest} is unsafe: ${unsafe}`, type: 'UnsafeRouting' } } : {}) };
  };
  const w0 = before.weights[dest] ?? 0;
  if (w0 === 0) {
    if (singleWriter && !primaryOf(before))
      return refused(`service ${service.name} has no destination carrying traffic for ${dest} to resync from after the window`, 'NoSource');
    return approve({ mode: 'idle', finalWeights: before.weights, describe: `${dest} carries no traffic; routing stays ${fmtWeights(before.weights)}` });
  }
  if (down.has(dest)) {
    return refused(`planned maintenance drains a healthy destination, but ${dest} is down and carries traffic; start a failover runbook instead`, 'SourceDown');
  }
  const others = Object.entries(before.weights)
    .filter(([id, w]) => id !== dest && w > 0 && !down.has(id))
    .sort(([a, wa], [b, wb]) => wb - wa || a.localeCompare(b));
  if (!singleWriter && others.length > 0) {
    const plan = scaleOne(before.weights, dest, w0, steps, 'down');
    return approve({
      mode: 'proportional',
      target: others[0]![0],
      plan,
      finalWeights: plan[plan.length - 1]!.weights,
      describe: `weight of ${dest} ramps ${w0} → 0 in steps ${steps.join('/')}%; ${others.map(([id]) => id).join(', ')} absorb it by weight`,
    });
  }
  // Same zone, other zone, other region, under the same region rules as a failover.
  const chosen = chooseTarget(failoverTargets(service, dest, { unavailable: down, trigger: input.trigger, rules: tierRulesOf(exec) }));
  const target = chosen.target?.id;
  if (!target)
    return refused(`no destination may take the traffic of ${dest}: ${chosen.reasons.join('; ')} (down: ${[...down].join(', ') || 'none'})`, 'NoTarget');
  const region = chosen.target!.approvalRequired ? chosen.target!.reasons : undefined;
  const finalWeights = Object.fromEntries(
    Object.keys(before.weights).map((id) => [id, id === dest ? 0 : id === target ? (before.weights[id] ?? 0) + w0 : before.weights[id]!]),
  );
  return singleWriter
    ? approve(
        { mode: 'switchover', target, finalWeights, describe: `planned switchover ${dest} → ${target} (fence, catch up to lag 0, promote, switch, demote)` },
        region,
      )
    : approve({ mode: 'shift', target, finalWeights, describe: `traffic shifts ${dest} → ${target} in steps ${steps.join('/')}%` }, region);
}

/** Steps that take one destination's weight from w0 to 0 ('down') or from 0 back to w0 ('up'), the rest unchanged. */
export function scaleOne(weights: Record<string, number>, dest: string, w0: number, percents: readonly number[], direction: 'down' | 'up'): WeightStep[] {
  return percents.map((p) => ({ percent: p, weights: { ...weights, [dest]: Math.round((w0 * (direction === 'down' ? 100 - p : p)) / 100) } }));
}
