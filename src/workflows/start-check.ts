import * as wf from '@temporalio/workflow';
import { startVerdict, type StartIdentity, type StartPolicy, type StartSignature } from '../domain/start-auth';

/**
 * Establishes who started this runbook (start-auth.ts) from its config snapshot: a signed start is
 * verified, an unsigned one recorded as claimed, a forged or stale signature (or an unsigned start
 * where signed ones are required) ends the run before it does anything.
 */
export function checkStart(
  kind: string,
  req: { service: string; actor?: string | undefined; reason?: string | undefined; startSignature?: StartSignature | undefined },
  policy: StartPolicy,
): StartIdentity {
  const info = wf.workflowInfo();
  // Started under another id (the Web UI form), the run continues as a child under the lock id: the statement names the first.
  const workflowIds = [info.workflowId, ...(info.parent ? [info.parent.workflowId] : [])];
  const verdict = startVerdict(policy, req, { kind, service: req.service, workflowIds, startMs: info.startTime.getTime() });
  if ('identity' in verdict) return verdict.identity;
  wf.log.warn('start refused', { kind, service: req.service, actor: req.actor, reason: verdict.refusal });
  throw wf.ApplicationFailure.create({ message: `start of ${kind} refused: ${verdict.refusal}`, type: 'Unauthorized', nonRetryable: true });
}

/** One line for the step log and the Web UI. */
export function describeStarter(s: StartIdentity): string {
  return `${s.name ?? '(no name given)'}: ${s.verified ? 'verified' : 'unverified'} (${s.how})`;
}
