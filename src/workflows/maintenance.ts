import * as wf from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '../api/errors';
import { requireMs } from '../domain/duration';
import { fullWeight, primaryOf, type Routing } from '../domain/routing';
import { maintenanceInputSchema, type MaintenanceInput, type MaintenanceRequest } from '../domain/runbook-input';
import { runbookSearchAttributes } from '../domain/search-attributes';
import { planDrain, scaleOne, unknownDestination, type DrainMode, type DrainPlan } from '../domain/runbook-plan';
import { runbookWorkflowId } from '../domain/workflow-ids';
import { lagGate } from './consistency-check';
import { AbortedError, type ControlState } from './controls';
import { labelRunbook } from './labels';
import { moveTraffic } from './move-traffic';
import { restoreDestination } from './recovery';
import { failRunbook, readRouting } from './runbook-end';
import { approvalGate, openRunbook, parseInput, refuse, type RunbookStatus } from './runbook-frame';
import { errorMessage, type StepRecord } from './runbook-steps';
import { fmtWeights, readRoutingAndProbe, type RunbookContext } from './switching';
import { refuseForgedActor } from './actor-check';

export type { DrainMode };

export interface MaintenanceResult {
  service: string;
  destination: string;
  window: string;
  outcome: 'restored';
  drain: { mode: DrainMode; movedTo?: string; rpo?: { lag: number | null; note: string } };
  hold: { startedAt: string; endedAt: string; heldMs: number; endedEarly?: { by: string; reason: string } };
  /** `failed-back`: it carries its traffic again; `standby-restored`: it is a healthy standby, as before. */
  restore: 'failed-back' | 'standby-restored';
  redundancy: { allowed: boolean; reasons: string[] };
  approval?: ControlState['approval'];
  routingBefore: Routing;
  routingDrained: Routing;
  routingAfter: Routing;
  steps: StepRecord[];
}

/** A start that found another runbook holding the service: nothing was touched. */
export interface MaintenanceSkipped {
  service: string;
  destination: string;
  window: string;
  outcome: 'skipped';
  reason: string;
  heldBy: string;
}

interface MaintenanceStatus extends RunbookStatus {
  maintenance?: {
    destination: string;
    window: string;
    stage: 'plan' | 'drain' | 'hold' | 'restore' | 'done';
    mode?: DrainMode;
    windowEndsAt?: string;
    endedEarly?: { by: string; reason: string };
  };
}

/**
 * Planned maintenance of one destination: redundancy check (approval when the drain would leave
 * fewer healthy backups than `redundancy_level`) → zero-loss drain → hold for the window (a durable
 * timer; `abort` ends it early, `pause` extends it until `resume`) → bring it back with validation.
 *
 * It always runs under the service's lock id `runbook-<service>`. Started under another id (a
 * Temporal Schedule appends the scheduled time to the id it is given; the Web UI form takes any
 * id), it starts itself under the lock id and returns that run's result, or `skipped` when another
 * runbook holds the service.
 */
export async function maintenance(input: MaintenanceInput): Promise<MaintenanceResult | MaintenanceSkipped> {
  const req = parseInput(maintenanceInputSchema, input, 'maintenance');
  refuseForgedActor('maintenance', req);
  const lockId = runbookWorkflowId(req.service);
  if (wf.workflowInfo().workflowId !== lockId) return underLock(req, lockId);
  return runMaintenance(req);
}

