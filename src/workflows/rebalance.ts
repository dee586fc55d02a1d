import type { RebalanceResult } from '../api/results';
import { distribute, type MemberShare } from '../domain/distribution';
import { mayDrainWithoutApproval } from '../domain/redundancy';
import { checkNotAllDown, fmtWeights, primaryOf, sameWeights, type Routing } from '../domain/routing';
import { rebalanceInputSchema, type RebalanceInput, type RebalanceRequest } from '../domain/runbook-input';
import { describeScope, distributeWithRules, planScopeFailover, tierRulesOf, type DistributionOptions } from '../domain/tiers';
import { moveTraffic } from './move-traffic';
import { restoreRouting } from './ramp';
import { applyRouting, validate } from './routing-steps';
import { isSetback, refuse, Runbook } from './runbook-kit';
import { isSingleWriter } from './switching';

export type { RebalanceResult };

/**
 * Active-active weights from health and capacity: a failed destination's share moves to the rest
 * in proportion to capacity within the load bound, spilling to the next tier when needed; a
 * returning one comes back by slow start; `drain` evacuates a zone, region or list in one plan.
 * Each weight change is compare-and-set, soaked and validated; a failed validation restores the
 * starting routing.
 */
export async function rebalance(input: RebalanceInput): Promise<RebalanceResult> {
  return Runbook.run('rebalance', rebalanceInputSchema, input, async (req, rb) => {
    const { ctx, log } = rb;
    if (req.drain && 'destinations' in req.drain) for (const id of req.drain.destinations) rb.requireDestination(id, 'input.drain.destinations');
    // Observe: where traffic is now, who is up.
    const { before, probes, down } = await rb.observe();
    // Plan: weights from health and capacity (or the drain's scope); refused when it would send traffic nowhere.
    const plan = await planWeights(rb, req, before, [...down]);
    const finish = (after: Routing): RebalanceResult => ({
      service: ctx.service.name,
      verdict: plan.verdict,
      routingBefore: before,
      routingAfter: after,
      members: plan.members.map(({ id, state, weight, capacity, load, utilization }) => ({
        id,
        state,
        weight,
        capacity,
        load: round(load),
        utilization: round(utilization),
      })),
      reasons: plan.reasons,
      steps: log.steps,
    });
    if (sameWeights(plan.target, before.weights)) {
      await rb.done('routing already matches the plan', undefined, 'skipped');
      return finish(before);
    }
    let current = before;
    try {
      await rb.gate(plan.approvals);
      // Move: a single writer's primary never moves by a plain weight change: fence, catch up, promote, switch.
      const primary = primaryOf(before);
      const next = primaryOf({ generation: before.generation, weights: plan.target });
      if (ctx.features.drainFenced && isSingleWriter(ctx) && primary && next && next !== primary) {
        const moved = await moveTraffic(rb, {
          source: primary,
          target: next,
          sourceUp: probes[primary]?.up === true,
          before,
          targetWeight: plan.target[next]!,
          steps: [100],
        });
        if (isSetback(moved)) return rb.end(moved, (s) => finish(s.after));
        await rb.done(`drained by a fenced switchover ${primary} → ${next}: ${fmtWeights(moved.after.weights)}`);
        return finish(moved.after);
      }
      rb.enter('ramping');
      for (const [i, w] of plan.steps.entries()) {
        await ctx.controls.checkpoint();
        if (sameWeights(w, current.weights)) continue;
        current = await applyRouting(ctx, plan.steps.length > 1 ? `weights step ${i + 1}/${plan.steps.length}` : 'apply weights', w, current);
        if (i < plan.steps.length - 1) await ctx.controls.soak(ctx.policy.failover_execution.gradual_failover.soak);
        for (const id of Object.entries(w)
          .filter(([, v]) => v > 0)
          .map(([id]) => id)) {
          const v = await validate(ctx, `validate ${id}`, id, false);
          if (!v.ok) throw new Error(`validation of ${id} failed: ${v.detail}`);
        }
      }
      // Finish.
      await rb.done(`weights ${fmtWeights(current.weights)}`);
      return finish(current);
    } catch (err) {
      if (current === before) return rb.fail(err, { left: 'nothing changed' });
      const restored = await rb.rollingBack(() => restoreRouting(ctx, before, current, false));
      refuse(`${err instanceof Error ? err.message : String(err)}; starting routing restored`, 'RolledBack', finish(restored));
    }
  });
}

