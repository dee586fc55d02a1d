import * as wf from '@temporalio/workflow';
import { isReservedActor } from '../domain/control-auth';

/**
 * A runbook whose `actor` is a name the system acts under (`detection`, `schedule …`, `supervisor`,
 * `redundancy`) must have been started by the system: by another workflow (detection, redundancy,
 * the lock's starter) or by a Temporal Schedule. Started by hand with such an actor, it would forge
 * the audit trail, so it is refused. Decided in the run's first activation (a patch).
 */
export function refuseForgedActor(kind: string, req: { service: string; actor?: string | undefined }): void {
  if (req.actor === undefined || !isReservedActor(req.actor) || !wf.patched('reserved-actors')) return;
  const info = wf.workflowInfo();
  if (info.parent) return;
  if (req.actor.trim().toLowerCase().startsWith('schedule') && startedBySchedule(info)) return;
  throw wf.ApplicationFailure.create({
    message: `invalid ${kind} input:\n  - input.actor: "${req.actor}" is a name the system acts under; a person starts a runbook under their own name`,
    type: 'InvalidInput',
    nonRetryable: true,
  });
}

/** The server sets TemporalScheduledById (a system search attribute) on the runs a Schedule starts. */
function startedBySchedule(info: wf.WorkflowInfo): boolean {
  const scheduled = (info.searchAttributes as Record<string, unknown> | undefined)?.TemporalScheduledById;
  return Array.isArray(scheduled) ? scheduled.length > 0 : scheduled !== undefined;
}
