import { WorkflowFailedError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { triggerKey } from '../domain/search-attributes';

/** What describe and list both return about a run. */
export type RunInfo = Omit<WorkflowExecutionInfo, 'raw'>;

/** A running runbook as the operator surfaces show it. */
export interface RunningRunbook {
  type: string;
  workflowId: string;
  runId: string;
  startTime: string;
  trigger?: string;
}

/** The latest run under a workflow id, or undefined when there never was one. */
export async function describeOrUndefined(client: Client, workflowId: string): Promise<RunInfo | undefined> {
  try {
    return await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

export function asRunning(info: RunInfo): RunningRunbook {
  const trigger = info.typedSearchAttributes.get(triggerKey);
  return {
    type: info.type,
    workflowId: info.workflowId,
    runId: info.runId,
    startTime: info.startTime.toISOString(),
    ...(trigger ? { trigger } : {}),
  };
}

/** The running execution under a workflow id, or null. */
export async function runningUnder(client: Client, workflowId: string): Promise<{ info: RunInfo; running: RunningRunbook } | null> {
  const info = await describeOrUndefined(client, workflowId);
  return info && info.status.name === 'RUNNING' ? { info, running: asRunning(info) } : null;
}

/** A finished runbook's failure as the operator should read it: its ApplicationFailure type and message. */
export function failureOf(err: unknown): { type?: string; message: string; details?: unknown } | undefined {
  if (!(err instanceof WorkflowFailedError)) return undefined;
  let cause: unknown = err.cause;
  while (cause instanceof Error && !(cause instanceof ApplicationFailure) && (cause as { cause?: unknown }).cause instanceof Error)
    cause = (cause as { cause: Error }).cause;
  if (cause instanceof ApplicationFailure) {
    // A rolled-back failover carries its result (steps, routing) as the failure's details.
    const details = cause.details?.[0];
    return { ...(cause.type ? { type: cause.type } : {}), message: cause.message, ...(details !== undefined ? { details } : {}) };
  }
  return { message: cause instanceof Error ? cause.message : err.message };
}
