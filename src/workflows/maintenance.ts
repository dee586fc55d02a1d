import * as wf from '@temporalio/workflow';
import type { MaintenanceResult, MaintenanceSkipped } from '../api/results';
import { requireMs } from '../domain/duration';
import { fmtWeights, fullWeight, primaryOf, type Routing } from '../domain/routing';
import { maintenanceInputSchema, type MaintenanceInput, type MaintenanceRequest } from '../domain/runbook-input';
import { planDrain, scaleOne, type DrainMode, type DrainPlan } from '../domain/runbook-plan';
import { lagGate } from './consistency-check';
import { AbortedError } from './controls';
import { moveTraffic } from './move-traffic';
import { restoreDestination } from './restore-destination';
import { readRouting } from './routing-steps';
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
  return Runbook.run<typeof maintenanceInputSchema, MaintenanceResult | MaintenanceSkipped>('maintenance', maintenanceInputSchema, input, runMaintenance, (req) => ({
    always: true,
    summary: `maintenance of ${req.destination} (${req.service}) for ${req.window}`,
    busy: (lockId) => {
      const reason = `service ${req.service} already has a running runbook (${lockId}); maintenance of ${req.destination} skipped, nothing changed`;
      return { reason, result: { service: req.service, destination: req.destination, window: req.window, outcome: 'skipped', reason, heldBy: lockId } };
    },
  }));
}

async function runMaintenance(req: MaintenanceRequest, rb: Runbook): Promise<MaintenanceResult> {
  const { ctx } = rb;
  const status = rb.status as MaintenanceStatus;
  const { service, policy, log } = ctx;
  const exec = policy.failover_execution;
  const dest = req.destination;
  rb.requireDestination(dest, 'input.destination');
  const m: NonNullable<MaintenanceStatus['maintenance']> = { destination: dest, window: req.window, stage: 'plan' };
  status.maintenance = m;
  status.source = dest;
  wf.upsertMemo({ destination: dest, window: req.window });

  // Observe: where traffic is, who is up.
  const { before, probes } = await rb.observe();
  // Plan: where the destination's traffic goes; never below redundancy_level without a person agreeing.
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
    await rb.gate(drainPlan.approval);
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
      const moved = await moveTraffic(rb, {
        source: dest, target, sourceUp: true, before,
        targetWeight: fullWeight(service.destinations.find((d) => d.id === target)!.weight),
        steps: drainPlan.steps,
        ...(drainPlan.plan ? { plan: drainPlan.plan } : {}),
        ...(probes[target]!.offset !== undefined ? { targetOffset: probes[target]!.offset } : {}),
      });
      if (isSetback(moved)) rb.end(moved, () => partial('drain'));
      drained = moved.after;
      rpo = moved.rpo;
    }
  } catch (err) {
    return rb.fail(err, { left: `${dest} was not drained (steps taken before it were undone)`, note: true });
  }

  // Hold: a durable timer, so a worker or server restart during the window changes nothing.
  m.stage = 'hold';
  rb.enter('holding');
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
  rb.enter('validating');
  const current = await readRouting(ctx);
  status.routingCurrent = current;
  const carrier = drainPlan.mode === 'proportional' ? drainPlan.target! : primaryOf(current);
  status.source = carrier;
  status.target = dest;
  try {
    // Only a resync or a failback needs a destination carrying traffic.
    if (!carrier && (singleWriter || drainPlan.mode !== 'idle')) refuse(`service ${service.name} has no destination carrying traffic now`, 'NoSource');
    const w0 = before.weights[dest] ?? 0;
    const restored = await restoreDestination(rb, {
      destination: dest,
      primary: carrier ?? dest,
      before: current,
      failback: drainPlan.mode !== 'idle',
      ...(drainPlan.mode === 'proportional' ? { plan: scaleOne(current.weights, dest, w0, drainPlan.steps, 'up') } : {}),
    });
    if (isSetback(restored)) rb.end(restored, () => partial('restore'));
    await rb.done(restored.said);
    m.stage = 'done';
    const result = finish(restored.after, drained, hold, restored.outcome, rpo);
    await log.note('maintenance complete', 'ok', `${dest} back (${restored.outcome}); routing ${fmtWeights(restored.after.weights)}`);
    return result;
  } catch (err) {
    rb.enter('failed');
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
