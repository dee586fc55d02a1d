import * as wf from '@temporalio/workflow';
import { requireMs } from '../domain/duration';
import { mayDrainWithoutApproval } from '../domain/redundancy';
import { checkNotAllDown, primaryOf, type Routing } from '../domain/routing';
import { maintenanceInputSchema, type MaintenanceInput, type MaintenanceRequest } from '../domain/runbook-input';
import { runbookKindKey, serviceKey, triggerKey } from '../domain/search-attributes';
import { chooseTarget, failoverTargets, tierRulesOf } from '../domain/tiers';
import { runbookWorkflowId } from '../domain/workflow-ids';
import { lagGate } from './consistency-check';
import { AbortedError, type ControlState } from './controls';
import { labelRunbook } from './labels';
import { moveTraffic } from './move-traffic';
import { restoreDestination } from './recovery';
import { approvalGate, openRunbook, parseInput, refuse, type RunbookStatus } from './runbook-frame';
import { errorMessage, type StepRecord } from './runbook-steps';
import { fmtWeights, isSingleWriter, readRoutingAndProbe, type RampStep, type RunbookContext } from './switching';

/**
 * How the destination is drained: `switchover` (single writer: fenced, zero-lag switch to a
 * replica), `shift` (independent: its traffic ramps over to one other destination), `proportional`
 * (independent, others carry traffic too: its weight ramps to 0 and the rest absorb it by weight),
 * `idle` (it carries no traffic; nothing routes to it).
 */
