import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { routerFor } from '../drivers';
import { readRoutingWithPrimary } from '../drivers/routing-primary';
import { runProbe, type ProbeResult } from '../drivers/probes';
import type { RouterReadout } from '../drivers/routers/types';
import { healthQuery, redundancyQuery, statusQuery } from '../api/queries';
import { supervisionQuery, supervisorWorkflowId } from '../api/supervisor';
import { suspensionOf } from '../domain/brakes';
import type { Policy, ServiceConfig } from '../domain/config';
import { requireMs } from '../domain/duration';
import { missingKeyMessage } from '../security/codec';
import type { RankingState } from '../domain/ranking';
import type { Routing } from '../domain/routing';
import { triggerKey } from '../domain/search-attributes';
import { MUTATING_RUNBOOKS, detectionWorkflowId, runbookWorkflowId } from '../domain/workflow-ids';
import type { DetectionStatus, RunbookStatus, StepRecord } from '../api/status';
import type { RedundancyStatus } from '../workflows/redundancy';
import { describeOrUndefined, failureOf, runningUnder, type RunningRunbook } from './runs';

/**
 * What the operator surfaces (CLI `status` / `history`, the MCP server's `failover.monitor` and its
 * resources, the TypeScript API) read about a service, gathered in one place so they all say the same.
 */

/**
 * Runs a query a worker has to answer, with a deadline: without one, a query to a workflow no
 * worker polls for waits indefinitely. The CLI passes its own (exit code 4); see `askWithDeadline`.
 */
export type Ask = <T>(what: string, fn: () => Promise<T>) => Promise<T>;

/** No worker answered a query or update in time. */
export class NoWorkerError extends Error {
  constructor(what: string, ms: number, taskQueue: string) {
    super(`no worker answered the ${what} within ${ms / 1000}s; is a worker polling task queue ${taskQueue}?`);
    this.name = 'NoWorkerError';
  }
}

export function askWithDeadline(client: Client, taskQueue: string, ms = 10_000): Ask {
  return async (what, fn) => {
    try {
      return await client.connection.withDeadline(Date.now() + ms, fn);
    } catch (err) {
      const code = (err as { code?: unknown }).code ?? (err as { cause?: { code?: unknown } }).cause?.code;
      if (code === 4 /* DEADLINE_EXCEEDED */ || (err as Error)?.name === 'WorkflowUpdateRPCTimeoutOrCancelledError')
        throw new NoWorkerError(what, ms, taskQueue);
      // The answer came back encrypted and this client has no codec: say which key it needs.
      const missingKey = missingKeyMessage(err, `the ${what}'s answer`);
      if (missingKey) throw new Error(missingKey);
      throw err;
    }
  };
}

export interface StatusReport {
  service: string;
  /** The control plane's view: live config version, brakes on this service. null: no supervisor runs. */
  supervision?: { version: number; suspended?: { by: string; reason: string; at: string }; detection?: string } | null;
  supervisionError?: string;
  detection: { workflowId: string; runId: string; health: DetectionStatus } | null;
  detectionError?: string;
  runbook: (RunningRunbook & { status: RunbookStatus }) | null;
  /** The latest finished runbook, when none runs. */
  last?: { type: string; status: string; closeTime?: string };
}

/** Detection's learned ranking of a service's backups (what its failovers prefer), when detection runs. */
export async function learnedRanking(client: Client, service: string, ask: Ask): Promise<RankingState | undefined> {
  const detection = await runningUnder(client, detectionWorkflowId(service));
  if (!detection) return undefined;
  const handle = client.workflow.getHandle(detection.running.workflowId, detection.running.runId);
  return (await ask('health query', () => handle.query(healthQuery))).ranking;
}

