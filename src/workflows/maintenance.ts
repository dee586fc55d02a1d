import * as wf from '@temporalio/workflow';
import type { ProbeResult } from '../activities';
import type { MaintenanceResult, MaintenanceSkipped } from '../api/results';
import { requireMs } from '../domain/duration';
import { fmtWeights, fullWeight, primaryOf, type Routing } from '../domain/routing';
import { maintenanceInputSchema, type MaintenanceInput, type MaintenanceRequest } from '../domain/runbook-input';
import { planDrain, scaleOne, type DrainMode, type DrainPlan } from '../domain/runbook-plan';
import { lagGate } from './consistency-check';
import { AbortedError } from './controls';
import { moveTraffic } from './move-traffic';
import { restoreDestination } from './restore-destination';
import { isSetback, refuse, Runbook } from './runbook-kit';
import type { RunbookStatus } from './runbook-frame';
import { errorMessage } from './runbook-steps';
import type { RunbookContext } from './switching';

export type { DrainMode, MaintenanceResult, MaintenanceSkipped };

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
  return Runbook.run<typeof maintenanceInputSchema, MaintenanceResult | MaintenanceSkipped>(
    'maintenance',
    maintenanceInputSchema,
    input,
    runMaintenance,
    (req) => ({
      always: true,
      summary: `maintenance of ${req.destination} (${req.service}) for ${req.window}`,
      busy: (lockId) => {
        const reason = `service ${req.service} already has a running runbook (${lockId}); maintenance of ${req.destination} skipped, nothing changed`;
        return { reason, result: { service: req.service, destination: req.destination, window: req.window, outcome: 'skipped', reason, heldBy: lockId } };
      },
    }),
  );
}

async function runMaintenance(req: MaintenanceRequest, rb: Runbook): Promise<MaintenanceResult> {
  const status = rb.status as MaintenanceStatus;
  const { service, log } = rb.ctx;
  const dest = req.destination;
  rb.requireDestination(dest, 'input.destination');
  const m: Stage = { destination: dest, window: req.window, stage: 'plan' };
  status.maintenance = m;
  status.source = dest;
  wf.upsertMemo({ destination: dest, window: req.window });
  // Observe: where traffic is, who is up.
  const { before, probes } = await rb.observe();
  // Plan: where the destination's traffic goes; never below redundancy_level without a person agreeing.
  const plan = await planMaintenance(rb, req, before, probes);
  const partial = (stage: string) => ({
    service: service.name,
    destination: dest,
    window: req.window,
    stage,
    routingBefore: before,
    routingAfter: status.routingCurrent,
    steps: log.steps,
  });
  // Gate and drain. Nothing is held yet, so an abort or a failure here leaves the routing it started from.
  let drained: { after: Routing; rpo?: MaintenanceResult['drain']['rpo'] };
  try {
    await rb.gate(plan.approval);
    m.stage = 'drain';
    const moved = await drain(rb, plan, dest, before, probes);
    if (isSetback(moved)) rb.end(moved, () => partial('drain'));
    drained = moved;
  } catch (err) {
    return rb.fail(err, { left: `${dest} was not drained (steps taken before it were undone)`, note: true });
  }
  // Hold: a durable timer, so a worker or server restart during the window changes nothing.
  m.stage = 'hold';
  rb.enter('holding');
  const hold = await holdWindow(rb.ctx, m, dest, req.window);
  // Restore: from the routing as it is now, so a change made by hand during the window is not overwritten blindly.
  m.stage = 'restore';
  rb.enter('validating');
  const current = await rb.rereadRouting();
  const carrier = plan.mode === 'proportional' ? plan.target! : primaryOf(current);
  status.source = carrier;
  status.target = dest;
  try {
    // Only a resync or a failback needs a destination carrying traffic.
    if (!carrier && (plan.singleWriter || plan.mode !== 'idle')) refuse(`service ${service.name} has no destination carrying traffic now`, 'NoSource');
    const restored = await restoreDestination(rb, {
      destination: dest,
      primary: carrier ?? dest,
      before: current,
      failback: plan.mode !== 'idle',
      ...(plan.mode === 'proportional' ? { plan: scaleOne(current.weights, dest, before.weights[dest] ?? 0, plan.steps, 'up') } : {}),
    });
    if (isSetback(restored)) rb.end(restored, () => partial('restore'));
    await rb.done(restored.said);
    // Finish.
    m.stage = 'done';
    const result: MaintenanceResult = {
      service: service.name,
      destination: dest,
      window: req.window,
      outcome: 'restored',
      drain: { mode: plan.mode, ...(plan.target && plan.mode !== 'idle' ? { movedTo: plan.target } : {}), ...(drained.rpo ? { rpo: drained.rpo } : {}) },
      hold,
      restore: restored.outcome,
      redundancy: { allowed: plan.redundancy.allowed, reasons: plan.redundancy.reasons },
      ...(status.controls.approval ? { approval: status.controls.approval } : {}),
      routingBefore: before,
      routingDrained: drained.after,
      routingAfter: restored.after,
      steps: log.steps,
    };
    await log.note('maintenance complete', 'ok', `${dest} back (${restored.outcome}); routing ${fmtWeights(restored.after.weights)}`);
    return result;
  } catch (err) {
    rb.enter('failed');
    const where = carrier ? `traffic stays on ${carrier}` : 'routing left as it is';
    const why = err instanceof AbortedError ? err.message : errorMessage(err);
    await log.note('restore failed', 'failed', why);
    refuse(
      `maintenance window of ${dest} is over but it was not brought back: ${why}; it stays drained and ${where}; start a recovery runbook for it when it is ready`,
      err instanceof AbortedError ? 'Aborted' : 'RestoreFailed',
      partial('restore'),
    );
  }
}

