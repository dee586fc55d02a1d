import { Context, heartbeat } from '@temporalio/activity';
import { ApplicationFailure, type SignalDefinition } from '@temporalio/common';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { healthQuery, redundancyQuery } from '../api/queries';
import {
  admitUpdate,
  brakesSignal,
  configChangedSignal,
  isSimplyRunning,
  supervisorWorkflowId,
  type Admission,
  type AdmitRequest,
  type ServiceSupervision,
  type Suspension,
} from '../api/supervisor';
import type { Config } from '../domain/config';
import { suspensionOf, type BrakeState } from '../domain/brakes';
import { detectionWorkflowId } from '../domain/workflow-ids';
import { ConcurrencyLimiter } from '../triggers/concurrency-limiter';
import { syncSchedulesFromConfig } from '../triggers/schedules';

/**
 * The supervisor's hands: list what runs, start what is missing, stop what was removed, tell
 * running runbooks of a change. Thin over the Temporal client; the decisions are the workflow's.
 */

export interface SupervisionDeps {
  client?: Client;
  logger: Logger;
  /** The worker's copy of the live config, at least this version. */
  configAt?: (minVersion?: number) => Promise<{ version: number; config: Config }>;
  /** Exactly this live config version (the services a compact reconcile makes run). */
  configVersion?: (version: number) => Promise<Config>;
}

/**
 * What to reconcile. Compact (`brakes`): the services come from config version `version` and
 * suspensions from the brakes, so the input stays the same size however large the fleet. The
 * listed form (`services`) is what supervisors recorded before; their histories replay with it.
 */
export type ReconcileInput = { version: number; redundancy: boolean } & (
  { services: { service: string; suspended: Suspension | null }[] } | { brakes: BrakeState }
);

export interface ReconcileReport {
  /** Every service (listed input); only those not simply running (compact input). */
  services: Record<string, ServiceSupervision>;
  started: string[];
  stopped: string[];
  errors: string[];
}

/** Runbook starts under way at once in one reconcile (each is a describe, maybe a query, and a start). */
const START_CONCURRENCY = 16;
const redundancyWorkflowId = (service: string) => `redundancy-${service}`;
const CLOSED_BADLY = new Set(['TERMINATED', 'FAILED', 'TIMED_OUT', 'CANCELLED']);
/** The signals the supervisor passes on, by the name its workflow gives (recorded in its histories). */
const RUNBOOK_SIGNALS = { configChanged: configChangedSignal, brakes: brakesSignal } as const;

function clientOf(deps: SupervisionDeps): Client {
  if (!deps.client) throw ApplicationFailure.nonRetryable('this worker has no Temporal client', 'NoClient');
  return deps.client;
}

function isNotFound(err: unknown): boolean {
  return err instanceof WorkflowNotFoundError || (err as { name?: string })?.name === 'WorkflowNotFoundError';
}

async function reconciledServices(deps: SupervisionDeps, input: ReconcileInput): Promise<{ service: string; suspended: Suspension | null }[]> {
  if ('services' in input) return input.services;
  if (!deps.configVersion) throw ApplicationFailure.nonRetryable('this worker does not follow the live config', 'ConfigVersionUnavailable');
  const config = await deps.configVersion(input.version);
  return config.services.map((s) => ({ service: s.name, suspended: suspensionOf(input.brakes, s.name) ?? null }));
}

