import * as wf from '@temporalio/workflow';
import { planFailover, unknownDestination, type FailoverPlan } from '../domain/runbook-plan';
import { primaryOf, type Routing } from '../domain/routing';
import { failoverInputSchema, type FailoverInput, type FailoverRequest } from '../domain/runbook-input';
import { lagGate } from './consistency-check';
import { failRunbook } from './runbook-end';
import { approvalGate, openRunbook, parseInput, refuse, underLock, type RunbookStatus } from './runbook-frame';
import type { StepRecord } from './runbook-steps';
import { moveTraffic } from './move-traffic';
import { readRoutingAndProbe } from './switching';
import type { ReplicationObservation } from '../domain/sync';

export interface FailoverResult {
  service: string;
  source: string;
  target: string;
  planned: boolean;
  emergency: boolean;
  outcome: 'switched' | 'rolled-back';
  routingBefore: Routing;
  routingAfter: Routing;
  /** Trigger (runbook start) to traffic moved, in ms. */
  rtoMs: number;
  /** What the switch may have lost, in the replication driver's units; null when it could not be measured. */
  rpo: {
    lag: number | null;
    note: string;
    /** The observations the estimate and the target choice rest on. */
    source?: { offset: number; atMs: number };
    target?: ReplicationObservation;
    /** A target known not to hold all of the source's data was promoted: who accepted it. */
    acceptedLoss?: { by: string; estimate: number | null };
  };
  approval?: RunbookStatus['controls']['approval'];
  /** performance.max_failover_time, and whether this run exceeded it (see runbook-frame). */
  objective?: RunbookStatus['objective'];
  steps: StepRecord[];
}

export function parseFailoverInput(raw: unknown): FailoverRequest {
  return parseInput(failoverInputSchema, raw, 'failover');
}

/**
 * Failover or planned switchover of one service. Single-writer replication (Redis): gate → fence →
 * catch-up → promote → switch → demote → validate, reversed if validation fails. Independent
 * destinations: weights shift in the configured steps with a soak and validation after each, and
 * the starting routing is restored on a failed validation or an abort.
 */
export async function failover(input: FailoverInput): Promise<FailoverResult> {
  const request = parseFailoverInput(input);
  return underLock('failover', request, input, () => runFailover(request));
}

