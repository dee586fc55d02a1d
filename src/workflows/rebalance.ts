import { mayDrainWithoutApproval } from '../domain/redundancy';
import { checkNotAllDown, primaryOf, sameWeights, type Routing } from '../domain/routing';
import { unknownDestination } from '../domain/runbook-plan';
import { rebalanceInputSchema, type RebalanceInput, type RebalanceRequest } from '../domain/runbook-input';
import { distribute, type MemberShare } from '../domain/distribution';
import { distributeWithRules, planScopeFailover, tierRulesOf, describeScope, type DistributionOptions } from '../domain/tiers';
import { AbortedError } from './controls';
import { readRouting } from './runbook-end';
import { approvalGate, openRunbook, parseInput, refuse, underLock } from './runbook-frame';
import type { StepRecord } from './runbook-steps';
import { applyRouting, fmtWeights, isSingleWriter, restoreRouting, validate } from './switching';
import { moveTraffic } from './move-traffic';

export interface RebalanceResult {
  service: string;
  verdict: string;
  routingBefore: Routing;
  routingAfter: Routing;
  /** Expected load per destination (capacity units) and its utilization after the change. */
  members: Pick<MemberShare, 'id' | 'state' | 'weight' | 'capacity' | 'load' | 'utilization'>[];
  reasons: string[];
  steps: StepRecord[];
}

/**
 * Active-active weights from health and capacity: a failed destination's share moves to the rest
 * in proportion to capacity within the load bound, spilling to the next tier when needed; a
 * returning one comes back by slow start; `drain` evacuates a zone, region or list in one plan.
 * Each weight change is compare-and-set, soaked and validated; a failed validation restores the
 * starting routing.
 */
export async function rebalance(input: RebalanceInput): Promise<RebalanceResult> {
  const req = parseInput(rebalanceInputSchema, input, 'rebalance');
  return underLock('rebalance', req, input, () => runRebalance(req));
}

