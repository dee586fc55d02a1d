import * as wf from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '../api/errors';
import type { Activities, ServiceSnapshot } from '../activities';
import type { Routing } from '../domain/routing';
import { describeIssues } from '../domain/validation';
import { requireMs } from '../domain/duration';
import { policyWithDefaults } from '../domain/config';
import type { z } from 'zod';
import { RunbookControls } from './controls';
import { refuseForgedActor } from './actor-check';
import { checkStart, describeStarter } from './start-check';
import type { StartSignature } from '../domain/start-auth';
import { labelRunbook } from './labels';
import { observeRouting } from './observability';
import { errorMessage, StepLog } from './runbook-steps';
import { runbookFeatures, STEP_HEARTBEAT, stepActivities, waitingActivities, type RunbookContext } from './switching';
import { runbookWorkflowId } from '../domain/workflow-ids';
import { runbookSearchAttributes } from '../domain/search-attributes';
import { serviceArgOf } from '../api/service-ref';

import type { FailoverTimeObjective, Phase, RunbookStatus } from '../api/status';
export type { FailoverTimeObjective, Phase, RunbookStatus };

import { statusQuery } from '../api/queries';
export { statusQuery };

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
  request: { service: string; actor?: string | undefined; reason?: string | undefined; trigger: string; startSignature?: StartSignature | undefined },
): Promise<{ ctx: RunbookContext; status: RunbookStatus; snapshot: ServiceSnapshot }> {
  const features = runbookFeatures();
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
  // Answered from the start: while the config snapshot loads there is no step yet.
  let stepNow: () => string | undefined = () => undefined;
  wf.setHandler(statusQuery, () => ({ ...status, step: stepNow() }));
  labelRunbook(kind, request.service, request.trigger);
  const setup = wf.proxyActivities<Activities>({
    startToCloseTimeout: '10s',
    heartbeatTimeout: STEP_HEARTBEAT,
    retry: { maximumAttempts: 3, initialInterval: '500ms' },
  });
  const snapshot = await setup.loadService(request.service);
  const approvalPolicy = policyWithDefaults(snapshot.policy).failover_execution.approval;
  const starter = features.signedStarts ? checkStart(kind, request, approvalPolicy) : undefined;
  controls.restrict(approvalPolicy, request.actor, starter);
  if (starter) {
    status.starter = starter;
    // In the history (memo: encrypted by the codec like every payload), where the audit looks first.
    wf.upsertMemo({ starter: { ...starter, summary: describeStarter(starter) } });
  }
  const log = new StepLog(kind, request.service, request.actor, request.reason);
  status.steps = log.steps;
  stepNow = () => log.current?.name;
  // Snapshots recorded before notifications existed have none.
  log.header = () => detailsHeader(status, snapshot.policy.notifications?.cli ?? 'failover');
  // A pause or an approval wait starts between steps: the Web UI's details follow at once (no command; replay-safe).
  const shown = () =>
    JSON.stringify([status.phase, status.controls.paused, status.controls.awaitingApproval?.since, (status as WindowStatus).maintenance?.windowEndsAt]);
  void (async () => {
    for (let last = shown(); ; last = shown()) {
      await wf.condition(() => shown() !== last);
      log.publish();
    }
  })().catch(() => undefined); // ends when the runbook is cancelled
  const ctx: RunbookContext = {
    service: snapshot.service,
    serviceArg: serviceArgOf(snapshot),
    policy: policyWithDefaults(snapshot.policy),
    log,
    controls,
    act: stepActivities(snapshot.policy),
    waiting: waitingActivities(snapshot.policy),
    onRouting: (r) => {
      status.routingCurrent = r;
      noteTrafficMoved(status, r);
      observeRouting(snapshot.service.name, r);
    },
    features,
  };
  if (kind === 'failover' && features.maxFailoverTime) watchFailoverTime(ctx, status);
  return { ctx, status, snapshot };
}

/** The first routing write that gives the failover's target traffic ends the RTO clock. */
function noteTrafficMoved(status: RunbookStatus, r: Routing): void {
  const o = status.objective;
  if (!o || o.trafficMoved || !status.target || !(r.weights[status.target]! > 0)) return;
  o.trafficMoved = true;
}

/**
 * performance.max_failover_time: when the target does not carry traffic that long after the
 * failover started (waiting for approval, a slow catch-up, a hung step), an alert event is raised
 * at that moment and the run is marked: a step in its history and result, `objective` in its status.
 */