async function runFailover(request: ReturnType<typeof parseFailoverInput>): Promise<FailoverResult> {
  const { ctx, status } = await openRunbook('failover', request);
  const { service, policy, log } = ctx;
  const exec = policy.failover_execution;
  status.planned = request.planned;

  const unknown = request.to !== undefined ? unknownDestination(service, request.to, 'input.to', 'failover') : undefined;
  if (unknown) refuse(unknown);

  // Plan: where traffic is now, who is up, where it goes.
  const { before, probes } = await readRoutingAndProbe(ctx, status);
  const primary = primaryOf(before);
  const lastSeen = primary !== undefined ? request.lastSeenOffsets?.[primary] : undefined;
  const sourceLastSeen = primary !== undefined && lastSeen !== undefined ? { offset: lastSeen, atMs: request.lastSeenAt?.[primary] ?? wf.workflowInfo().startTime.getTime() } : undefined;
  const plan = planFailover({
    service, policy, routing: before, probes, planned: request.planned, trigger: request.trigger === 'manual' ? 'manual' : 'automatic',
    checkSync: ctx.features.targetSync, nowMs: Date.now(),
    ...(request.to !== undefined ? { to: request.to } : {}),
    ...(request.prefer ? { prefer: request.prefer } : {}),
    ...(sourceLastSeen ? { sourceLastSeen } : {}),
    ...(request.acceptDataLoss ? { acceptDataLoss: { by: request.actor ?? 'operator' } } : {}),
  });
  if (plan.source) status.source = plan.source;
  if (plan.refusal && !plan.refusal.afterTargetCheck) refuse(plan.refusal.message, plan.refusal.type);
  const { source, target, sourceUp, singleWriter, targetWeight, targetCheck, acceptedLoss } = plan as Required<Pick<FailoverPlan, 'source' | 'target'>> & FailoverPlan;
  status.target = target;
  status.emergency = plan.emergency;
  await log.note('plan', 'ok', plan.describe);
  wf.upsertMemo({ source, target });
  if (targetCheck) {
    const loss = targetCheck.estimatedLoss;
    await log.note('target check', targetCheck.safe ? 'ok' : 'failed', targetCheck.reasons.join('; '), { estimatedLoss: loss, maxLag: exec.consistency_check.max_lag });
    if (acceptedLoss) await log.note('accept data loss', 'ok', `promoting ${target} anyway, accepted by ${acceptedLoss.by}: estimated loss ${loss ?? 'unknown'}`, { estimatedLoss: loss });
    if (plan.refusal) refuse(plan.refusal.message, plan.refusal.type);
  }
  const observed = { ...(sourceLastSeen ? { source: sourceLastSeen } : {}), ...(probes[target]?.replication ? { target: probes[target]!.replication } : {}) };

  const startedAtMs = wf.workflowInfo().startTime.getTime();
  const finish = (outcome: FailoverResult['outcome'], after: Routing, switchedAt: number, rpo: FailoverResult['rpo']): FailoverResult => ({
    service: service.name,
    source,
    target,
    planned: request.planned,
    emergency: !sourceUp,
    outcome,
    routingBefore: before,
    routingAfter: after,
    rtoMs: switchedAt - startedAtMs,
    rpo: { ...rpo, ...(targetCheck ? observed : {}), ...(acceptedLoss ? { acceptedLoss } : {}) },
    ...(status.controls.approval ? { approval: status.controls.approval } : {}),
    ...(status.objective ? { objective: status.objective } : {}),
    steps: log.steps,
  });

  try {
    // Consistency gate and approval: nothing has changed yet, so an abort here simply ends the runbook.
    const approvalReasons = [...plan.approval];
    let acceptLag: number | undefined;
    if (singleWriter && sourceUp && exec.consistency_check.enabled) {
      const verdict = await lagGate(ctx, { step: 'consistency gate', tag: 'consistency', source, target, maxLag: exec.consistency_check.max_lag, timeout: exec.consistency_check.timeout });
      if (!verdict.ok) {
        approvalReasons.push(verdict.linked ? `lag ${verdict.lag} exceeds the bound ${verdict.maxLag}` : `replication link down: ${verdict.verdict}`);
        acceptLag = verdict.lag;
      }
    }
    // Detection-started: an unsafe target waits for a person, and silence never promotes it.
    const unsafeTarget = plan.unsafeTarget !== undefined;
    if (plan.unsafeTarget) {
      approvalReasons.push(plan.unsafeTarget);
      acceptLag = targetCheck?.estimatedLoss ?? 0;
    }
    if (approvalReasons.length > 0) await approvalGate(ctx, status, approvalReasons, unsafeTarget ? 'abort' : exec.approval.default_action);

    const moved = await moveTraffic(ctx, status, {
      source, target, sourceUp, before: before, targetWeight,
      steps: plan.steps,
      ...(probes[target]!.offset !== undefined ? { targetOffset: probes[target]!.offset } : {}),
      ...(acceptLag !== undefined ? { acceptLag } : acceptedLoss ? { acceptLag: acceptedLoss.estimate ?? 0 } : {}),
      ...(request.lastSeenOffsets?.[source] !== undefined ? { sourceLastSeen: request.lastSeenOffsets[source] } : {}),
      rolledBack: (after, switchedAt, rpo) => finish('rolled-back', after, switchedAt, rpo),
    });
    status.phase = 'done';
    status.rtoMs = moved.switchedAt - startedAtMs;
    await log.note('done', 'ok', `traffic on ${target}; RTO ${status.rtoMs}ms; RPO ${moved.rpo.lag ?? 'unknown'}`, {
      rtoMs: status.rtoMs, firstShiftMs: moved.firstShiftAt - startedAtMs, rpo: moved.rpo.lag,
    });
    return finish('switched', moved.after, moved.switchedAt, moved.rpo);
  } catch (err) {
    return failRunbook(ctx, status, err, { left: 'nothing was switched (steps taken before it were undone)', note: true });
  }
}

