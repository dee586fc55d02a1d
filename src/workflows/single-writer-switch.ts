import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';
import { requireMs } from '../domain/duration';
import type { Routing } from '../domain/routing';
import { applyRouting, lagNumbers } from './routing-steps';
import { Compensations } from './runbook-steps';
import { STEP_HEARTBEAT, type RunbookContext } from './switching';

export interface SwitchResult {
  after: Routing;
  switchedAt: number;
  rpo: { lag: number | null; note: string };
}

/**
 * Single-writer switch: consistency gate → fence source → catch-up → promote target → route all
 * traffic in one step → cut old sessions → demote source. Weights cannot ramp here: a share left on
 * the fenced source would only see blocked or refused writes. Before the routing switch every step
 * is undone on failure; after it the target may hold writes the source lacks, so undo means a
 * reverse switchover instead (see failover's rollback).
 */
type SwitchOptions = {
  source: string;
  target: string;
  sourceUp: boolean;
  before: Routing;
  targetWeight: number;
  targetOffset?: number;
  /** Set when an approval accepted lag above the bound. */
  acceptLag?: number;
  /** Source offset at the last observation (emergency RPO). */
  sourceLastSeen?: number;
};

export async function switchSingleWriter(ctx: RunbookContext, opts: SwitchOptions): Promise<SwitchResult> {
  return ctx.features.atomicSwitch ? switchInOneStep(ctx, opts) : switchStepByStep(ctx, opts);
}

/**
 * The switch as one activity (see activities/switchover.ts): a pause or abort asked meanwhile takes
 * effect after it, and its sub-steps are recorded with their numbers as steps of this runbook.
 */
async function switchInOneStep(ctx: RunbookContext, opts: SwitchOptions): Promise<SwitchResult> {
  const exec = ctx.policy.failover_execution;
  await ctx.controls.checkpoint();
  const weights = Object.fromEntries(Object.keys(opts.before.weights).map((id) => [id, id === opts.target ? opts.targetWeight : 0]));
  const catchUpMs = requireMs(exec.consistency_check.timeout);
  const { switchover } = wf.proxyActivities<Activities>({
    // A lost worker is noticed in seconds (heartbeats), and the section is never run twice at once.
    startToCloseTimeout: catchUpMs + requireMs(exec.step_timeout),
    heartbeatTimeout: STEP_HEARTBEAT,
    retry: { maximumAttempts: 3, initialInterval: '200ms', nonRetryableErrorTypes: ['GenerationConflict', 'CatchUp', 'NoReplication'] },
  });
  const result = await ctx.log.run(
    'switch section',
    () =>
      wf.CancellationScope.nonCancellable(() =>
        switchover(ctx.serviceArg, {
          source: opts.source,
          target: opts.target,
          sourceUp: opts.sourceUp,
          expected: opts.before,
          weights,
          holdMs: requireMs(exec.fence_timeout),
          catchUpTimeoutMs: catchUpMs,
          ...(opts.acceptLag !== undefined ? { acceptLag: opts.acceptLag } : {}),
        }),
      ),
    (r) => ({ detail: `writes paused ${r.pausedMs}ms; ${opts.source} → ${opts.target}`, numbers: { pausedMs: r.pausedMs } }),
  );
  for (const s of result.steps) await ctx.log.note(s.name, 'ok', s.detail, { ms: s.ms, ...(s.numbers ?? {}) });
  if (!opts.sourceUp) await ctx.log.note('fence source', 'skipped', 'source unreachable; fenced at the router by the switch');
  ctx.onRouting(result.routing);
  const rpo = opts.sourceUp ? result.rpo : emergencyRpo(opts);
  return { after: result.routing, switchedAt: result.switchedAtMs, rpo };
}

function emergencyRpo(opts: SwitchOptions): SwitchResult['rpo'] {
  // The estimate is the lag at the last observation; writes acknowledged after it are not in it.
  return opts.sourceLastSeen !== undefined && opts.targetOffset !== undefined
    ? {
        lag: Math.max(0, opts.sourceLastSeen - opts.targetOffset),
        note: `source ${opts.source} unreachable; lag at the last observation: source offset ${opts.sourceLastSeen} (last seen by detection) − target offset ${opts.targetOffset}; writes acknowledged after that observation are not counted`,
      }
    : {
        lag: null,
        note: `source ${opts.source} unreachable and never observed; writes acknowledged after the target's offset ${opts.targetOffset ?? '?'} may be lost`,
      };
}

/** The switch step by step, as runs that started before `atomic-switch` recorded it (kept for their replay). */
async function switchStepByStep(ctx: RunbookContext, opts: SwitchOptions): Promise<SwitchResult> {
  const { source, target } = opts;
  const exec = ctx.policy.failover_execution;
  const undo = new Compensations();
  let rpo: SwitchResult['rpo'];
  try {
    if (opts.sourceUp) {
      const holdMs = requireMs(exec.fence_timeout);
      await ctx.controls.checkpoint();
      await ctx.log.run(
        'fence source',
        () => ctx.act.fence(ctx.serviceArg, source, holdMs),
        (f) => ({ detail: f.detail, numbers: { holdMs } }),
      );
      undo.push(`fence ${source}`, () => ctx.act.unfence(ctx.serviceArg, source));
      // With writes paused, the target must reach the source's last offset: then nothing acknowledged is lost.
      const caught = await ctx.log.run(
        'catch up',
        () => ctx.waiting.waitForLag(ctx.serviceArg, source, target, 0, requireMs(exec.consistency_check.timeout)),
        lagNumbers,
      );
      // An approved gate accepted a loss up front; otherwise the target must be exactly caught up.
      if (!caught.ok && opts.acceptLag === undefined) {
        throw wf.ApplicationFailure.nonRetryable(`replica did not catch up with writes fenced: ${caught.verdict}`, 'CatchUp');
      }
      rpo = caught.ok
        ? { lag: 0, note: `target at source offset ${caught.reading.sourceOffset} with writes fenced` }
        : { lag: caught.reading.lag, note: `lag ${caught.reading.lag} accepted by approval (${caught.verdict})` };
    } else {
      rpo = emergencyRpo(opts);
      await ctx.log.note('fence source', 'skipped', 'source unreachable; fenced at the router by the switch below');
    }
    await ctx.controls.checkpoint();
    await ctx.log.run(
      'promote target',
      () => ctx.act.promote(ctx.serviceArg, target),
      (p) => ({ detail: p.detail }),
    );
    if (opts.sourceUp) undo.push(`promote ${target}`, () => ctx.act.follow(ctx.serviceArg, target, source));
    const weights = Object.fromEntries(Object.keys(opts.before.weights).map((id) => [id, id === target ? opts.targetWeight : 0]));
    // Lower first: the fenced source leaves the pool before the promoted target joins it.
    const after = await applyRouting(ctx, 'switch routing', weights, opts.before, true);
    const switchedAt = Date.now();
    undo.clear(); // point of no return: see the doc comment
    await ctx.log.run(
      'cut old sessions',
      () => ctx.act.cutSessions(ctx.serviceArg, source),
      () => ({ detail: `connections to ${source} closed` }),
    );
    if (opts.sourceUp)
      await ctx.log.run(
        'demote source',
        () => ctx.act.follow(ctx.serviceArg, source, target),
        (f) => ({ detail: f.detail }),
      );
    return { after, switchedAt, rpo };
  } catch (err) {
    await undo.unwind(ctx.log);
    throw err;
  }
}
