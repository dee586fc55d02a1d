import * as wf from '@temporalio/workflow';
import type { Activities, ServiceSnapshot } from '../activities';
import { requireMs } from '../domain/duration';
import { isConsistent } from '../domain/consistency';
import { serviceArgOf } from '../api/service-ref';
import { consistencyInputSchema, type ConsistencyInput } from '../domain/runbook-input';
import { describeIssues } from '../domain/validation';
import { labelRunbook } from './labels';
import type { RunbookContext } from './switching';

export interface ConsistencyVerdict {
  ok: boolean;
  lag: number;
  maxLag: number;
  sourceOffset: number;
  targetOffset: number;
  /** The target replicates from the source and its link is live. */
  linked: boolean;
  waitedMs: number;
  verdict: string;
}

/**
 * Waits until the target's lag behind the source is within bound on a live replication link, or
 * the deadline passes; the verdict names the numbers. A replica whose link is down is never
 * "consistent", whatever lag it last reported.
 */
export async function consistencyCheck(input: ConsistencyInput): Promise<ConsistencyVerdict> {
  const parsed = consistencyInputSchema.safeParse(input ?? {}, { reportInput: true });
  if (!parsed.success)
    throw wf.ApplicationFailure.nonRetryable(
      `invalid consistency check input:\n  - ${describeIssues(parsed.error.issues, 'input').join('\n  - ')}`,
      'InvalidInput',
    );
  const req = parsed.data;
  labelRunbook('consistency-check', req.service, 'manual');
  const { loadService } = wf.proxyActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 5 } });
  const snapshot: ServiceSnapshot = await loadService(req.service);
  const { service, policy } = snapshot;
  const maxLag = req.maxLag ?? policy.failover_execution.consistency_check.max_lag;
  const timeout = req.timeout ?? policy.failover_execution.consistency_check.timeout;
  const timeoutMs = requireMs(timeout);
  const { waitForLag } = wf.proxyActivities<Activities>({
    startToCloseTimeout: timeoutMs + 30_000,
    // It beats every second: a worker lost mid-wait costs about this long.
    heartbeatTimeout: '3s',
    retry: { maximumAttempts: 3, initialInterval: '500ms' },
  });
  wf.setCurrentDetails(`### consistency check · ${service.name}\n\n${req.target} behind ${req.source}: waiting for lag ≤ ${maxLag} (up to ${timeout})`);
  const v = await waitForLag(serviceArgOf(snapshot), req.source, req.target, maxLag, timeoutMs);
  // The rule is decided here too, with this run's bound (the activity's `ok` follows the same rule).
  const ok = isConsistent(v.reading, maxLag);
  wf.setCurrentDetails(`### consistency check · ${service.name}\n\n${ok ? '✔' : '✘'} ${v.verdict}`);
  return {
    ok,
    lag: v.reading.lag,
    maxLag,
    sourceOffset: v.reading.sourceOffset,
    targetOffset: v.reading.targetOffset,
    linked: v.reading.linked,
    waitedMs: v.waitedMs,
    verdict: v.verdict,
  };
}

/**
 * A runbook's lag gate: runs the consistency check as a child (its own history and UI summary) and
 * records the verdict with its numbers as the step `step`.
 */
export async function lagGate(
  ctx: Pick<RunbookContext, 'service' | 'log' | 'features'>,
  o: { step: string; tag: string; source: string; target: string; maxLag: number; timeout: string },
): Promise<ConsistencyVerdict> {
  // Not from the workflow's random numbers: tracing's workflow interceptors draw span ids from them,
  // so a random id would differ on replay once tracing is turned on or off.
  const info = wf.workflowInfo();
  const suffix = ctx.features.gateIdFromRun ? `${info.runId.slice(0, 8)}-${ctx.log.steps.length}` : wf.uuid4().slice(0, 8);
  const verdict = await wf.executeChild(consistencyCheck, {
    workflowId: `${info.workflowId}/${o.tag}-${suffix}`,
    args: [{ service: ctx.service.name, source: o.source, target: o.target, maxLag: o.maxLag, timeout: o.timeout }],
    staticSummary: `${o.tag} gate: ${o.target} behind ${o.source}`,
  });
  await ctx.log.note(o.step, verdict.ok ? 'ok' : 'failed', verdict.verdict, {
    lag: verdict.lag,
    maxLag: verdict.maxLag,
    sourceOffset: verdict.sourceOffset,
    targetOffset: verdict.targetOffset,
    linked: verdict.linked,
  });
  return verdict;
}
