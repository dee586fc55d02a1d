import { setMaxListeners } from 'node:events';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { fmtDuration } from './format';

/** How activities read in progress lines (the runbook's own step names where they map one to one). */
const ACTIVITY_LABEL: Record<string, string> = {
  loadService: 'config snapshot loaded',
  readRouting: 'routing read',
  probe: 'destination probed',
  probeRepeatedly: 'health validation',
  measureLag: 'replication lag measured',
  waitForLag: 'replication lag gate',
  fence: 'source fenced (writes paused)',
  unfence: 'source unfenced',
  promote: 'target promoted',
  applyRouting: 'routing switched',
  switchover: 'switched: fence, catch up, promote, route, cut sessions, demote',
  cutSessions: 'old sessions cut',
  follow: 'replication pointed (REPLICAOF)',
  validateStep: 'validation',
  validateEntrypoint: 'entrypoint checked',
  raiseAlert: 'alert event sent',
  inspectDivergence: 'divergence recorded',
  keepDivergentCopy: 'divergent copy kept',
  runbookResult: 'earlier run read',
};

/** A timer's user-metadata summary (plain JSON payload), or ''. */
function summaryOf(e: temporal.api.history.v1.IHistoryEvent): string {
  const data = e.userMetadata?.summary?.data;
  if (!data) return '';
  try {
    return String(JSON.parse(Buffer.from(data).toString('utf8')));
  } catch {
    return '';
  }
}

const ms = (d: temporal.api.history.v1.ITimerStartedEventAttributes['startToFireTimeout']) =>
  d ? Number(d.seconds ?? 0) * 1000 + Math.round((d.nanos ?? 0) / 1e6) : 0;

/**
 * Prints a line per runbook step as its history grows (activities, waits, child runbooks, operator
 * updates), read with the server's long poll on the history: no query, so no worker is asked and
 * the runbook is not disturbed. Ends when the run closes or `signal` aborts.
 */
export async function followProgress(client: Client, execution: { workflowId: string; runId: string }, print: (line: string) => void, signal: AbortSignal): Promise<void> {
  const scheduled = new Map<string, string>();
  const started = Date.now();
  const at = () => `+${fmtDuration(Date.now() - started)}`;
  // One abort listener per long poll on the same signal.
  setMaxListeners(0, signal);
  let nextPageToken: Uint8Array | undefined;
  while (!signal.aborted) {
    const page = await client.connection.withAbortSignal(signal, () =>
      client.workflowService.getWorkflowExecutionHistory({
        namespace: client.options.namespace,
        execution,
        waitNewEvent: true,
        ...(nextPageToken ? { nextPageToken } : {}),
      }),
    );
    for (const e of page.history?.events ?? []) {
      const id = String(e.eventId);
      if (e.activityTaskScheduledEventAttributes) scheduled.set(id, e.activityTaskScheduledEventAttributes.activityType?.name ?? 'activity');
      const done = e.activityTaskCompletedEventAttributes;
      if (done) {
        const type = scheduled.get(String(done.scheduledEventId)) ?? 'activity';
        if (type !== 'loadService') print(`  ${at().padStart(8)}  ✔ ${ACTIVITY_LABEL[type] ?? type}`);
      }
      const failed = e.activityTaskFailedEventAttributes;
      if (failed) print(`  ${at().padStart(8)}  ✘ ${ACTIVITY_LABEL[scheduled.get(String(failed.scheduledEventId)) ?? ''] ?? 'activity'}: ${failed.failure?.message ?? 'failed'}`);
      const timer = e.timerStartedEventAttributes;
      // The RTO objective's timer runs beside the runbook; it is no step of it.
      const objective = /max_failover_time/.test(summaryOf(e));
      if (timer && !objective && ms(timer.startToFireTimeout) >= 2000) {
        print(`  ${at().padStart(8)}  … waiting up to ${fmtDuration(ms(timer.startToFireTimeout))} (a soak, or an approval: see status)`);
      }
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes;
      if (child) print(`  ${at().padStart(8)}  ▶ ${child.workflowType?.name ?? 'child runbook'}`);
      const update = e.workflowExecutionUpdateAcceptedEventAttributes;
      if (update) print(`  ${at().padStart(8)}  ✔ ${update.acceptedRequest?.input?.name ?? 'update'} received`);
    }
    const token = page.nextPageToken;
    if (!token || token.length === 0) return; // the run has closed
    nextPageToken = token;
  }
}