export function createSupervisionActivities(deps: SupervisionDeps) {
  /**
   * What an earlier run of `workflowId` knew, when it ended by termination or failure (a restart
   * should not forget health, retries and decisions); read by querying the closed run.
   */
  const carriedFrom = async (client: Client, workflowId: string, query: typeof healthQuery | typeof redundancyQuery): Promise<unknown> => {
    const handle = client.workflow.getHandle(workflowId);
    const desc = await handle.describe().catch(() => undefined);
    if (!desc || !CLOSED_BADLY.has(desc.status.name)) return undefined;
    return handle.query<unknown>(query).catch((err: Error) => {
      deps.logger.warn({ workflowId, err: err.message }, 'state of the ended run could not be read; starting fresh');
      return undefined;
    });
  };

  return {
    /** Makes the running detection (and redundancy) runbooks of this task queue equal to the configured services. */
    async reconcileRunbooks(input: ReconcileInput): Promise<ReconcileReport> {
      const client = clientOf(deps);
      const taskQueue = Context.current().info.taskQueue;
      const services = await reconciledServices(deps, input);
      const running = new Set<string>();
      const query = `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running' AND (WorkflowType = 'detection' OR WorkflowType = 'redundancy')`;
      for await (const w of client.workflow.list({ query })) running.add(w.workflowId);
      const report: ReconcileReport = { services: {}, started: [], stopped: [], errors: [] };
      const wanted = new Set<string>();

      const ensure = async (
        type: 'detection' | 'redundancy',
        workflowId: string,
        args: Record<string, unknown>,
        stateQuery: typeof healthQuery | typeof redundancyQuery,
      ) => {
        wanted.add(workflowId);
        if (running.has(workflowId)) return 'running' as const;
        // The listing lags a moment behind starts: ask the run itself before starting another.
        const desc = await client.workflow
          .getHandle(workflowId)
          .describe()
          .catch(() => undefined);
        if (desc?.status.name === 'RUNNING') return 'running' as const;
        const carried = await carriedFrom(client, workflowId, stateQuery);
        await client.workflow.start(type, {
          workflowId,
          taskQueue,
          args: [{ ...args, ...(carried ? { carried: type === 'redundancy' ? { events: (carried as { events?: unknown[] }).events ?? [] } : carried } : {}) }],
          workflowIdConflictPolicy: 'USE_EXISTING',
          staticSummary: `${type} of ${String(args.service)} (supervisor)`,
        });
        report.started.push(workflowId);
        return 'started' as const;
      };

      // A few round trips per missing runbook: thousands of services are started side by side, not one by one.
      const limiter = new ConcurrencyLimiter(START_CONCURRENCY);
      let done = 0;
      await Promise.all(
        services.map((s) =>
          limiter.run(async () => {
            const entry: ServiceSupervision = { detection: 'error' };
            try {
              entry.detection = await ensure(
                'detection',
                detectionWorkflowId(s.service),
                { service: s.service, configVersion: input.version, ...(s.suspended ? { suspended: s.suspended } : {}) },
                healthQuery,
              );
              entry.redundancy = input.redundancy
                ? await ensure('redundancy', redundancyWorkflowId(s.service), { service: s.service }, redundancyQuery)
                : 'off';
            } catch (err) {
              entry.error = (err as Error).message;
              report.errors.push(`${s.service}: ${entry.error}`);
            }
            report.services[s.service] = entry;
            if (++done % 50 === 0) heartbeat({ done });
          }),
        ),
      );
      const compact = 'brakes' in input;
      const inOrder = services.map((s): [string, ServiceSupervision] => [s.service, report.services[s.service]!]); // config order
      report.services = Object.fromEntries(compact ? inOrder.filter(([, entry]) => !isSimplyRunning(entry)) : inOrder);
      // Running here but no longer configured (or redundancy switched off): stopped.
      for (const workflowId of running) {
        if (wanted.has(workflowId)) continue;
        await client.workflow
          .getHandle(workflowId)
          .terminate(`not in config version ${input.version}`)
          .then(() => report.stopped.push(workflowId))
          .catch((err: Error) => void (isNotFound(err) || report.errors.push(`${workflowId}: ${err.message}`)));
      }
      if (report.started.length + report.stopped.length > 0)
        deps.logger.info({ started: report.started, stopped: report.stopped, version: input.version }, 'supervisor reconciled');
      return report;
    },

    /** Signals the running detection (and redundancy) runbooks of these services; ones not running are skipped. */
    async signalRunbooks(input: { services: string[]; signal: 'configChanged' | 'brakes'; arg: unknown; only?: 'detection' }): Promise<{ signalled: number }> {
      const client = clientOf(deps);
      let signalled = 0;
      // The workflow names the signal in this activity's input (its histories keep it): pass on its definition.
      const definition = RUNBOOK_SIGNALS[input.signal] as SignalDefinition<[unknown]>;
      // Side by side, as starts are: a brake or a policy change reaches the whole fleet.
      const limiter = new ConcurrencyLimiter(START_CONCURRENCY);
      let done = 0;
      await Promise.all(
        input.services.map((service) =>
          limiter.run(async () => {
            const ids = input.only === 'detection' ? [detectionWorkflowId(service)] : [detectionWorkflowId(service), redundancyWorkflowId(service)];
            for (const id of ids) {
              await client.workflow
                .getHandle(id)
                .signal(definition, input.arg)
                .then(() => signalled++)
                .catch((err: unknown) => {
                  if (!isNotFound(err)) throw err;
                });
            }
            if (++done % 50 === 0) heartbeat({ done });
          }),
        ),
      );
      return { signalled };
    },

    /** Maintenance windows of the live config become Temporal Schedules (created, updated, removed). */
    async syncMaintenanceSchedules(version: number): Promise<Awaited<ReturnType<typeof syncSchedulesFromConfig>>> {
      if (!deps.configAt) throw ApplicationFailure.nonRetryable('this worker does not follow the live config', 'NoLiveConfig');
      const { config } = await deps.configAt(version);
      return syncSchedulesFromConfig(clientOf(deps), config, Context.current().info.taskQueue);
    },

    /**
     * The brakes' answer for an automatic runbook (suspension, fleet cap), from this task queue's
     * supervisor. With no supervisor running there are no brakes to apply: admitted, and it says so.
     */
    async admitAutomatic(req: AdmitRequest): Promise<Admission> {
      const client = clientOf(deps);
      const handle = client.workflow.getHandle(supervisorWorkflowId(Context.current().info.taskQueue));
      try {
        return await handle.executeUpdate(admitUpdate, { args: [req] });
      } catch (err) {
        if (isNotFound(err)) return { admitted: true, note: 'no supervisor runs on this task queue: brakes not applied' };
        throw err;
      }
    },
  };
}