async function underLock(req: MaintenanceRequest, lockId: string): Promise<MaintenanceResult | MaintenanceSkipped> {
  labelRunbook('maintenance', req.service, req.trigger);
  const title = `### maintenance · ${req.service}\n\n`;
  let child: wf.ChildWorkflowHandle<typeof maintenance>;
  try {
    child = await wf.startChild(maintenance, {
      workflowId: lockId,
      args: [req],
      // The lock holder lives its own life: ending this starter must never cut a drain short.
      parentClosePolicy: 'ABANDON',
      cancellationType: 'ABANDON',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      typedSearchAttributes: runbookSearchAttributes(req.service, 'maintenance', req.trigger),
      staticSummary: `maintenance of ${req.destination} (${req.service}) for ${req.window}`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const reason = `service ${req.service} already has a running runbook (${lockId}); maintenance of ${req.destination} skipped, nothing changed`;
    wf.setCurrentDetails(`${title}– skipped: ${reason}`);
    return { service: req.service, destination: req.destination, window: req.window, outcome: 'skipped', reason, heldBy: lockId };
  }
  wf.setCurrentDetails(`${title}runs as \`${lockId}\` (run ${child.firstExecutionRunId}): send approve / pause / resume / abort there`);
  return child.result();
}

async function runMaintenance(req: MaintenanceRequest): Promise<MaintenanceResult> {
  const { ctx, status: baseStatus } = await openRunbook('maintenance', req);
  const status = baseStatus as MaintenanceStatus;
  const { service, policy, log } = ctx;
  const exec = policy.failover_execution;
  const dest = req.destination;
  const unknown = unknownDestination(service, dest, 'input.destination', 'maintenance');
  if (unknown) refuse(unknown);
  const m: NonNullable<MaintenanceStatus['maintenance']> = { destination: dest, window: req.window, stage: 'plan' };
  status.maintenance = m;
  status.source = dest;
  wf.upsertMemo({ destination: dest, window: req.window });

  // Plan: where traffic is, who is up, where the destination's traffic goes.
  const { before, probes } = await readRoutingAndProbe(ctx, status);
  const drainPlan = planDrain({ service, policy, routing: before, probes, destination: dest, trigger: req.trigger === 'manual' ? 'manual' : 'automatic' });
  if (drainPlan.mode) m.mode = drainPlan.mode;
  if (drainPlan.target) status.target = drainPlan.target;
  if (drainPlan.refusal) refuse(drainPlan.refusal.message, drainPlan.refusal.type);
  const { mode, singleWriter, redundancy } = drainPlan as DrainPlan & { mode: DrainMode };
  await log.note('plan', 'ok', `drain ${dest} for ${req.window}: ${drainPlan.describe}`, { mode, ...(drainPlan.target ? { target: drainPlan.target } : {}) });

  // Invariant: never below redundancy_level healthy backups without a person agreeing (the plan checked it).
  await log.note('redundancy check', 'ok', `${redundancy.allowed ? 'allowed' : 'needs approval'}: ${redundancy.reasons.join('; ')}`, {
    backupsBefore: redundancy.before.backups.total, backupsAfter: redundancy.after.backups.total, required: redundancy.after.required.total,
  });

  const finish = (after: Routing, drained: Routing, hold: MaintenanceResult['hold'], restore: MaintenanceResult['restore'], rpo?: MaintenanceResult['drain']['rpo']): MaintenanceResult => ({
    service: service.name,
    destination: dest,
    window: req.window,
    outcome: 'restored',
    drain: { mode, ...(drainPlan.target && drainPlan.mode !== 'idle' ? { movedTo: drainPlan.target } : {}), ...(rpo ? { rpo } : {}) },
    hold,
    restore,
    redundancy: { allowed: redundancy.allowed, reasons: redundancy.reasons },
    ...(status.controls.approval ? { approval: status.controls.approval } : {}),
    routingBefore: before,
    routingDrained: drained,
    routingAfter: after,
    steps: log.steps,
  });
  const partial = (stage: string) => ({ service: service.name, destination: dest, window: req.window, stage, routingBefore: before, routingAfter: status.routingCurrent, steps: log.steps });

  // Drain. Nothing is held yet, so an abort or a failure here leaves the routing it started from.
  let drained = before;
  let rpo: MaintenanceResult['drain']['rpo'];
  try {
    if (drainPlan.approval.length > 0) await approvalGate(ctx, status, drainPlan.approval);
    m.stage = 'drain';
    if (drainPlan.mode === 'idle') {
      await ctx.controls.checkpoint();
      await log.note('drain', 'skipped', `${dest} carries no traffic (weight 0${singleWriter ? ', a replica' : ''}): nothing routes to it`);
    } else {
      const target = drainPlan.target!;
      if (singleWriter && exec.consistency_check.enabled) {
        // Gate before fencing, so writes are paused only for the last few bytes of catch-up.
        const verdict = await lagGate(ctx, { step: 'consistency gate', tag: 'consistency', source: dest, target, maxLag: exec.consistency_check.max_lag, timeout: exec.consistency_check.timeout });
        if (!verdict.ok) refuse(`planned maintenance needs ${target} caught up with ${dest} before the switchover: ${verdict.verdict}; nothing changed`, 'NotConsistent');
      }
      const moved = await moveTraffic(ctx, status, {
        source: dest, target, sourceUp: true, before,
        targetWeight: fullWeight(service.destinations.find((d) => d.id === target)!.weight),
        steps: drainPlan.steps,
        ...(drainPlan.plan ? { plan: drainPlan.plan } : {}),
        ...(probes[target]!.offset !== undefined ? { targetOffset: probes[target]!.offset } : {}),
        rolledBack: () => partial('drain'),
      });
      drained = moved.after;
      rpo = moved.rpo;
    }
  } catch (err) {
    return failRunbook(ctx, status, err, { left: `${dest} was not drained (steps taken before it were undone)`, note: true });
  }

  // Hold: a durable timer, so a worker or server restart during the window changes nothing.
  m.stage = 'hold';
  status.phase = 'holding';
  const holdStart = Date.now();
  m.windowEndsAt = new Date(holdStart + requireMs(req.window)).toISOString();
  const endedEarly = await log.run('maintenance window', () => holdWindow(ctx, dest, req.window), (e) => ({
    detail: e ? `ended early by ${e.by}: ${e.reason}` : `${dest} held drained for ${req.window}`,
    numbers: { heldMs: Date.now() - holdStart },
  }));
  if (endedEarly) m.endedEarly = endedEarly;
  const hold: MaintenanceResult['hold'] = {
    startedAt: new Date(holdStart).toISOString(), endedAt: new Date().toISOString(), heldMs: Date.now() - holdStart, ...(endedEarly ? { endedEarly } : {}),
  };

  // Restore: from the routing as it is now, so a change made by hand during the window is not overwritten blindly.
  m.stage = 'restore';
  status.phase = 'validating';
  const current = await readRouting(ctx);
  status.routingCurrent = current;
  const carrier = drainPlan.mode === 'proportional' ? drainPlan.target! : primaryOf(current);
  status.source = carrier;
  status.target = dest;
  try {
    // Only a resync or a failback needs a destination carrying traffic.
    if (!carrier && (singleWriter || drainPlan.mode !== 'idle')) refuse(`service ${service.name} has no destination carrying traffic now`, 'NoSource');
    const w0 = before.weights[dest] ?? 0;
    const restored = await restoreDestination(ctx, status, {
      destination: dest,
      primary: carrier ?? dest,
      before: current,
      failback: drainPlan.mode !== 'idle',
      ...(drainPlan.mode === 'proportional' ? { plan: scaleOne(current.weights, dest, w0, drainPlan.steps, 'up') } : {}),
      rolledBack: () => partial('restore'),
    });
    m.stage = 'done';
    const result = finish(restored.after, drained, hold, restored.outcome, rpo);
    await log.note('maintenance complete', 'ok', `${dest} back (${restored.outcome}); routing ${fmtWeights(restored.after.weights)}`);
    return result;
  } catch (err) {
    status.phase = 'failed';
    const where = carrier ? `traffic stays on ${carrier}` : 'routing left as it is';
    const why = err instanceof AbortedError ? err.message : errorMessage(err);
    await log.note('restore failed', 'failed', why);
    refuse(`maintenance window of ${dest} is over but it was not brought back: ${why}; it stays drained and ${where}; start a recovery runbook for it when it is ready`, err instanceof AbortedError ? 'Aborted' : 'RestoreFailed', partial('restore'));
  }
}

/**
 * The maintenance window. `abort` ends it early (and the runbook goes on to bring the destination
 * back); `pause` holds the runbook past the window's end until `resume`.
 */
async function holdWindow(ctx: RunbookContext, dest: string, window: string): Promise<{ by: string; reason: string } | undefined> {
  const c = ctx.controls.state;
  await wf.condition(() => !!c.abort, window, { summary: `${dest} drained for maintenance (${window})` });
  await wf.condition(() => !c.paused || !!c.abort);
  if (!c.abort) return undefined;
  const early = { ...c.abort };
  // Consumed here: the abort ends the window (and any pause), and must not stop the restore.
  delete c.abort;
  c.paused = false;
  delete c.pausedBy;
  return early;
}