/** Detection's health, the control plane's view and the running runbook (or the last one) of a service. */
export async function serviceStatus(client: Client, taskQueue: string, service: string, ask: Ask): Promise<StatusReport> {
  const report: StatusReport = { service, detection: null, runbook: null };

  const detection = await runningUnder(client, detectionWorkflowId(service));
  if (detection) {
    const handle = client.workflow.getHandle(detection.running.workflowId, detection.running.runId);
    try {
      const health = await ask('health query', () => handle.query(healthQuery));
      report.detection = { workflowId: detection.running.workflowId, runId: detection.running.runId, health };
    } catch (err) {
      // Detection is advisory here; the runbook part is still worth showing.
      report.detectionError = (err as Error).message;
    }
  }

  // The control plane: live config version and the brakes on this service (when a supervisor runs).
  const supervisor = client.workflow.getHandle(supervisorWorkflowId(taskQueue));
  const sup = await supervisor.describe().catch(() => undefined);
  if (sup?.status.name === 'RUNNING') {
    try {
      const s = await ask('supervision query', () => supervisor.query(supervisionQuery));
      const suspended = suspensionOf(s.brakes, service);
      report.supervision = {
        version: s.version,
        ...(suspended ? { suspended } : {}),
        ...(s.services[service] ? { detection: s.services[service]!.detection } : {}),
      };
    } catch (err) {
      report.supervisionError = (err as Error).message;
    }
  } else report.supervision = null;

  const runbookId = runbookWorkflowId(service);
  const runbook = await runningUnder(client, runbookId);
  if (runbook) {
    const handle = client.workflow.getHandle(runbookId, runbook.running.runId);
    const status = await ask('status query', () => handle.query(statusQuery));
    report.runbook = { ...runbook.running, status };
  } else {
    const last = await describeOrUndefined(client, runbookId);
    if (last) report.last = { type: last.type, status: last.status.name, ...(last.closeTime ? { closeTime: last.closeTime.toISOString() } : {}) };
  }
  return report;
}

/** The fields of failover, recovery and rollback results the surfaces use. */
export interface RunbookResultLike {
  outcome?: string;
  source?: string;
  target?: string;
  destination?: string;
  restored?: Record<string, number>;
  planned?: boolean;
  emergency?: boolean;
  routingBefore?: Routing;
  routingAfter?: Routing;
  rtoMs?: number;
  rpo?: { lag: number | null; note: string };
  approval?: { by: string; reason?: string; outcome: string };
  /** performance.max_failover_time and whether the run exceeded it (failover). */
  objective?: { maxFailoverTime: string; exceeded: boolean };
  steps?: StepRecord[];
}

export interface HistoryRun {
  workflowId: string;
  runId: string;
  type: string;
  status: string;
  trigger?: string;
  startTime: string;
  closeTime?: string;
  outcome?: string;
  source?: string;
  target?: string;
  planned?: boolean;
  rtoMs?: number;
  rpo?: { lag: number | null; note: string };
  /** The run took longer than performance.max_failover_time to move traffic (that objective). */
  objectiveExceeded?: string;
  failure?: string;
}

/** Mutating runbooks of the service: labelled with its name, or run under its lock id. */
export function historyQuery(service: string): string {
  const q = (s: string) => JSON.stringify(s);
  return `(Service = ${q(service)} AND RunbookKind IN (${MUTATING_RUNBOOKS.map(q).join(', ')})) OR WorkflowId = ${q(runbookWorkflowId(service))}`;
}

async function describeRun(client: Client, info: WorkflowExecutionInfo): Promise<HistoryRun> {
  const trigger = info.typedSearchAttributes.get(triggerKey);
  const memo = (info.memo ?? {}) as { source?: unknown; target?: unknown };
  const run: HistoryRun = {
    workflowId: info.workflowId,
    runId: info.runId,
    type: info.type,
    status: info.status.name,
    ...(trigger ? { trigger } : {}),
    startTime: info.startTime.toISOString(),
    ...(info.closeTime ? { closeTime: info.closeTime.toISOString() } : {}),
    ...(typeof memo.source === 'string' ? { source: memo.source } : {}),
    ...(typeof memo.target === 'string' ? { target: memo.target } : {}),
  };
  if (info.status.name !== 'COMPLETED' && info.status.name !== 'FAILED') return run;
  try {
    const r = (await client.workflow.getHandle(info.workflowId, info.runId, { followRuns: false }).result()) as RunbookResultLike;
    return {
      ...run,
      ...(r.outcome ? { outcome: r.outcome } : {}),
      ...(r.source ? { source: r.source } : {}),
      ...((r.target ?? r.destination) ? { target: (r.target ?? r.destination)! } : {}),
      ...(r.planned !== undefined ? { planned: r.planned } : {}),
      ...(r.rtoMs !== undefined ? { rtoMs: r.rtoMs } : {}),
      ...(r.rpo ? { rpo: r.rpo } : {}),
      ...(r.objective?.exceeded ? { objectiveExceeded: r.objective.maxFailoverTime } : {}),
    };
  } catch (err) {
    const failure = failureOf(err);
    if (!failure) throw err;
    return { ...run, failure: `${failure.type ? `${failure.type}: ` : ''}${failure.message}` };
  }
}