async function runRebalance(req: RebalanceRequest): Promise<RebalanceResult> {
  const { ctx, status } = await openRunbook('rebalance', req);
  const { service, policy, log } = ctx;
  const exec = policy.failover_execution;
  const red = policy.redundancy_management;
  const ids = service.destinations.map((d) => d.id);
  if (req.drain && 'destinations' in req.drain) {
    const unknown = req.drain.destinations.find((d) => !ids.includes(d));
    if (unknown) refuse(unknownDestination(service, unknown, 'input.drain.destinations', 'rebalance')!);
  }

  const before = await readRouting(ctx, status);
  const up: Record<string, boolean> = {};
  await log.run('probe destinations', async () => {
    await Promise.all(ids.map(async (id) => (up[id] = (await ctx.act.probe(service, id)).up)));
  }, () => ({ detail: ids.map((id) => `${id} ${up[id] ? 'up' : 'down'}`).join(', ') }));
  const down = ids.filter((id) => !up[id]);
  const options: DistributionOptions = { mode: red.load_distribution, maxEjectPercent: red.max_eject_percent, maxLoadFactor: red.max_load_factor, offeredLoad: red.offered_load };
  const trigger = req.trigger === 'manual' ? 'manual' : 'automatic';
  const rules = tierRulesOf(exec);

  let target: Record<string, number>;
  let members: MemberShare[] = [];
  let verdict: string;
  const reasons: string[] = [];
  const approvals: string[] = [];
  let excluded: string[] = [];
  if (req.drain) {
    const plan = planScopeFailover({ service, routing: before, scope: req.drain, strategy: exec.failover_strategy, trigger, rules, unhealthy: down, distribution: options });
    reasons.push(...plan.reasons);
    if (plan.verdict === 'blocked' || plan.verdict === 'no-target') refuse(`cannot drain ${plan.scope}: ${plan.reasons.join('; ')}`, 'Blocked');
    if (plan.verdict === 'needs-approval') approvals.push(...plan.reasons);
    const drainCheck = mayDrainWithoutApproval({ service, routing: before, healthy: new Set(ids.filter((id) => up[id])), strategy: exec.failover_strategy, policy: red }, plan.evacuated);
    if (!drainCheck.allowed) approvals.push(...drainCheck.reasons);
    target = plan.weights;
    members = plan.distribution?.members ?? [];
    verdict = plan.verdict;
    excluded = plan.evacuated;
    await log.note('plan', 'ok', `drain ${describeScope(req.drain)}: ${fmtWeights(target)}`, { evacuated: plan.evacuated.join(',') });
  } else {
    const ruled = distributeWithRules({ service, routing: before, unhealthy: down, trigger, rules, options });
    reasons.push(...ruled.reasons);
    if (ruled.blocked) refuse(`cannot rebalance: ${ruled.reasons.join('; ')}`, 'Blocked');
    if (ruled.check.approvalRequired) approvals.push(...ruled.check.reasons);
    target = ruled.distribution.weights;
    members = ruled.distribution.members;
    verdict = ruled.distribution.verdict;
    await log.note('plan', 'ok', `${verdict}: ${fmtWeights(target)}`, { demand: ruled.distribution.demand, shortfall: ruled.distribution.shortfall });
  }
  const unsafe = checkNotAllDown(target, new Set(down));
  if (unsafe) refuse(unsafe, 'UnsafeRouting');
  const finish = (after: Routing): RebalanceResult => ({
    service: service.name,
    verdict,
    routingBefore: before,
    routingAfter: after,
    members: members.map(({ id, state, weight, capacity, load, utilization }) => ({ id, state, weight, capacity, load: round(load), utilization: round(utilization) })),
    reasons,
    steps: log.steps,
  });
  if (sameWeights(target, before.weights)) {
    status.phase = 'done';
    await log.note('done', 'skipped', 'routing already matches the plan');
    return finish(before);
  }

  let current = before;
  try {
    if (approvals.length > 0) await approvalGate(ctx, status, approvals);
    // A single writer's primary never moves by a plain weight change: fence, catch up, promote, switch.
    const primary = primaryOf(before);
    const next = primaryOf({ generation: before.generation, weights: target });
    if (ctx.features.drainFenced && isSingleWriter(ctx) && primary && next && next !== primary) {
      const moved = await moveTraffic(ctx, status, {
        source: primary, target: next, sourceUp: up[primary] === true, before, targetWeight: target[next]!, steps: [100],
        rolledBack: (after) => finish(after),
      });
      status.phase = 'done';
      await log.note('done', 'ok', `drained by a fenced switchover ${primary} → ${next}: ${fmtWeights(moved.after.weights)}`);
      return finish(moved.after);
    }
    status.phase = 'ramping';
    // Destinations coming back take traffic by slow start: a few weight steps, soaked and validated.
    const returning = ids.filter((id) => (before.weights[id] ?? 0) === 0 && (target[id] ?? 0) > 0);
    const steps: Record<string, number>[] = [];
    if (returning.length > 0 && red.slow_start_steps > 1) {
      for (let k = 1; k < red.slow_start_steps; k++) {
        const slowStart = Object.fromEntries(returning.map((id) => [id, { step: k, steps: red.slow_start_steps }]));
        steps.push(distribute({ ...options, destinations: service.destinations, unhealthy: down, excluded, slowStart }).weights);
      }
    }
    steps.push(target);
    for (const [i, w] of steps.entries()) {
      await ctx.controls.checkpoint();
      if (sameWeights(w, current.weights)) continue;
      current = await applyRouting(ctx, steps.length > 1 ? `weights step ${i + 1}/${steps.length}` : 'apply weights', w, current);
      if (i < steps.length - 1) await ctx.controls.soak(exec.gradual_failover.soak);
      const carrying = Object.entries(w).filter(([, v]) => v > 0).map(([id]) => id);
      for (const id of carrying) {
        const v = await validate(ctx, `validate ${id}`, id, false);
        if (!v.ok) throw new Error(`validation of ${id} failed: ${v.detail}`);
      }
    }
    status.phase = 'done';
    await log.note('done', 'ok', `weights ${fmtWeights(current.weights)}`);
    return finish(current);
  } catch (err) {
    if (err instanceof AbortedError && current === before) refuse(`${err.message}; nothing changed`, 'Aborted');
    if (current === before) throw err;
    status.phase = 'rolling-back';
    const restored = await restoreRouting(ctx, before, current, false);
    status.phase = 'rolled-back';
    refuse(`${err instanceof Error ? err.message : String(err)}; starting routing restored`, 'RolledBack', finish(restored));
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
