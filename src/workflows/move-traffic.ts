import * as wf from '@temporalio/workflow';
import { fullWeight, type Routing } from '../domain/routing';
import { refuse, type RunbookStatus } from './runbook-frame';
import { isSingleWriter, ramp, RampFailedError, restoreRouting, switchSingleWriter, validate, type RampStep, type RunbookContext } from './switching';

export interface MoveResult {
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
  /** Builds the failure details (the runbook's result) when it ends rolled back. */
  rolledBack(after: Routing, switchedAt: number, rpo: MoveResult['rpo']): unknown;
}

/**
 * Moves a service's traffic from source to target and proves it works, or puts it back.
 * Single writer: switch in one step after fencing, validate, and on failure switch back.
 * Independent destinations: ramp with soak + validation, and on failure or abort restore the
 * starting routing (in reverse steps while the target is healthy, at once when it is down).
 */
export async function moveTraffic(ctx: RunbookContext, status: RunbookStatus, o: MoveOptions): Promise<MoveResult> {
  const exec = ctx.policy.failover_execution;
  if (isSingleWriter(ctx)) {
    status.phase = 'switching';
    const sw = await switchSingleWriter(ctx, {
      source: o.source, target: o.target, sourceUp: o.sourceUp, before: o.before, targetWeight: o.targetWeight,
      ...(o.targetOffset !== undefined ? { targetOffset: o.targetOffset } : {}),
      ...(o.acceptLag !== undefined ? { acceptLag: o.acceptLag } : {}),
      ...(o.sourceLastSeen !== undefined ? { sourceLastSeen: o.sourceLastSeen } : {}),
    });
    status.switchedAt = new Date(sw.switchedAt).toISOString();
    // A pause asked during the switch holds here; an abort asked during it undoes it (switch back).
    const abort = ctx.features.atomicSwitch ? await ctx.controls.afterUninterruptible() : undefined;
    status.phase = 'validating';
    const v = abort ? { ok: false, detail: `aborted by ${abort.by} during the switch (${abort.reason})` } : await validate(ctx, 'validate', o.target, true);
    if (v.ok) return { after: sw.after, switchedAt: sw.switchedAt, firstShiftAt: sw.switchedAt, rpo: sw.rpo };
    if (!exec.rollback_support.enabled) refuse(`validation failed after the switch to ${o.target}: ${v.detail}; rollback_support is off`, 'ValidationFailed');
    // Past the point of no return the way back is a reverse switchover: the target may hold new writes.
    status.phase = 'rolling-back';
    const back = await wf.CancellationScope.nonCancellable(async () => {
      const targetNow = await ctx.act.probe(ctx.service, o.target);
      const r = await switchSingleWriter(ctx, { source: o.target, target: o.source, sourceUp: targetNow.up, before: sw.after, targetWeight: fullWeight(o.before.weights[o.source]) });
      status.phase = 'rolled-back';
      await ctx.log.note('rolled back', 'compensated', `${abort ? v.detail : `validation failed on ${o.target} (${v.detail})`}; traffic back on ${o.source}`);
      return r;
    });
    const what = abort ? `${v.detail}` : `validation failed after the switch to ${o.target}: ${v.detail}`;
    refuse(`${what}; rolled back to ${o.source}`, 'RolledBack', o.rolledBack(back.after, sw.switchedAt, sw.rpo));
  }

  status.phase = 'ramping';
  try {
    const r = await ramp(ctx, { source: o.source, target: o.target, from: o.before, steps: o.steps, label: 'shift', ...(o.plan ? { plan: o.plan } : {}) });
    status.switchedAt = new Date(r.switchedAt).toISOString();
    // Weights steer new connections; long-lived ones to the drained source are moved by closing them.
    if ((r.after.weights[o.source] ?? 0) === 0) {
      await ctx.log.run('cut old sessions', () => ctx.act.cutSessions(ctx.service, o.source), () => ({ detail: `connections to ${o.source} closed` }));
    }
    return { ...r, rpo: { lag: 0, note: 'independent destinations: each acknowledged message stays where it was acknowledged' } };
  } catch (err) {
    if (!(err instanceof RampFailedError)) throw err;
    if (!exec.rollback_support.enabled) refuse(`${err.message}; rollback_support is off, routing left at ${JSON.stringify(err.current.weights)}`, 'RampFailed');
    status.phase = 'rolling-back';
    // Runs even when the runbook is being cancelled (Request Cancellation in the UI): routing must go back.
    const after = await wf.CancellationScope.nonCancellable(async () => {
      const t = await ctx.act.probe(ctx.service, o.target);
      const restored = await restoreRouting(ctx, o.before, err.current, t.up);
      status.phase = 'rolled-back';
      await ctx.log.note('rolled back', 'compensated', `routing restored to ${JSON.stringify(o.before.weights)} (${t.up ? 'gradually' : 'at once: target down'})`);
      return restored;
    });
    refuse(`${err.message}; rolled back to the starting routing`, 'RolledBack', o.rolledBack(after, Date.now(), { lag: 0, note: 'no traffic moved for good' }));
  }
}