export type DrainMode = 'switchover' | 'shift' | 'proportional' | 'idle';

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
      typedSearchAttributes: [
        { key: serviceKey, value: req.service },
        { key: runbookKindKey, value: 'maintenance' },
        { key: triggerKey, value: req.trigger },
      ],
      staticSummary: `maintenance of ${req.destination} (${req.service}) for ${req.window}`,
    });
  } catch (err) {
    if (!(err instanceof Error && err.name === 'WorkflowExecutionAlreadyStartedError')) throw err;
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
  const ids = service.destinations.map((d) => d.id);
  if (!ids.includes(dest)) {
    refuse(`invalid maintenance input:\n  - input.destination: no destination ${JSON.stringify(dest)} in service ${service.name} (has ${ids.join(', ')})`);
  }
  const m: NonNullable<MaintenanceStatus['maintenance']> = { destination: dest, window: req.window, stage: 'plan' };
  status.maintenance = m;
  status.source = dest;
  wf.upsertMemo({ destination: dest, window: req.window });

  // Plan: where traffic is, who is up, where the destination's traffic goes.
  const { before, probes, down } = await readRoutingAndProbe(ctx, status);
  const singleWriter = isSingleWriter(ctx);
  const drainPlan = planDrain(ctx, before, dest, down, singleWriter, req.trigger === 'manual' ? 'manual' : 'automatic');
  m.mode = drainPlan.mode;
  if (drainPlan.target) status.target = drainPlan.target;
  const unsafe = checkNotAllDown(drainPlan.finalWeights, down);
  if (unsafe) refuse(`draining ${dest} is unsafe: ${unsafe}`, 'UnsafeRouting');
  await log.note('plan', 'ok', `drain ${dest} for ${req.window}: ${drainPlan.describe}`, { mode: drainPlan.mode, ...(drainPlan.target ? { target: drainPlan.target } : {}) });

  // Invariant: never below redundancy_level healthy backups without a person agreeing.
  const redundancy = mayDrainWithoutApproval(
    { service, routing: before, healthy: new Set(ids.filter((id) => !down.has(id))), strategy: exec.failover_strategy, policy: policy.redundancy_management },
    [dest],
  );
  await log.note('redundancy check', 'ok', `${redundancy.allowed ? 'allowed' : 'needs approval'}: ${redundancy.reasons.join('; ')}`, {
    backupsBefore: redundancy.before.backups.total, backupsAfter: redundancy.after.backups.total, required: redundancy.after.required.total,
  });

  const finish = (after: Routing, drained: Routing, hold: MaintenanceResult['hold'], restore: MaintenanceResult['restore'], rpo?: MaintenanceResult['drain']['rpo']): MaintenanceResult => ({
    service: service.name,
    destination: dest,
    window: req.window,
    outcome: 'restored',
    drain: { mode: drainPlan.mode, ...(drainPlan.target && drainPlan.mode !== 'idle' ? { movedTo: drainPlan.target } : {}), ...(rpo ? { rpo } : {}) },
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
    const approvalReasons: string[] = [];
    if (exec.approval.required) approvalReasons.push('policy requires approval');
    if (!redundancy.allowed) approvalReasons.push(`redundancy: ${redundancy.reasons.join('; ')}`);
    if (drainPlan.approval) approvalReasons.push(...drainPlan.approval);
    if (approvalReasons.length > 0) await approvalGate(ctx, status, approvalReasons);
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
        targetWeight: service.destinations.find((d) => d.id === target)!.weight || 100,
        steps: exec.gradual_failover.enabled ? exec.gradual_failover.steps : [100],
        ...(drainPlan.plan ? { plan: drainPlan.plan } : {}),
        ...(probes[target]!.offset !== undefined ? { targetOffset: probes[target]!.offset } : {}),
        rolledBack: () => partial('drain'),
      });
      drained = moved.after;
      rpo = moved.rpo;
    }
  } catch (err) {
    if (err instanceof AbortedError) {
      status.phase = 'failed';
      await log.note('aborted', 'failed', err.message);
      refuse(`${err.message}; ${dest} was not drained (steps taken before it were undone)`, 'Aborted');
    }
    if (status.phase !== 'rolled-back') status.phase = 'failed';
    throw err;
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
  const current = (await log.run('read routing', () => ctx.act.readRouting(service), (r) => ({
    detail: `generation ${r.routing.generation}: ${fmtWeights(r.routing.weights)}`,
    numbers: { generation: r.routing.generation },
  }))).routing;
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
      ...(drainPlan.mode === 'proportional' ? { plan: scaleOne(current.weights, dest, w0, exec.gradual_failover.enabled ? exec.gradual_failover.steps : [100], 'up') } : {}),
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

interface DrainPlan {
  mode: DrainMode;
  /** Where its traffic goes (switchover/shift), or the destination validated while it drains (proportional). */
  target?: string;
  plan?: RampStep[];
  finalWeights: Record<string, number>;
  describe: string;
  /** Region rules that ask for a person (e.g. approval_for_cross_region). */
  approval?: string[];
}

function planDrain(ctx: RunbookContext, before: Routing, dest: string, down: ReadonlySet<string>, singleWriter: boolean, trigger: 'manual' | 'automatic'): DrainPlan {
  const { service } = ctx;
  const w0 = before.weights[dest] ?? 0;
  if (w0 === 0) {
    if (singleWriter && !primaryOf(before)) refuse(`service ${service.name} has no destination carrying traffic for ${dest} to resync from after the window`, 'NoSource');
    return { mode: 'idle', finalWeights: before.weights, describe: `${dest} carries no traffic; routing stays ${fmtWeights(before.weights)}` };
  }
  if (down.has(dest)) {
    refuse(`planned maintenance drains a healthy destination, but ${dest} is down and carries traffic; start a failover runbook instead`, 'SourceDown');
  }
  const gradual = ctx.policy.failover_execution.gradual_failover;
  const steps = gradual.enabled ? gradual.steps : [100];
  const others = Object.entries(before.weights)
    .filter(([id, w]) => id !== dest && w > 0 && !down.has(id))
    .sort(([a, wa], [b, wb]) => wb - wa || a.localeCompare(b));
  if (!singleWriter && others.length > 0) {
    const plan = scaleOne(before.weights, dest, w0, steps, 'down');
    return {
      mode: 'proportional', target: others[0]![0], plan, finalWeights: plan[plan.length - 1]!.weights,
      describe: `weight of ${dest} ramps ${w0} → 0 in steps ${steps.join('/')}%; ${others.map(([id]) => id).join(', ')} absorb it by weight`,
    };
  }
  // Same zone, other zone, other region, under the same region rules as a failover.
  const chosen = chooseTarget(failoverTargets(service, dest, { unavailable: down, trigger, rules: tierRulesOf(ctx.policy.failover_execution) }));
  const target = chosen.target?.id;
  if (!target) refuse(`no destination may take the traffic of ${dest}: ${chosen.reasons.join('; ')} (down: ${[...down].join(', ') || 'none'})`, 'NoTarget');
  const approval = chosen.target!.approvalRequired ? chosen.target!.reasons : undefined;
  const finalWeights = Object.fromEntries(Object.keys(before.weights).map((id) => [id, id === dest ? 0 : id === target ? (before.weights[id] ?? 0) + w0 : before.weights[id]!]));
  return singleWriter
    ? { mode: 'switchover', target, finalWeights, describe: `planned switchover ${dest} → ${target} (fence, catch up to lag 0, promote, switch, demote)`, ...(approval ? { approval } : {}) }
    : { mode: 'shift', target, finalWeights, describe: `traffic shifts ${dest} → ${target} in steps ${steps.join('/')}%`, ...(approval ? { approval } : {}) };
}

/** Steps that take one destination's weight from w0 to 0 ('down') or from 0 back to w0 ('up'), the rest unchanged. */
function scaleOne(weights: Record<string, number>, dest: string, w0: number, percents: number[], direction: 'down' | 'up'): RampStep[] {
  return percents.map((p) => ({ percent: p, weights: { ...weights, [dest]: Math.round((w0 * (direction === 'down' ? 100 - p : p)) / 100) } }));
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