function watchFailoverTime(ctx: RunbookContext, status: RunbookStatus): void {
  const { policy, service } = ctx;
  const maxFailoverTime = policy.performance.max_failover_time;
  const maxMs = requireMs(maxFailoverTime);
  status.objective = { maxFailoverTime, exceeded: false };
  const startMs = wf.workflowInfo().startTime.getTime();
  const check = async () => {
    if (status.objective!.trafficMoved) return;
    status.objective!.exceeded = true;
    const elapsedMs = Date.now() - startMs;
    const where = `phase ${status.phase}${status.steps.length > 0 ? `, step ${status.steps[status.steps.length - 1]!.name}` : ''}`;
    const what = `${status.planned ? 'switchover' : 'failover'} of ${service.name}${status.source && status.target ? ` (${status.source} → ${status.target})` : ''}`;
    await ctx.log.note('max_failover_time exceeded', 'failed', `${what}: no traffic on the target after ${maxFailoverTime} (${where})`, { elapsedMs, maxMs });
    const info = wf.workflowInfo();
    await ctx.act
      .raiseAlert({
        name: 'FailoverTimeExceeded',
        severity: 'critical',
        service: service.name,
        ...(status.target ? { destination: status.target } : {}),
        summary: `${what} has not moved traffic within performance.max_failover_time ${maxFailoverTime} (${where})`,
        details: {
          runbook: status.runbook,
          workflowId: info.workflowId,
          runId: info.runId,
          phase: status.phase,
          elapsedMs,
          maxFailoverTime,
          status: `${policy.notifications.cli} status ${service.name}`,
        },
        endsAt: new Date(Date.now() + 60 * 60_000).toISOString(),
        targets: policy.notifications,
      })
      .catch((err) => ctx.log.note('max_failover_time alert', 'failed', errorMessage(err)));
  };
  // Beside the runbook, never in its way; a runbook that ends first simply leaves the timer behind.
  wf.sleep(Math.max(1, startMs + maxMs - Date.now()), { summary: `performance.max_failover_time ${maxFailoverTime}` })
    .then(check)
    // check records its own failure; what is left is the timer cancelled with the runbook, which ends it anyway.
    .catch(() => undefined);
}

type WindowStatus = RunbookStatus & { maintenance?: { destination: string; windowEndsAt?: string } };

/** What a person looking at the Web UI needs first: the phase, a pause, an approval wait with the command, a window's end. */
export function detailsHeader(status: RunbookStatus, cli: string): string[] {
  const c = status.controls;
  const lines = [
    `**phase** ${status.phase}${status.starter ? ` · started by ${describeStarter(status.starter)}` : ''}${c.paused ? ` · ⏸ **paused** by ${c.pausedBy ?? 'operator'}: holds before its next step; resume: \`${cli} resume ${status.service}\`` : ''}`,
  ];
  if (c.awaitingApproval) {
    const a = c.awaitingApproval;
    lines.push(
      `⏳ **waiting for approval** since ${a.since}: ${a.reason} (after ${a.timeout}: ${a.defaultAction}) — approve: \`${cli} approve ${status.service} --by <your name>\`, abort: \`${cli} abort ${status.service} --by <your name> --reason <why>\``,
    );
  }
  const m = (status as WindowStatus).maintenance;
  if (m?.windowEndsAt) lines.push(`🕒 **maintenance window**: ${m.destination} drained until ${m.windowEndsAt}`);
  return lines;
}

export function errorType(err: unknown): string | undefined {
  let e: unknown = err;
  while (e instanceof Error) {
    if (e instanceof wf.ApplicationFailure) return e.type ?? undefined;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The per-service lock is the workflow id `runbook-<service>`: Temporal runs one workflow per id.
 * A mutating runbook started under any other id (the Web UI form, the Temporal CLI, a script) runs
 * itself as a child under the lock id and answers with that run's result — or, when another
 * runbook holds the service, refuses at once naming it (or, with `busy`, answers what it says).
 * Must be the runbook's first call: the patch is decided in the run's first activation.
 * Maintenance always ran this way (`always`: no patch); the other runbooks since `runbook-lock`.
 */
export async function underLock<T>(
  kind: string,
  req: { service: string; trigger: string; actor?: string | undefined },
  input: unknown,
  run: () => Promise<T>,
  o: { always?: boolean; summary?: string; busy?: (lockId: string) => { reason: string; result: T } } = {},
): Promise<T> {
  refuseForgedActor(kind, req);
  const lockId = runbookWorkflowId(req.service);
  const own = wf.workflowInfo().workflowId;
  if (own === lockId || (!o.always && !wf.patched('runbook-lock'))) return run();
  labelRunbook(kind, req.service, req.trigger);
  const title = `### ${kind} · ${req.service}\n\n`;
  let child: wf.ChildWorkflowHandle<wf.Workflow>;
  try {
    child = await wf.startChild(kind, {
      workflowId: lockId,
      args: [input],
      // The lock holder lives its own life: ending this starter must never cut a switch or a drain short.
      parentClosePolicy: 'ABANDON',
      cancellationType: 'ABANDON',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      typedSearchAttributes: runbookSearchAttributes(req.service, kind, req.trigger),
      staticSummary: o.summary ?? `${kind} of ${req.service} (started as ${own})`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    if (o.busy) {
      const { reason, result } = o.busy(lockId);
      wf.setCurrentDetails(`${title}– skipped: ${reason}`);
      return result;
    }
    const reason = `service ${req.service} already has a running runbook (${lockId}); a ${kind} takes the per-service lock by running as ${lockId}, so nothing was started`;
    wf.setCurrentDetails(`${title}– refused: ${reason}`);
    refuse(reason, 'ServiceBusy');
  }
  wf.setCurrentDetails(`${title}runs as \`${lockId}\` (run ${child.firstExecutionRunId}), the per-service lock: send approve / pause / resume / abort there`);
  return (await child.result()) as T;
}
