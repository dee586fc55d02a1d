import type { WorkflowHandle } from '@temporalio/client';
import { statusQuery } from '../api/queries';
import { EXIT, type ExitCode } from './errors';
import { progressLines, type LiveStatus } from './progress';
import { failureOf } from './runbooks';
import type { CommandContext } from './session';
import type { RunbookResultLike, RunOutcome } from './views';

const POLL_MS = 500;

/**
 * Follows a running runbook to its end: polls its `status` query and prints what changed as it
 * lands (steps with their numbers, approval waits, pauses, a maintenance window's end), then
 * returns how it ended. `print` gets each line; `seen` is what the caller already showed.
 */
export async function followRunbook(
  ctx: CommandContext,
  handle: WorkflowHandle,
  base: { service: string; kind: string; workflowId: string; runId: string },
  print: (line: string) => void,
  seen?: LiveStatus,
): Promise<RunOutcome> {
  let prev = seen;
  let ended: RunOutcome | undefined;
  const result = handle.result().then(
    (r) => void (ended = { ...base, status: 'completed', result: r as RunbookResultLike }),
    (err: unknown) => {
      const failure = failureOf(err);
      if (!failure) throw err;
      const { details, ...rest } = failure;
      ended = { ...base, status: 'failed', failure: rest, ...(details && typeof details === 'object' ? { result: details as RunbookResultLike } : {}) };
    },
  );
  let queryTrouble = false;
  while (!ended) {
    try {
      const status = (await ctx.withWorker('status query', () => handle.query(statusQuery))) as LiveStatus;
      for (const line of progressLines(prev, status, base.service, new Date(), ctx.cliPrefix())) print(line);
      prev = status;
      queryTrouble = false;
    } catch (err) {
      // A worker restarting, or the runbook ending between two looks: say it once and keep following.
      if (!queryTrouble && !ended) print(`  (status not available: ${(err as Error).message}; still waiting for the result)`);
      queryTrouble = true;
    }
    await Promise.race([result, new Promise((r) => setTimeout(r, POLL_MS))]);
  }
  await result;
  const outcome = ended as RunOutcome;
  // The last steps may have landed after the last look: the result (or the failure's details) has them all.
  const steps = outcome.result?.steps;
  if (steps) {
    // A run that completed was resumed, even when it ended between two looks.
    const controls = prev && outcome.status === 'completed' ? { ...prev.controls, paused: false } : prev?.controls;
    const last: LiveStatus = prev ? { ...prev, steps, controls: controls! } : ({ phase: 'done', steps, controls: { paused: false } } as unknown as LiveStatus);
    for (const line of progressLines(prev, { ...last, phase: 'done' }, base.service, new Date(), ctx.cliPrefix())) print(line);
  }
  return outcome;
}

/** The exit code of a runbook that was waited for: 0 when it did what it was started for. */
export function outcomeExit(o: RunOutcome): ExitCode {
  return o.status === 'completed' && o.result?.outcome !== 'rolled-back' ? EXIT.ok : EXIT.failed;
}
