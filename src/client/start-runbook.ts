import type { KeyObject } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { signStart } from '../security/start-signing';
import { runbookSearchAttributes } from '../domain/search-attributes';
import { runbookWorkflowId } from '../domain/workflow-ids';

export type MutatingRunbook = 'failover' | 'recovery' | 'rollback' | 'maintenance' | 'rebalance';

/** Another mutating runbook holds the service; names it so the operator knows what to wait for or abort. */
export class ServiceBusyError extends Error {
  constructor(
    readonly service: string,
    readonly running: { workflowId: string; runId: string; type: string; startTime: Date },
  ) {
    super(
      `service ${service} already has a running runbook: ${running.type} ${running.workflowId} (run ${running.runId}, started ${running.startTime.toISOString()}); wait for it, or abort it, before starting another`,
    );
    this.name = 'ServiceBusyError';
  }
}

/**
 * Starts a mutating runbook under the service's lock id, so Temporal itself refuses a second one
 * while the first runs. With `signingKey`, the start is signed as `input.actor` (SECURITY.md: signed starts).
 */
export async function startMutatingRunbook(
  client: Client,
  opts: {
    taskQueue: string;
    type: MutatingRunbook;
    service: string;
    input: Record<string, unknown>;
    trigger?: string;
    summary?: string;
    signingKey?: KeyObject | undefined;
  },
): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const workflowId = runbookWorkflowId(opts.service);
  const input: Record<string, unknown> = { ...opts.input, service: opts.service };
  if (opts.signingKey) {
    if (typeof input.actor !== 'string' || input.actor.length === 0) throw new Error('a signed start names its starter: input.actor');
    const reason = typeof input.reason === 'string' ? input.reason : undefined;
    input.startSignature = signStart({ kind: opts.type, service: opts.service, workflowId, starter: input.actor, reason }, opts.signingKey);
  }
  try {
    return await client.workflow.start(opts.type, {
      taskQueue: opts.taskQueue,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      typedSearchAttributes: runbookSearchAttributes(opts.service, opts.type, opts.trigger ?? 'manual'),
      staticSummary: opts.summary ?? `${opts.type} of ${opts.service}`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const desc = await client.workflow.getHandle(workflowId).describe();
    throw new ServiceBusyError(opts.service, { workflowId, runId: desc.runId, type: desc.type, startTime: desc.startTime });
  }
}
