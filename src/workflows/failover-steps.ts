import * as wf from '@temporalio/workflow';
import type { ProbeResult } from '../activities';
import type { FailoverResult } from '../api/results';
import { primaryOf, type Routing } from '../domain/routing';
import type { FailoverRequest } from '../domain/runbook-input';
import { planFailover, type FailoverPlan } from '../domain/runbook-plan';
import { lagGate } from './consistency-check';
import { refuse, type Runbook } from './runbook-kit';

/** The failover runbook's plan, gate and result, each one step of failover.ts. */

export type PlannedFailover = FailoverPlan & {
  source: string;
  target: string;
  /** The source's last observation by detection (emergency RPO, target check). */
  sourceLastSeen?: { offset: number; atMs: number };
  /** What the result's RPO rests on, when the target was checked. */
  observed: Pick<FailoverResult['rpo'], 'source' | 'target'>;
};

/** Plans the failover (src/domain/runbook-plan.ts) and records it; a refused plan ends the run here, nothing changed. */
export async function planFailoverRun(rb: Runbook, request: FailoverRequest, before: Routing, probes: Record<string, ProbeResult>): Promise<PlannedFailover> {
  const { ctx, status, log } = rb;
  const primary = primaryOf(before);
  const lastSeen = primary !== undefined ? request.lastSeenOffsets?.[primary] : undefined;
  const sourceLastSeen =
    primary !== undefined && lastSeen !== undefined
      ? { offset: lastSeen, atMs: request.lastSeenAt?.[primary] ?? wf.workflowInfo().startTime.getTime() }
      : undefined;
  const plan = planFailover({
    service: ctx.service,
    policy: ctx.policy,
    routing: before,
    probes,
    planned: request.planned,
    trigger: request.trigger === 'manual' ? 'manual' : 'automatic',
    checkSync: ctx.features.targetSync,
    nowMs: Date.now(),
    ...(request.to !== undefined ? { to: request.to } : {}),
    ...(request.prefer ? { prefer: request.prefer } : {}),
    ...(sourceLastSeen ? { sourceLastSeen } : {}),
    ...(request.acceptDataLoss ? { acceptDataLoss: { by: request.actor ?? 'operator' } } : {}),
  });
  if (plan.source) status.source = plan.source;
  if (plan.refusal && !plan.refusal.afterTargetCheck) refuse(plan.refusal.message, plan.refusal.type);
  const { source, target, targetCheck, acceptedLoss } = plan as PlannedFailover;
  status.target = target;
  status.emergency = plan.emergency;
  await log.note('plan', 'ok', plan.describe);
  wf.upsertMemo({ source, target });
  if (targetCheck) {
    const loss = targetCheck.estimatedLoss;
    await log.note('target check', targetCheck.safe ? 'ok' : 'failed', targetCheck.reasons.join('; '), {
      estimatedLoss: loss,
      maxLag: ctx.policy.failover_execution.consistency_check.max_lag,
    });
    if (acceptedLoss)
      await log.note('accept data loss', 'ok', `promoting ${target} anyway, accepted by ${acceptedLoss.by}: estimated loss ${loss ?? 'unknown'}`, {
        estimatedLoss: loss,
      });
    if (plan.refusal) refuse(plan.refusal.message, plan.refusal.type);
  }
  const observed = { ...(sourceLastSeen ? { source: sourceLastSeen } : {}), ...(probes[target]?.replication ? { target: probes[target]!.replication } : {}) };
  return { ...plan, source, target, ...(sourceLastSeen ? { sourceLastSeen } : {}), observed };
}

/**
 * What asks a person before the move: the plan's reasons, a single writer's consistency gate
 * (lag over the bound, or a link down), and an unsafe target a detection-started run found (it
 * waits for a person, and silence never promotes it). `acceptLag`: the loss an approval accepts.
 */
export async function failoverGate(rb: Runbook, plan: PlannedFailover): Promise<{ reasons: string[]; onTimeout: 'abort' | 'proceed'; acceptLag?: number }> {
  const exec = rb.ctx.policy.failover_execution;
  const reasons = [...plan.approval];
  let acceptLag: number | undefined;
  if (plan.singleWriter && plan.sourceUp && exec.consistency_check.enabled) {
    const { source, target } = plan;
    const verdict = await lagGate(rb.ctx, {
      step: 'consistency gate',
      tag: 'consistency',
      source,
      target,
      maxLag: exec.consistency_check.max_lag,
      timeout: exec.consistency_check.timeout,
    });
    if (!verdict.ok) {
      reasons.push(verdict.linked ? `lag ${verdict.lag} exceeds the bound ${verdict.maxLag}` : `replication link down: ${verdict.verdict}`);
      acceptLag = verdict.lag;
    }
  }
  if (plan.unsafeTarget) {
    reasons.push(plan.unsafeTarget);
    acceptLag = plan.targetCheck?.estimatedLoss ?? 0;
  }
  if (acceptLag === undefined && plan.acceptedLoss) acceptLag = plan.acceptedLoss.estimate ?? 0;
  return { reasons, onTimeout: plan.unsafeTarget !== undefined ? 'abort' : exec.approval.default_action, ...(acceptLag !== undefined ? { acceptLag } : {}) };
}

/** The runbook's result (or, rolled back, its failure's details). */
export function failoverResult(
  rb: Runbook,
  request: FailoverRequest,
  plan: PlannedFailover,
  before: Routing,
  end: { outcome: FailoverResult['outcome']; after: Routing; switchedAt: number; rpo: { lag: number | null; note: string } },
): FailoverResult {
  const { status } = rb;
  return {
    service: rb.ctx.service.name,
    source: plan.source,
    target: plan.target,
    planned: request.planned,
    emergency: !plan.sourceUp,
    outcome: end.outcome,
    routingBefore: before,
    routingAfter: end.after,
    rtoMs: end.switchedAt - wf.workflowInfo().startTime.getTime(),
    rpo: { ...end.rpo, ...(plan.targetCheck ? plan.observed : {}), ...(plan.acceptedLoss ? { acceptedLoss: plan.acceptedLoss } : {}) },
    ...(status.controls.approval ? { approval: status.controls.approval } : {}),
    ...(status.objective ? { objective: status.objective } : {}),
    steps: rb.log.steps,
  };
}