type Stage = NonNullable<MaintenanceStatus['maintenance']>;
type MaintenancePlan = DrainPlan & { mode: DrainMode };

/** The drain plan (src/domain/runbook-plan.ts), recorded with its redundancy check; a refused plan ends the run here. */
async function planMaintenance(rb: Runbook, req: MaintenanceRequest, before: Routing, probes: Record<string, ProbeResult>): Promise<MaintenancePlan> {
  const { service, policy, log } = rb.ctx;
  const status = rb.status as MaintenanceStatus;
  const dest = req.destination;
  const plan = planDrain({ service, policy, routing: before, probes, destination: dest, trigger: req.trigger === 'manual' ? 'manual' : 'automatic' });
  if (plan.mode) status.maintenance!.mode = plan.mode;
  if (plan.target) status.target = plan.target;
  if (plan.refusal) refuse(plan.refusal.message, plan.refusal.type);
  const { mode, redundancy } = plan as MaintenancePlan;
  await log.note('plan', 'ok', `drain ${dest} for ${req.window}: ${plan.describe}`, { mode, ...(plan.target ? { target: plan.target } : {}) });
  // Invariant: never below redundancy_level healthy backups without a person agreeing (the plan checked it).
  await log.note('redundancy check', 'ok', `${redundancy.allowed ? 'allowed' : 'needs approval'}: ${redundancy.reasons.join('; ')}`, {
    backupsBefore: redundancy.before.backups.total,
    backupsAfter: redundancy.after.backups.total,
    required: redundancy.after.required.total,
  });
  return plan as MaintenancePlan;
}

/** Moves the destination's traffic away (a single writer: after a consistency gate), or notes that it carries none. */
async function drain(rb: Runbook, plan: MaintenancePlan, dest: string, before: Routing, probes: Record<string, ProbeResult>) {
  const { ctx } = rb;
  const exec = ctx.policy.failover_execution;
  if (plan.mode === 'idle') {
    await ctx.controls.checkpoint();
    await ctx.log.note('drain', 'skipped', `${dest} carries no traffic (weight 0${plan.singleWriter ? ', a replica' : ''}): nothing routes to it`);
    return { after: before };
  }
  const target = plan.target!;
  if (plan.singleWriter && exec.consistency_check.enabled) {
    // Gate before fencing, so writes are paused only for the last few bytes of catch-up.
    const verdict = await lagGate(ctx, {
      step: 'consistency gate',
      tag: 'consistency',
      source: dest,
      target,
      maxLag: exec.consistency_check.max_lag,
      timeout: exec.consistency_check.timeout,
    });
    if (!verdict.ok)
      refuse(`planned maintenance needs ${target} caught up with ${dest} before the switchover: ${verdict.verdict}; nothing changed`, 'NotConsistent');
  }
  return moveTraffic(rb, {
    source: dest,
    target,
    sourceUp: true,
    before,
    targetWeight: fullWeight(ctx.service.destinations.find((d) => d.id === target)!.weight),
    steps: plan.steps,
    ...(plan.plan ? { plan: plan.plan } : {}),
    ...(probes[target]!.offset !== undefined ? { targetOffset: probes[target]!.offset } : {}),
  });
}

/** The `maintenance window` step: the destination held drained until the window ends (or an abort ends it early). */
async function holdWindow(ctx: RunbookContext, m: Stage, dest: string, window: string): Promise<MaintenanceResult['hold']> {
  const holdStart = Date.now();
  m.windowEndsAt = new Date(holdStart + requireMs(window)).toISOString();
  const endedEarly = await ctx.log.run(
    'maintenance window',
    () => waitOutWindow(ctx, dest, window),
    (e) => ({
      detail: e ? `ended early by ${e.by}: ${e.reason}` : `${dest} held drained for ${window}`,
      numbers: { heldMs: Date.now() - holdStart },
    }),
  );
  if (endedEarly) m.endedEarly = endedEarly;
  return {
    startedAt: new Date(holdStart).toISOString(),
    endedAt: new Date().toISOString(),
    heldMs: Date.now() - holdStart,
    ...(endedEarly ? { endedEarly } : {}),
  };
}

/**
 * The maintenance window. `abort` ends it early (and the runbook goes on to bring the destination
 * back); `pause` holds the runbook past the window's end until `resume`.
 */
async function waitOutWindow(ctx: RunbookContext, dest: string, window: string): Promise<{ by: string; reason: string } | undefined> {
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
