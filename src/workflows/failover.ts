import * as wf from '@temporalio/workflow';
import { chooseTarget, failoverTargets, tierRulesOf } from '../domain/tiers';
import { checkNotAllDown, primaryOf, type Routing } from '../domain/routing';
import { failoverInputSchema, type FailoverInput, type FailoverRequest } from '../domain/runbook-input';
import { AbortedError } from './controls';
import { lagGate } from './consistency-check';
import { approvalGate, openRunbook, parseInput, refuse, underLock, type RunbookStatus } from './runbook-frame';
import type { StepRecord } from './runbook-steps';
import { moveTraffic } from './move-traffic';
import { isSingleWriter, readRoutingAndProbe } from './switching';
import { requireMs } from '../domain/duration';
import { checkFailoverTarget, type ReplicationObservation, type TargetCheck } from '../domain/sync';

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

  const ids = service.destinations.map((d) => d.id);
  if (request.to !== undefined && !ids.includes(request.to)) {
    refuse(`invalid failover input:\n  - input.to: no destination ${JSON.stringify(request.to)} in service ${service.name} (has ${ids.join(', ')})`);
  }

  // Plan: where traffic is now, who is up, where it goes.
  const { before, probes, down } = await readRoutingAndProbe(ctx, status);
  const source = primaryOf(before);
  if (!source) refuse(`service ${service.name} has no destination carrying traffic; nothing to fail over from`, 'NoSource');
  status.source = source;
  const sourceUp = !down.has(source);
  if (request.planned && !sourceUp) {
    refuse(`planned switchover needs a healthy source, but ${source} is down (${probes[source]!.error}); start an unplanned failover instead`, 'SourceDown');
  }
  // Same zone, other zone, other region; the region rules decide what may be entered and how.
  const options = failoverTargets(service, source, { unavailable: down, trigger: request.trigger === 'manual' ? 'manual' : 'automatic', rules: tierRulesOf(exec), ...(request.prefer ? { order: request.prefer } : {}) });
  // Single writer: a target must be a copy of the source (a returned old primary, an empty restart, a replica whose link broke long ago is not).
  const sourceLastSeen = request.lastSeenOffsets?.[source] !== undefined ? { offset: request.lastSeenOffsets[source]!, atMs: request.lastSeenAt?.[source] ?? wf.workflowInfo().startTime.getTime() } : undefined;
  const syncChecked = ctx.features.targetSync && isSingleWriter(ctx);
  const checkTarget = (id: string): TargetCheck =>
    checkFailoverTarget({
      service, source, target: id, sourceUp, maxLag: exec.consistency_check.max_lag, maxLinkDownMs: requireMs(exec.max_link_down), nowMs: Date.now(),
      ...(probes[id]?.replication ? { targetObs: probes[id]!.replication } : {}),
      ...(sourceLastSeen ? { sourceLastSeen } : {}),
    });
  let chosen = request.to !== undefined ? options.find((o) => o.id === request.to) : chooseTarget(options).target;
  if (syncChecked && request.to === undefined) chosen = chooseTarget(options.filter((o) => checkTarget(o.id).safe)).target ?? chosen;
  const target = request.to ?? chosen?.id;
  if (!target) refuse(`no destination may take the traffic of ${source}: ${chooseTarget(options).reasons.join('; ')} (down: ${[...down].join(', ') || 'none'})`, 'NoTarget');
  if (chosen && !chosen.allowed) refuse(`target ${target} refused: ${chosen.reasons.join('; ')}`, 'Blocked');
  if (target === source) refuse(`invalid failover input:\n  - input.to: ${JSON.stringify(target)} already carries the traffic of ${service.name}`);
  if (down.has(target)) refuse(`target ${target} is down (${probes[target]!.error}); refusing to route traffic to it`, 'TargetDown');
  status.target = target;
  status.emergency = !sourceUp;
  const singleWriter = isSingleWriter(ctx);
  const targetWeight = service.destinations.find((d) => d.id === target)!.weight || 100;
  const finalWeights = Object.fromEntries(ids.map((id) => [id, id === target ? targetWeight : 0]));
  const unsafe = checkNotAllDown(finalWeights, down);
  if (unsafe) refuse(unsafe, 'UnsafeRouting');
  await log.note('plan', 'ok', `${source} → ${target}${status.emergency ? ' (emergency: source down, no gradual steps)' : ''}${request.planned ? ' (planned)' : ''}${singleWriter ? ' (single writer)' : ''}`);
  wf.upsertMemo({ source, target });
  const targetCheck = syncChecked ? checkTarget(target) : undefined;
  let acceptedLoss: FailoverResult['rpo']['acceptedLoss'];
  if (targetCheck) {
    const loss = targetCheck.estimatedLoss;
    await log.note('target check', targetCheck.safe ? 'ok' : 'failed', targetCheck.reasons.join('; '), { estimatedLoss: loss, maxLag: exec.consistency_check.max_lag });
    if (!targetCheck.safe && request.acceptDataLoss) {
      acceptedLoss = { by: request.actor ?? 'operator', estimate: loss };
      await log.note('accept data loss', 'ok', `promoting ${target} anyway, accepted by ${acceptedLoss.by}: estimated loss ${loss ?? 'unknown'}`, { estimatedLoss: loss });
    } else if (!targetCheck.safe && request.trigger === 'manual') {
      refuse(
        `target ${target} does not hold all of ${source}'s data: ${targetCheck.reasons.join('; ')}; promoting it would lose ${loss === null ? 'an unknown amount of' : `an estimated ${loss} bytes of`} acknowledged writes. ` +
          'To promote it anyway, start again with --accept-data-loss (input "acceptDataLoss": true); nothing was changed',
        'TargetUnsynced',
      );
    }
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
    const approvalReasons: string[] = [];
    let acceptLag: number | undefined;
    if (exec.approval.required) approvalReasons.push('policy requires approval');
    if (chosen?.approvalRequired) approvalReasons.push(...chosen.reasons);
    if (singleWriter && sourceUp && exec.consistency_check.enabled) {
      const verdict = await lagGate(ctx, { step: 'consistency gate', tag: 'consistency', source, target, maxLag: exec.consistency_check.max_lag, timeout: exec.consistency_check.timeout });
      if (!verdict.ok) {
        approvalReasons.push(verdict.linked ? `lag ${verdict.lag} exceeds the bound ${verdict.maxLag}` : `replication link down: ${verdict.verdict}`);
        acceptLag = verdict.lag;
      }
    }
    // Detection-started: an unsafe target waits for a person, and silence never promotes it.
    const unsafeTarget = targetCheck && !targetCheck.safe && !acceptedLoss;
    if (unsafeTarget) {
      const loss = targetCheck.estimatedLoss;
      approvalReasons.push(`${targetCheck.reasons.join('; ')}; promoting ${target} would lose ${loss === null ? 'an unknown amount of' : `an estimated ${loss} bytes of`} acknowledged writes`);
      acceptLag = loss ?? 0;
    }
    if (approvalReasons.length > 0) await approvalGate(ctx, status, approvalReasons, unsafeTarget ? 'abort' : exec.approval.default_action);

    const moved = await moveTraffic(ctx, status, {
      source, target, sourceUp, before: before, targetWeight,
      steps: !sourceUp || !exec.gradual_failover.enabled ? [100] : exec.gradual_failover.steps,
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
    if (err instanceof AbortedError) {
      status.phase = 'failed';
      await log.note('aborted', 'failed', err.message);
      refuse(`${err.message}; nothing was switched (steps taken before it were undone)`, 'Aborted');
    }
    if (status.phase !== 'rolled-back') status.phase = 'failed';
    throw err;
  }
}

