import * as wf from '@temporalio/workflow';
import type { Activities, ServiceSnapshot } from '../activities';
import type { Routing } from '../domain/routing';
import { describeIssues } from '../domain/validation';
import type { z } from 'zod';
import { RunbookControls, type ControlState } from './controls';
import { labelRunbook } from './labels';
import { StepLog, type StepRecord } from './runbook-steps';
import { stepActivities, waitingActivities, type RunbookContext } from './switching';

export type Phase = 'planning' | 'awaiting-approval' | 'switching' | 'ramping' | 'validating' | 'rolling-back' | 'done' | 'failed' | 'rolled-back' | 'holding';

export interface RunbookStatus {
  runbook: string;
  service: string;
  phase: Phase;
  step?: string;
  source?: string;
  target?: string;
  planned?: boolean;
  emergency?: boolean;
  routingBefore?: Routing;
  routingCurrent?: Routing;
  controls: ControlState;
  startedAt: string;
  switchedAt?: string;
  rtoMs?: number;
  steps: StepRecord[];
}

export const statusQuery = wf.defineQuery<RunbookStatus>('status');

/** Fails the runbook for good: retrying cannot fix bad input or a refused plan. */
export function refuse(message: string, type = 'InvalidInput', details?: unknown): never {
  throw wf.ApplicationFailure.create({ message, type, nonRetryable: true, ...(details !== undefined ? { details: [details] } : {}) });
}

export function parseInput<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(raw ?? {}, { reportInput: true });
  if (!parsed.success) refuse(`invalid ${what} input:\n  - ${describeIssues(parsed.error.issues, 'input').join('\n  - ')}`);
  return parsed.data;
}

/**
 * The common frame of a mutating runbook: status query, operator controls, search attributes,
 * the service's config snapshot (loaded through an activity so it lands in history), and a step log.
 */
export async function openRunbook(
  kind: string,
  request: { service: string; actor?: string | undefined; reason?: string | undefined; trigger: string },
): Promise<{ ctx: RunbookContext; status: RunbookStatus; snapshot: ServiceSnapshot }> {
  const status: RunbookStatus = {
    runbook: kind,
    service: request.service,
    phase: 'planning',
    controls: { paused: false },
    startedAt: wf.workflowInfo().startTime.toISOString(),
    steps: [],
  };
  const controls = new RunbookControls(() => status.phase);
  status.controls = controls.state;
  wf.setHandler(statusQuery, () => ({ ...status, step: log.current?.name }));
  labelRunbook(kind, request.service, request.trigger);
  const setup = wf.proxyActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 3, initialInterval: '500ms' } });
  const snapshot = await setup.loadService(request.service);
  const log = new StepLog(kind, request.service, request.actor, request.reason);
  status.steps = log.steps;
  const ctx: RunbookContext = {
    service: snapshot.service,
    policy: snapshot.policy,
    log,
    controls,
    act: stepActivities(snapshot.policy),
    waiting: waitingActivities(snapshot.policy),
    onRouting: (r) => (status.routingCurrent = r),
  };
  return { ctx, status, snapshot };
}

export function errorType(err: unknown): string | undefined {
  let e: unknown = err;
  while (e instanceof Error) {
    if (e instanceof wf.ApplicationFailure) return e.type ?? undefined;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
