import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import type { FailoverInput } from '../../src/domain/runbook-input';
import type { FailoverResult } from '../../src/workflows/failover';

export function runFailover(client: Client, taskQueue: string, input: FailoverInput, workflowId = `failover-${randomUUID()}`) {
  return client.workflow.execute('failover', { taskQueue, workflowId, args: [input], workflowExecutionTimeout: '2m' }) as Promise<FailoverResult>;
}

/** The ApplicationFailure a runbook failed with (its type and message), or throws if it did not fail. */
export async function failureOf(p: Promise<unknown>): Promise<{ type: string | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    // The failure may come straight from the workflow or wrapped in the activity that raised it.
    let cause: unknown = err.cause;
    while (cause instanceof Error && !(cause instanceof ApplicationFailure)) cause = cause.cause;
    if (cause instanceof ApplicationFailure) return { type: cause.type ?? undefined, message: cause.message };
    throw err;
  }
  throw new Error('expected the runbook to fail, but it completed');
}

/** The reason an update was rejected (validator) or failed, as the operator would see it. */
export async function rejectionOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    let e: unknown = err;
    while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error) e = (e as { cause: Error }).cause;
    return e instanceof Error ? e.message : String(e);
  }
  throw new Error('expected the update to be rejected, but it was accepted');
}
