import type { WorkflowHandle } from '@temporalio/client';
import type { RunbookStatus } from '../../src/api/status';
import { statusQuery } from '../../src/api/queries';

/** Polls a predicate (bounded). */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, what: string | (() => string) = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${typeof what === 'function' ? what() : what} not met within ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Queries a runbook's `status` until `pred` holds; returns that status. */
export async function statusUntil(handle: WorkflowHandle, pred: (s: RunbookStatus) => boolean, timeoutMs = 30_000): Promise<RunbookStatus> {
  let last: RunbookStatus | undefined;
  await until(
    async () => {
      last = await handle.query(statusQuery).catch(() => undefined);
      return !!last && pred(last);
    },
    timeoutMs,
    () => `status predicate (last phase ${last?.phase}, step ${last?.step})`,
  );
  return last!;
}