/** Maps with at most `n` calls in flight, keeping order. */
async function mapLimited<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** The schedule's own run of a maintenance that went on under the lock id (that run is the one shown). */
export function isMaintenanceStarter(service: string, r: Pick<HistoryRun, 'type' | 'workflowId' | 'status' | 'outcome'>): boolean {
  if (r.type !== 'maintenance' || r.workflowId === runbookWorkflowId(service)) return false;
  return r.status === 'RUNNING' || (r.status === 'COMPLETED' && r.outcome !== 'skipped');
}

/**
 * Past mutating runbooks of a service, newest first, with RTO and RPO of finished failovers. A
 * scheduled maintenance is two runs (the schedule's starter and the run under the lock id); it is
 * shown once, the starter only when it did the work itself (skipped, or failed before the other).
 */
export async function runbookHistory(client: Client, service: string, limit: number): Promise<HistoryRun[]> {
  const infos: WorkflowExecutionInfo[] = [];
  const fetch = Math.min(limit * 2, 2000);
  for await (const info of client.workflow.list({ query: historyQuery(service), pageSize: Math.min(fetch, 100) })) {
    infos.push(info);
    if (infos.length >= fetch) break;
  }
  infos.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
  const runs = await mapLimited(infos, 8, (info) => describeRun(client, info));
  return runs.filter((r) => !isMaintenanceStarter(service, r)).slice(0, limit);
}

export function redundancyWorkflowId(service: string): string {
  return `redundancy-${service}`;
}

/** The redundancy runbook's last verdict, or null when none runs for the service. */
export async function redundancyStatus(
  client: Client,
  service: string,
  ask: Ask,
): Promise<{ workflowId: string; runId: string; status: RedundancyStatus } | null> {
  const running = await runningUnder(client, redundancyWorkflowId(service));
  if (!running) return null;
  const handle = client.workflow.getHandle(running.running.workflowId, running.running.runId);
  return { workflowId: running.running.workflowId, runId: running.running.runId, status: await ask('redundancy query', () => handle.query(redundancyQuery)) };
}

/** The router of a service could not be read. */
export class RouterUnreadableError extends Error {
  constructor(service: ServiceConfig, cause: Error) {
    super(`cannot read the routing of ${service.name} (${service.router.type}): ${cause.message}`);
    this.name = 'RouterUnreadableError';
  }
}

/** Live routing and one probe of every destination, read now (what `plan` decides from). */
export async function observeNow(service: ServiceConfig, policy: Policy): Promise<{ readout: RouterReadout; probes: Record<string, ProbeResult> }> {
  const timeoutMs = requireMs(policy.failover_detection.timeout);
  const [read, probes] = await Promise.all([
    routerFor(service)
      .read()
      .catch((err: Error) => Promise.reject(new RouterUnreadableError(service, err))),
    Promise.all(service.destinations.map(async (d) => [d.id, await runProbe(d.probe, timeoutMs)] as const)).then(
      (entries) => Object.fromEntries(entries) as Record<string, ProbeResult>,
    ),
  ]);
  // Tied weights: the primary is the destination whose role says so (AmbiguousPrimaryError when that is unclear).
  const readout = await readRoutingWithPrimary(service, (id) => runProbe(service.destinations.find((d) => d.id === id)!.probe, timeoutMs), probes, read);
  return { readout, probes };
}
