import { sameWeights, type Routing } from '../domain/routing';
import { rampPlan } from '../domain/ramp';
import { applyRouting, validate } from './routing-steps';
import type { RunbookContext } from './switching';

export interface RampStep {
  percent: number;
  weights: Record<string, number>;
}

export class RampFailedError extends Error {
  constructor(
    message: string,
    readonly current: Routing,
  ) {
    super(message);
    this.name = 'RampFailedError';
  }
}

/**
 * Multi-writer shift: move weight from `source` to `target` in the configured steps, soaking and
 * validating after each. Throws RampFailedError carrying the routing in place when a validation
 * fails or an abort arrives, so the caller can roll back from there.
 */
export async function ramp(
  ctx: RunbookContext,
  opts: {
    source: string;
    target: string;
    from: Routing;
    steps: number[];
    label: string;
    /** Weights per step when they are not a source→target shift (e.g. one destination drained proportionally). */ plan?: RampStep[];
  },
): Promise<{ after: Routing; firstShiftAt: number; switchedAt: number }> {
  let current = opts.from;
  let firstShiftAt = 0;
  const plan = opts.plan ?? rampPlan(opts.from.weights, opts.source, opts.target, opts.steps);
  for (const [i, step] of plan.entries()) {
    try {
      await ctx.controls.checkpoint();
      if (!sameWeights(step.weights, current.weights)) {
        current = await applyRouting(ctx, `${opts.label} ${step.percent}%`, step.weights, current);
        if (!firstShiftAt) firstShiftAt = Date.now();
      }
      if (i < plan.length - 1 || ctx.policy.failover_execution.gradual_failover.enabled) {
        await ctx.controls.soak(ctx.policy.failover_execution.gradual_failover.soak);
      }
      const v = await validate(ctx, `validate ${step.percent}%`, opts.target, false);
      if (!v.ok) throw new RampFailedError(`validation failed at ${step.percent}%: ${v.detail}`, current);
    } catch (err) {
      if (err instanceof RampFailedError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw Object.assign(new RampFailedError(message, current), { cause: err });
    }
  }
  return { after: current, firstShiftAt: firstShiftAt || Date.now(), switchedAt: Date.now() };
}

/**
 * Puts a routing snapshot back: in reverse steps while the current target is healthy (capacity
 * matters), at once when it is down. Every write is compare-and-set on the generation.
 */
export async function restoreRouting(ctx: RunbookContext, snapshot: Routing, current: Routing, gradual: boolean): Promise<Routing> {
  if (sameWeights(snapshot.weights, current.weights)) {
    await ctx.log.note('restore routing', 'skipped', 'routing already matches the snapshot');
    return current;
  }
  let routing = current;
  const steps = gradual ? rampBackSteps(current.weights, snapshot.weights, ctx.policy.failover_execution.gradual_failover.steps) : [snapshot.weights];
  for (const [i, w] of steps.entries()) {
    routing = await applyRouting(ctx, steps.length > 1 ? `restore step ${i + 1}/${steps.length}` : 'restore routing', w, routing);
  }
  return routing;
}

function rampBackSteps(from: Record<string, number>, to: Record<string, number>, percents: number[]): Record<string, number>[] {
  const ids = [...new Set([...Object.keys(from), ...Object.keys(to)])];
  return percents.map((p) => Object.fromEntries(ids.map((id) => [id, Math.round((from[id] ?? 0) + ((to[id] ?? 0) - (from[id] ?? 0)) * (p / 100))])));
}
