import * as wf from '@temporalio/workflow';
import { fullWeight, type Routing } from '../domain/routing';
import { ramp, RampFailedError, restoreRouting, type RampStep } from './ramp';
import { validate } from './routing-steps';
import type { Runbook, Setback } from './runbook-kit';
import { switchSingleWriter } from './single-writer-switch';
import { isSingleWriter } from './switching';

export interface MoveResult {
  moved: true;
  after: Routing;
  switchedAt: number;
  firstShiftAt: number;
  rpo: { lag: number | null; note: string };
}

export interface MoveOptions {
  source: string;
  target: string;
  sourceUp: boolean;
  before: Routing;
  targetWeight: number;
  /** Gradual steps for independent destinations; [100] = one step. */
  steps: number[];
  /** Independent destinations: explicit weights per step instead of the source→target shift. */
  plan?: RampStep[];
  targetOffset?: number;
  acceptLag?: number;
  sourceLastSeen?: number;
}

/**
 * Moves a service's traffic from source to target and proves it works, or puts it back.
 * Single writer: switch in one step after fencing, validate, and on failure switch back.
 * Independent destinations: ramp with soak + validation, and on failure or abort restore the
 * starting routing (in reverse steps while the target is healthy, at once when it is down).
 * Returns where traffic went, or the setback the runbook ends with.
 */
export async function moveTraffic(rb: Runbook, o: MoveOptions): Promise<MoveResult | Setback> {
  return isSingleWriter(rb.ctx) ? switchAndValidate(rb, o) : rampAndValidate(rb, o);
}

async function switchAndValidate(rb: Runbook, o: MoveOptions): Promise<MoveResult | Setback> {
  const { ctx, status } = rb;
  rb.enter('switching');
  const sw = await switchSingleWriter(ctx, {
    source: o.source,
    target: o.target,
    sourceUp: o.sourceUp,
    before: o.before,
    targetWeight: o.targetWeight,
    ...(o.targetOffset !== undefined ? { targetOffset: o.targetOffset } : {}),
    ...(o.acceptLag !== undefined ? { acceptLag: o.acceptLag } : {}),
    ...(o.sourceLastSeen !== undefined ? { sourceLastSeen: o.sourceLastSeen } : {}),
  });
  status.switchedAt = new Date(sw.switchedAt).toISOString();
  // A pause asked during the switch holds here; an abort asked during it undoes it (switch back).
  const abort = ctx.features.atomicSwitch ? await ctx.controls.afterUninterruptible() : undefined;
  rb.enter('validating');
  const v = abort ? { ok: false, detail: `aborted by ${abort.by} during the switch (${abort.reason})` } : await validate(ctx, 'validate', o.target, true);
  if (v.ok) return { moved: true, after: sw.after, switchedAt: sw.switchedAt, firstShiftAt: sw.switchedAt, rpo: sw.rpo };
  if (!ctx.policy.failover_execution.rollback_support.enabled) {
    return { moved: false, type: 'ValidationFailed', message: `validation failed after the switch to ${o.target}: ${v.detail}; rollback_support is off` };
  }
  // Past the point of no return the way back is a reverse switchover: the target may hold new writes.
  const back = await wf.CancellationScope.nonCancellable(() =>
    rb.rollingBack(
      async () => {
        const targetNow = await ctx.act.probe(ctx.serviceArg, o.target);
        return switchSingleWriter(ctx, {
          source: o.target,
          target: o.source,
          sourceUp: targetNow.up,
          before: sw.after,
          targetWeight: fullWeight(o.before.weights[o.source]),
        });
      },
      () => `${abort ? v.detail : `validation failed on ${o.target} (${v.detail})`}; traffic back on ${o.source}`,
    ),
  );
  const what = abort ? `${v.detail}` : `validation failed after the switch to ${o.target}: ${v.detail}`;
  return { moved: false, type: 'RolledBack', message: `${what}; rolled back to ${o.source}`, after: back.after, switchedAt: sw.switchedAt, rpo: sw.rpo };
}

async function rampAndValidate(rb: Runbook, o: MoveOptions): Promise<MoveResult | Setback> {
  const { ctx, status } = rb;
  rb.enter('ramping');
  try {
    const r = await ramp(ctx, { source: o.source, target: o.target, from: o.before, steps: o.steps, label: 'shift', ...(o.plan ? { plan: o.plan } : {}) });
    status.switchedAt = new Date(r.switchedAt).toISOString();
    // Weights steer new connections; long-lived ones to the drained source are moved by closing them.
    if ((r.after.weights[o.source] ?? 0) === 0) {
      await ctx.log.run(
        'cut old sessions',
        () => ctx.act.cutSessions(ctx.serviceArg, o.source),
        () => ({ detail: `connections to ${o.source} closed` }),
      );
    }
    return { moved: true, ...r, rpo: { lag: 0, note: 'independent destinations: each acknowledged message stays where it was acknowledged' } };
  } catch (err) {
    if (!(err instanceof RampFailedError)) throw err;
    if (!ctx.policy.failover_execution.rollback_support.enabled) {
      return { moved: false, type: 'RampFailed', message: `${err.message}; rollback_support is off, routing left at ${JSON.stringify(err.current.weights)}` };
    }
    // Runs even when the runbook is being cancelled (Request Cancellation in the UI): routing must go back.
    let gradually = false;
    const after = await wf.CancellationScope.nonCancellable(() =>
      rb.rollingBack(
        async () => {
          gradually = (await ctx.act.probe(ctx.serviceArg, o.target)).up;
          return restoreRouting(ctx, o.before, err.current, gradually);
        },
        () => `routing restored to ${JSON.stringify(o.before.weights)} (${gradually ? 'gradually' : 'at once: target down'})`,
      ),
    );
    return {
      moved: false,
      type: 'RolledBack',
      message: `${err.message}; rolled back to the starting routing`,
      after,
      switchedAt: Date.now(),
      rpo: { lag: 0, note: 'no traffic moved for good' },
    };
  }
}
