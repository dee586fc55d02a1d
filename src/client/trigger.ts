import type { WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { statusQuery } from '../api/queries';
import { failoverInputSchema, maintenanceInputSchema, recoveryInputSchema, rollbackInputSchema } from '../domain/runbook-input';
import { formatPath, InvalidInputError, parseOrThrow } from '../domain/validation';
import type { RunbookStatus } from '../api/status';
import { startMutatingRunbook, type MutatingRunbook } from './start-runbook';
import { actorFor, destinationOf, type Core } from './core';
import type { RunbookResultLike } from './observe';
import { failureOf } from './runs';

const name = z.string().min(1, 'expected a non-empty name');

export const RUNBOOK_KINDS = ['failover', 'switchover', 'recovery', 'rollback', 'maintenance'] as const;
export type RunbookKind = (typeof RUNBOOK_KINDS)[number];

export const triggerInputSchema = z.strictObject({
  service: name,
  runbook: z
    .enum(RUNBOOK_KINDS)
    .describe(
      'failover: move traffic off the current destination (works with it down); switchover: planned, the source healthy, nothing acknowledged lost; recovery: resync a returned destination and fail back; rollback: restore the routing a finished failover/recovery started from; maintenance: drain a destination for a window, then bring it back',
    ),
  to: name.optional().describe('failover, switchover: the destination to move traffic to (default: the best allowed candidate)'),
  destination: name.optional().describe('recovery: the destination that came back; maintenance: the one to drain'),
  accept_data_loss: z.boolean().optional().describe("failover: promote a target known not to hold all of the source's data; the estimated loss is recorded"),
  standby: z.boolean().optional().describe('recovery: only restore it as a healthy standby, keep traffic where it is'),
  run: z
    .string()
    .regex(/^[0-9a-f-]{8,64}$/i, 'expected a run id such as 0195f3c2-…')
    .optional()
    .describe('rollback: run id of the finished failover/recovery to undo (default: the latest)'),
  immediate: z.boolean().optional().describe('rollback: restore at once instead of in reverse steps'),
  window: z.string().optional().describe('maintenance: how long the destination stays drained ("30m", "2h")'),
  reason: z.string().min(1, 'expected why (recorded in the audit trail and the history)').max(500),
  actor: z.string().min(1).max(100).optional().describe('who asks; recorded together with the identity of the caller'),
  wait: z.boolean().optional().describe('wait for the runbook to finish and return its result'),
  wait_seconds: z
    .number()
    .int()
    .min(1)
    .max(3600)
    .optional()
    .describe(
      'how long to wait (default 50, inside the usual 60 s request timeout of MCP clients); the runbook goes on after that and the result says where it stands',
    ),
});
export type TriggerInput = z.input<typeof triggerInputSchema>;

/** The fields each runbook takes besides service, reason, actor, wait. */
const FIELDS: Record<RunbookKind, readonly string[]> = {
  failover: ['to', 'accept_data_loss'],
  switchover: ['to'],
  recovery: ['destination', 'standby'],
  rollback: ['run', 'immediate'],
  maintenance: ['destination', 'window'],
};
const OPTIONAL_FIELDS = ['to', 'destination', 'accept_data_loss', 'standby', 'run', 'immediate', 'window'] as const;
/** Runbook input keys as the request names them. */
const FIELD_OF: Record<string, string> = { acceptDataLoss: 'accept_data_loss', failback: 'standby' };

export interface TriggerOutcome {
  service: string;
  runbook: RunbookKind | 'rebalance';
  /** The workflow type started. */
  type: MutatingRunbook;
  workflowId: string;
  runId: string;
  /** The run in the Temporal Web UI. */
  webUi: string;
  actor: string;
  /** started: not waited for; running: still running when the wait ended. */
  status: 'started' | 'running' | 'completed' | 'failed';
  /** Where it stands when the wait ended while it still runs. */
  progress?: Pick<RunbookStatus, 'phase' | 'step' | 'source' | 'target'>;
  result?: RunbookResultLike & Record<string, unknown>;
  failure?: { type?: string; message: string };
}

function check(request: z.output<typeof triggerInputSchema>): void {
  const allowed = FIELDS[request.runbook];
  const problems = OPTIONAL_FIELDS.filter((f) => request[f] !== undefined && !allowed.includes(f)).map(
    (f) => `${f}: not used by a ${request.runbook}${allowed.length ? ` (it takes ${allowed.join(', ')})` : ''}`,
  );
  if ((request.runbook === 'recovery' || request.runbook === 'maintenance') && request.destination === undefined)
    problems.push(`destination: required for a ${request.runbook}`);
  if (request.runbook === 'maintenance' && request.window === undefined) problems.push('window: required for a maintenance (how long, e.g. "30m")');
  if (request.wait_seconds !== undefined && !request.wait) problems.push('wait_seconds: only with wait: true');
  if (problems.length > 0) throw new InvalidInputError('failover.trigger request', problems);
}

/** Checks a runbook input with the workflow's own schema; problems are named by the request's fields. */
export function runbookInput<S extends z.ZodType>(schema: S, input: Record<string, unknown>): Record<string, unknown> {
  const r = schema.safeParse(input, { reportInput: true });
  if (r.success) return input;
  throw new InvalidInputError(
    'failover.trigger request',
    r.error.issues.map(
      (i) =>
        `${formatPath(
          '',
          i.path.map((k) => (typeof k === 'string' ? (FIELD_OF[k] ?? k) : k)),
        )}: ${i.message}`,
    ),
  );
}

async function waitFor(handle: WorkflowHandle, seconds: number): Promise<{ done: true; result: unknown } | { done: true; error: unknown } | { done: false }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ done: false }>((resolve) => (timer = setTimeout(() => resolve({ done: false }), seconds * 1000)));
  try {
    return await Promise.race([
      handle.result().then(
        (result) => ({ done: true as const, result }),
        (error: unknown) => ({ done: true as const, error }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts a runbook under the service's lock (a second one is refused naming the running one),
 * with the reason and actor recorded in every step; optionally waits for its result.
 */
export async function trigger(core: Core, request: TriggerInput): Promise<TriggerOutcome> {
  const req = parseOrThrow(triggerInputSchema, request, 'failover.trigger request');
  check(req);
  const { service } = await core.service(req.service);
  if (req.to !== undefined) destinationOf(service, req.to, 'to');
  if (req.destination !== undefined) destinationOf(service, req.destination, 'destination');
  const actor = actorFor(core.actor, req.actor);
  const common = { service: service.name, reason: req.reason, actor };
  // Checked with each workflow's own input schema before anything starts.
  let type: MutatingRunbook;
  let input: Record<string, unknown>;
  switch (req.runbook) {
    case 'failover':
    case 'switchover':
      type = 'failover';
      input = runbookInput(failoverInputSchema, {
        ...common,
        planned: req.runbook === 'switchover',
        ...(req.to ? { to: req.to } : {}),
        ...(req.accept_data_loss ? { acceptDataLoss: true } : {}),
      });
      break;
    case 'recovery':
      type = 'recovery';
      input = runbookInput(recoveryInputSchema, { ...common, destination: req.destination, failback: req.standby !== true });
      break;
    case 'rollback':
      type = 'rollback';
      input = runbookInput(rollbackInputSchema, { ...common, ...(req.run ? { run: req.run } : {}), immediate: req.immediate === true });
      break;
    case 'maintenance':
      type = 'maintenance';
      input = runbookInput(maintenanceInputSchema, { ...common, destination: req.destination, window: req.window });
      break;
  }
  return launch(core, {
    runbook: req.runbook,
    type,
    service: service.name,
    input,
    actor,
    reason: req.reason,
    wait: req.wait === true,
    waitSeconds: req.wait_seconds ?? 50,
  });
}

export interface LaunchRequest {
  runbook: RunbookKind | 'rebalance';
  type: MutatingRunbook;
  service: string;
  /** Checked already with the workflow's input schema. */
  input: Record<string, unknown>;
  actor: string;
  reason: string;
  wait: boolean;
  waitSeconds: number;
}

/** Starts a checked runbook input under the service's lock; with `wait`, reports how it ended (or where it stands). */
export async function launch(core: Core, o: LaunchRequest): Promise<TriggerOutcome & { runbook: LaunchRequest['runbook'] }> {
  const { service: _drop, ...rest } = o.input;
  // A signer starts under their own name, signed: the runbook records the starter as verified.
  const signer = core.options.signer;
  if (signer) rest.actor = signer.name;
  const handle = await startMutatingRunbook(core.client, {
    taskQueue: core.taskQueue,
    type: o.type,
    service: o.service,
    input: rest,
    trigger: 'manual',
    summary: `${o.runbook} of ${o.service} by ${signer ? signer.name : o.actor}: ${o.reason}`,
    ...(signer ? { signingKey: signer.key } : {}),
  });
  const outcome = {
    service: o.service,
    runbook: o.runbook,
    type: o.type,
    workflowId: handle.workflowId,
    runId: handle.firstExecutionRunId,
    webUi: core.runLink(handle.workflowId, handle.firstExecutionRunId),
    actor: signer ? signer.name : o.actor,
    status: 'started' as TriggerOutcome['status'],
  };
  if (!o.wait) return outcome;
  const ended = await waitFor(handle, o.waitSeconds);
  if (!ended.done) {
    const s = await core.ask('status query', () => handle.query(statusQuery)).catch(() => undefined);
    return {
      ...outcome,
      status: 'running',
      ...(s
        ? {
            progress: {
              phase: s.phase,
              ...(s.step ? { step: s.step } : {}),
              ...(s.source ? { source: s.source } : {}),
              ...(s.target ? { target: s.target } : {}),
            },
          }
        : {}),
    };
  }
  if ('result' in ended) return { ...outcome, status: 'completed', result: ended.result as TriggerOutcome['result'] };
  const failure = failureOf(ended.error);
  if (!failure) throw ended.error;
  const { details, ...rest2 } = failure;
  return { ...outcome, status: 'failed', failure: rest2, ...(details && typeof details === 'object' ? { result: details as TriggerOutcome['result'] } : {}) };
}