interface WeightsPlan {
  target: Record<string, number>;
  /** Weight steps to the target: slow start for returning destinations, then the target. */
  steps: Record<string, number>[];
  members: MemberShare[];
  verdict: string;
  reasons: string[];
  approvals: string[];
}

async function planWeights(rb: Runbook, req: RebalanceRequest, before: Routing, down: string[]): Promise<WeightsPlan> {
  const { service, policy, log } = rb.ctx;
  const exec = policy.failover_execution;
  const red = policy.redundancy_management;
  const ids = service.destinations.map((d) => d.id);
  const options: DistributionOptions = {
    mode: red.load_distribution,
    maxEjectPercent: red.max_eject_percent,
    maxLoadFactor: red.max_load_factor,
    offeredLoad: red.offered_load,
  };
  const trigger = req.trigger === 'manual' ? 'manual' : 'automatic';
  const rules = tierRulesOf(exec);
  const reasons: string[] = [];
  const approvals: string[] = [];
  let plan: Omit<WeightsPlan, 'steps' | 'reasons' | 'approvals'>;
  let excluded: string[] = [];
  if (req.drain) {
    const scoped = planScopeFailover({
      service,
      routing: before,
      scope: req.drain,
      strategy: exec.failover_strategy,
      trigger,
      rules,
      unhealthy: down,
      distribution: options,
    });
    reasons.push(...scoped.reasons);
    if (scoped.verdict === 'blocked' || scoped.verdict === 'no-target') refuse(`cannot drain ${scoped.scope}: ${scoped.reasons.join('; ')}`, 'Blocked');
    if (scoped.verdict === 'needs-approval') approvals.push(...scoped.reasons);
    const healthy = new Set(ids.filter((id) => !down.includes(id)));
    const drainCheck = mayDrainWithoutApproval({ service, routing: before, healthy, strategy: exec.failover_strategy, policy: red }, scoped.evacuated);
    if (!drainCheck.allowed) approvals.push(...drainCheck.reasons);
    plan = { target: scoped.weights, members: scoped.distribution?.members ?? [], verdict: scoped.verdict };
    excluded = scoped.evacuated;
    await log.note('plan', 'ok', `drain ${describeScope(req.drain)}: ${fmtWeights(plan.target)}`, { evacuated: scoped.evacuated.join(',') });
  } else {
    const ruled = distributeWithRules({ service, routing: before, unhealthy: down, trigger, rules, options });
    reasons.push(...ruled.reasons);
    if (ruled.blocked) refuse(`cannot rebalance: ${ruled.reasons.join('; ')}`, 'Blocked');
    if (ruled.check.approvalRequired) approvals.push(...ruled.check.reasons);
    plan = { target: ruled.distribution.weights, members: ruled.distribution.members, verdict: ruled.distribution.verdict };
    await log.note('plan', 'ok', `${plan.verdict}: ${fmtWeights(plan.target)}`, { demand: ruled.distribution.demand, shortfall: ruled.distribution.shortfall });
  }
  const unsafe = checkNotAllDown(plan.target, new Set(down));
  if (unsafe) refuse(unsafe, 'UnsafeRouting');
  // Destinations coming back take traffic by slow start: a few weight steps, soaked and validated.
  const returning = ids.filter((id) => (before.weights[id] ?? 0) === 0 && (plan.target[id] ?? 0) > 0);
  const steps: Record<string, number>[] = [];
  if (returning.length > 0 && red.slow_start_steps > 1) {
    for (let k = 1; k < red.slow_start_steps; k++) {
      const slowStart = Object.fromEntries(returning.map((id) => [id, { step: k, steps: red.slow_start_steps }]));
      steps.push(distribute({ ...options, destinations: service.destinations, unhealthy: down, excluded, slowStart }).weights);
    }
  }
  steps.push(plan.target);
  return { ...plan, steps, reasons, approvals };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
