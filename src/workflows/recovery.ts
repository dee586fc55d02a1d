import * as wf from '@temporalio/workflow';
import { requireMs } from '../domain/duration';
import { primaryOf, type Routing } from '../domain/routing';
import { recoveryInputSchema, type RecoveryInput } from '../domain/runbook-input';
import { consistencyCheck } from './consistency-check';
import { AbortedError } from './controls';
import { moveTraffic } from './move-traffic';
import { openRunbook, parseInput, refuse } from './runbook-frame';
import type { StepRecord } from './runbook-steps';
import { isSingleWriter } from './switching';

export interface RecoveryResult {
  service: string;
  destination: string;
  outcome: 'standby-restored' | 'failed-back' | 'rolled-back';
  routingBefore: Routing;
  routingAfter: Routing;
  steps: StepRecord[];
}

/**
 * Failback of a destination that came back: health for N consecutive intervals → resync it from
 * the current primary → lag gate → move traffic back (gradually where destinations are
 * independent) with validation → roll back if it degrades.
 */
export async function recovery(input: RecoveryInput): Promise<RecoveryResult> {
  const req = parseInput(recoveryInputSchema, input, 'recovery');
  const { ctx, status } = await openRunbook('recovery', req);
  const { service, policy, log } = ctx;
  const rec = policy.recovery_management;
  const ids = service.destinations.map((d) => d.id);
  if (!ids.includes(req.destination)) {
    refuse(`invalid recovery input:\n  - input.destination: no destination ${JSON.stringify(req.destination)} in service ${service.name} (has ${ids.join(', ')})`);
  }
  const before = (await log.run('read routing', () => ctx.act.readRouting(service), (r) => ({ detail: `generation ${r.routing.generation}`, numbers: { generation: r.routing.generation } }))).routing;
  status.routingBefore = before;
  status.routingCurrent = before;
  const primary = primaryOf(before);
  if (!primary) refuse(`service ${service.name} has no destination carrying traffic to resync from`, 'NoSource');
  if (primary === req.destination) refuse(`invalid recovery input:\n  - input.destination: ${JSON.stringify(req.destination)} already carries the traffic of ${service.name}`);
  status.source = primary;
  status.target = req.destination;
  const finish = (outcome: RecoveryResult['outcome'], after: Routing): RecoveryResult => ({
    service: service.name, destination: req.destination, outcome, routingBefore: before, routingAfter: after, steps: log.steps,
  });

  try {
    const intervalMs = requireMs(policy.failover_detection.detection_interval);
    const health = await log.run('health validation', () => ctx.waiting.probeRepeatedly(service, req.destination, rec.validation_intervals, intervalMs), (h) => ({
      detail: h.detail, numbers: { passed: h.passed, required: rec.validation_intervals },
    }));
    if (!health.ok) refuse(`${req.destination} is not healthy yet: ${health.detail}`, 'NotHealthy');
    await ctx.controls.checkpoint();

    const singleWriter = isSingleWriter(ctx);
    if (singleWriter) {
      await log.run('resync', () => ctx.act.follow(service, req.destination, primary), (f) => ({ detail: `${req.destination} follows ${primary}: ${f.detail}` }));
      const verdict = await wf.executeChild(consistencyCheck, {
        workflowId: `${wf.workflowInfo().workflowId}/resync-${wf.uuid4().slice(0, 8)}`,
        args: [{ service: service.name, source: primary, target: req.destination, maxLag: policy.failover_execution.consistency_check.max_lag, timeout: rec.resync_timeout }],
        staticSummary: `resync gate: ${req.destination} behind ${primary}`,
      });
      await log.note('lag gate', verdict.ok ? 'ok' : 'failed', verdict.verdict, { lag: verdict.lag, maxLag: verdict.maxLag });
      if (!verdict.ok) refuse(`${req.destination} did not catch up with ${primary}: ${verdict.verdict}`, 'ResyncFailed');
    }
    if (!req.failback) {
      status.phase = 'done';
      await log.note('done', 'ok', `${req.destination} is a healthy standby; traffic stays on ${primary}`);
      return finish('standby-restored', before);
    }

    const targetWeight = service.destinations.find((d) => d.id === req.destination)!.weight || 100;
    const moved = await moveTraffic(ctx, status, {
      source: primary, target: req.destination, sourceUp: true, before, targetWeight,
      steps: rec.gradual_recovery && policy.failover_execution.gradual_failover.enabled ? policy.failover_execution.gradual_failover.steps : [100],
      rolledBack: (after) => finish('rolled-back', after),
    });
    status.phase = 'done';
    await log.note('done', 'ok', `traffic back on ${req.destination}`);
    return finish('failed-back', moved.after);
  } catch (err) {
    if (err instanceof AbortedError) {
      status.phase = 'failed';
      refuse(`${err.message}; no traffic moved`, 'Aborted');
    }
    if (status.phase !== 'rolled-back') status.phase = 'failed';
    throw err;
  }
}
