import * as wf from '@temporalio/workflow';
import type { FailoverResult } from '../api/results';
import { failoverInputSchema, type FailoverInput } from '../domain/runbook-input';
import { failoverGate, failoverResult, planFailoverRun } from './failover-steps';
import { moveTraffic } from './move-traffic';
import { isSetback, Runbook } from './runbook-kit';

export type { FailoverResult };

/**
 * Failover or planned switchover of one service. Single-writer replication (Redis): gate → fence →
 * catch-up → promote → switch → demote → validate, reversed if validation fails. Independent
 * destinations: weights shift in the configured steps with a soak and validation after each, and
 * the starting routing is restored on a failed validation or an abort.
 */
export async function failover(input: FailoverInput): Promise<FailoverResult> {
  return Runbook.run('failover', failoverInputSchema, input, async (request, rb) => {
    rb.status.planned = request.planned;
    if (request.to !== undefined) rb.requireDestination(request.to, 'input.to');
    // Observe: where traffic is now, who is up.
    const { before, probes } = await rb.observe();
    // Plan: source, target, steps and what needs a person; a refused plan ends the run here.
    const plan = await planFailoverRun(rb, request, before, probes);
    const { source, target } = plan;
    const result = (end: Parameters<typeof failoverResult>[4]) => failoverResult(rb, request, plan, before, end);
    try {
      // Gate: consistency and approval. Nothing has changed yet, so an abort here simply ends the runbook.
      const gate = await failoverGate(rb, plan);
      await rb.gate(gate.reasons, gate.onTimeout);
      // Move: switch or ramp, validated; put back when it does not hold.
      const moved = await moveTraffic(rb, {
        source,
        target,
        sourceUp: plan.sourceUp,
        before,
        targetWeight: plan.targetWeight,
        steps: plan.steps,
        ...(probes[target]!.offset !== undefined ? { targetOffset: probes[target]!.offset } : {}),
        ...(gate.acceptLag !== undefined ? { acceptLag: gate.acceptLag } : {}),
        ...(request.lastSeenOffsets?.[source] !== undefined ? { sourceLastSeen: request.lastSeenOffsets[source] } : {}),
      });
      if (isSetback(moved)) return rb.end(moved, (s) => result({ outcome: 'rolled-back', ...s }));
      // Finish: traffic on the target, with the RTO and RPO it took.
      const startedAtMs = wf.workflowInfo().startTime.getTime();
      rb.status.rtoMs = moved.switchedAt - startedAtMs;
      await rb.done(`traffic on ${target}; RTO ${rb.status.rtoMs}ms; RPO ${moved.rpo.lag ?? 'unknown'}`, {
        rtoMs: rb.status.rtoMs,
        firstShiftMs: moved.firstShiftAt - startedAtMs,
        rpo: moved.rpo.lag,
      });
      return result({ outcome: 'switched', ...moved });
    } catch (err) {
      return rb.fail(err, { left: 'nothing was switched (steps taken before it were undone)', note: true });
    }
  });
}
