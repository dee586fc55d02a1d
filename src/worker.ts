import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NativeConnection, Runtime, Worker, makeTelemetryFilterString, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { Logger } from 'pino';
import { Client, Connection } from '@temporalio/client';
import { createActivities } from './activities';
import type { ObserverOptions } from './activities/watch';
import { keepAlive } from './activities/keepalive';
import { watchTaskQueue } from './domain/workflow-ids';
import { presenceTaskQueue } from './api/presence';
import { keepPresence, newWatcherName } from './presence-keeper';
import { readConfigFile } from './config-file';
import { locateConfig } from './config-location';
import { InvalidInputError } from './domain/validation';
import { validateConfig, type Config } from './domain/config';
import { liveConfigQuery, supervisorWorkflowId } from './api/supervisor';
import { LiveConfig, startControlPlane, type ControlPlane } from './control-plane';
import { createLogger } from './logger';
import { prometheusTelemetry } from './metrics';
import { clientTracing, tracingFromEnv, tracingWorkflowModules, workerTracing, type Tracing } from './tracing';
import { syncSchedulesFromConfig } from './triggers/schedules';
import { connectionOptions, probeRoutes, temporalEnv } from './temporal-settings';
import type { DataConverter } from '@temporalio/common';
import { dataConverterFromEnv } from './security/codec';

export interface FailoverWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  config: () => Config;
  logger: Logger;
  /** Lets activities read other runbooks (rollback by workflow id). */
  client?: Client;
  /** Workflow code bundled already (see bundleWorkflowCode); the prebuilt bundle or the source otherwise. */
  workflowBundle?: { code: string } | { codePath: string };
  /** Default: the payload codec the environment configures (FAILOVER_CODEC_*), or none. */
  dataConverter?: DataConverter;
  /** The live config at a version or newer (workers following the supervisor). */
  configAt?: (minVersion?: number) => Promise<{ version: number; config: Config }>;
  /** Where this process probes from: an observer zone (`--zone`) and probe routes. */
  observer?: ObserverOptions;
  /** Only the observer zone's watch worker (another worker of this process serves the task queue). */
  watchOnly?: boolean;
  /** OpenTelemetry tracing (see src/tracing.ts); a given workflowBundle must then include tracingWorkflowModules(). */
  tracing?: Tracing;
}

/**
 * Workflow code bundled ahead of time (`npm run build` writes dist/workflow-bundle.js;
 * FAILOVER_WORKFLOW_BUNDLE names another): a worker that starts with it polls at once instead of
 * bundling the workflows first (seconds on two cores).
 */
export function prebuiltWorkflowBundle(): { codePath: string } | undefined {
  const named = process.env.FAILOVER_WORKFLOW_BUNDLE;
  if (named) {
    if (!fs.existsSync(named)) throw new Error(`FAILOVER_WORKFLOW_BUNDLE: no file ${named}`);
    return { codePath: named };
  }
  const built = path.join(__dirname, 'workflow-bundle.js');
  return fs.existsSync(built) ? { codePath: built } : undefined;
}

/** The workflows' entry: TypeScript source under tsx/vitest, compiled JS under dist/. */
export function workflowsEntry(): string {
  const ts = path.join(__dirname, 'workflows', 'index.ts');
  return fs.existsSync(ts) ? ts : path.join(__dirname, 'workflows', 'index.js');
}

/**
 * Workflow interceptor modules every runbook worker loads (runbook metrics); a workflow bundle
 * made ahead (bundleWorkflowCode) must include them, and so must a replayer.
 */
export function workflowInterceptorModules(tracing = false): string[] {
  const ts = path.join(__dirname, 'workflows', 'interceptors.ts');
  return [fs.existsSync(ts) ? ts : path.join(__dirname, 'workflows', 'interceptors.js'), ...(tracing ? tracingWorkflowModules() : [])];
}

function workflowCode(given: FailoverWorkerOptions['workflowBundle'], tracing: boolean) {
  // The prebuilt bundle has the metrics interceptors but not tracing's: with tracing, bundle from source.
  const bundle = given ?? (tracing ? undefined : prebuiltWorkflowBundle());
  return bundle ? { workflowBundle: bundle } : { workflowsPath: workflowsEntry() };
}
export interface FailoverWorker {
  /** Runs every part until shutdown (SIGINT/SIGTERM or shutdown()); one failing stops the rest. */
  run(): Promise<void>;
  shutdown(): void;
  getState(): ReturnType<Worker['getState']>;
}

/** Long-running watch activities this process runs at once (one per watched service and observer). */
const MAX_WATCHES = Number(process.env.FAILOVER_MAX_WATCHES ?? 20_000);
/** Workflows kept in memory between their tasks (see the README's detection design). */
const MAX_CACHED_WORKFLOWS = Number(process.env.FAILOVER_MAX_CACHED_WORKFLOWS ?? 500);

/**
 * The worker process's Temporal workers: one for the runbooks and their activities on the task
 * queue, and one for detection's watch activities on the watch task queue (the observer zone's
 * and the default one), so however many services are watched, runbook activities keep their slots.
 */
export async function createFailoverWorker(opts: FailoverWorkerOptions): Promise<FailoverWorker> {
  const activities = createActivities({
    config: opts.config,
    logger: opts.logger,
    ...(opts.client ? { client: opts.client } : {}),
    ...(opts.configAt ? { configAt: opts.configAt } : {}),
    ...(opts.observer ? { observer: opts.observer } : {}),
  });
  const main = opts.watchOnly
    ? undefined
    : await Worker.create({
        connection: opts.connection,
        namespace: opts.namespace,
        taskQueue: opts.taskQueue,
        ...workflowCode(opts.workflowBundle, opts.tracing !== undefined),
        ...(opts.tracing ? { sinks: workerTracing(opts.tracing).sinks } : {}),
        // Payloads encrypted when codec keys are configured (see src/security/codec.ts).
        dataConverter: opts.dataConverter ?? dataConverterFromEnv(),
        // watchDestinations stays here too, for detection runs that started before the watch task queue.
        activities,
        // Runbooks mostly wait; a small worker keeps up with many services.
        maxConcurrentActivityTaskExecutions: 50,
        interceptors: {
          workflowModules: workflowInterceptorModules(opts.tracing !== undefined),
          activity: [keepAlive, ...(opts.tracing ? workerTracing(opts.tracing).activity : [])],
        },
        // Detection runbooks sleep for an hour between workflow tasks: caching thousands of them holds
        // gigabytes for nothing. Evicted ones replay their short history on their next task.
        maxCachedWorkflows: MAX_CACHED_WORKFLOWS,
        // A workflow cached on a worker that died is handed to another after this, not after 10s.
        stickyQueueScheduleToStartTimeout: '2s',
      });
  const queues = [
    ...(opts.watchOnly ? [] : [watchTaskQueue(opts.taskQueue)]),
    ...(opts.observer?.zone ? [watchTaskQueue(opts.taskQueue, opts.observer.zone)] : []),
  ];
  const watchers = await Promise.all(
    queues.map((taskQueue) =>
      Worker.create({
        connection: opts.connection,
        namespace: opts.namespace,
        taskQueue,
        activities: { watchDestinations: activities.watchDestinations },
        dataConverter: opts.dataConverter ?? dataConverterFromEnv(),
        maxConcurrentActivityTaskExecutions: MAX_WATCHES,
        maxConcurrentActivityTaskPolls: 10,
      }),
    ),
  );
  // With a client, one presence per process that runs watches: its heartbeat, not each watch's,
  // tells the fleet this process is alive (see src/workflows/presence.ts).
  const watcher = opts.client && watchers.length > 0 ? newWatcherName() : undefined;
  const presence = watcher
    ? await Worker.create({
        connection: opts.connection,
        namespace: opts.namespace,
        taskQueue: presenceTaskQueue(opts.taskQueue, watcher),
        activities: { holdPresence: activities.holdPresence },
        dataConverter: opts.dataConverter ?? dataConverterFromEnv(),
        maxConcurrentActivityTaskExecutions: 2,
        maxConcurrentActivityTaskPolls: 1,
        // Its list of watches reaches the server every second (one write a second per process): a
        // watch started since the last beat would wait for its own heartbeat timeout if this died.
        maxHeartbeatThrottleInterval: '1s',
      })
    : undefined;
  const all = [...(main ? [main] : []), ...watchers, ...(presence ? [presence] : [])];
  const shutdown = () => {
    for (const w of all) if (w.getState() === 'RUNNING') w.shutdown();
  };
  return {
    run: async () => {
      const runs = all.map((w) => w.run());
      const keeper = watcher
        ? keepPresence({ client: opts.client!, taskQueue: opts.taskQueue, watcher, logger: opts.logger, running: () => presence!.getState() === 'RUNNING' })
        : undefined;
      try {
        await Promise.all(runs);
      } catch (err) {
        shutdown();
        await Promise.allSettled(runs);
        throw err;
      } finally {
        keeper?.stop();
      }
    },
    shutdown,
    getState: () => all[0]!.getState(),
  };
}

let runtimeInstalled = false;
/**
 * Routes the SDK's own logs (and workflow `log` calls) into pino and, given an address, serves
 * Prometheus /metrics there. Once per process: later calls change nothing.
 */
export function installRuntimeLogging(logger: Logger, metrics?: { address: string }): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const forward = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const method = ({ TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const)[level];
    logger[method]({ sdk: true, ...meta }, message);
  };
  Runtime.install({
    logger: {
      log: forward,
      trace: (m, meta) => forward('TRACE', m, meta),
      debug: (m, meta) => forward('DEBUG', m, meta),
      info: (m, meta) => forward('INFO', m, meta),
      warn: (m, meta) => forward('WARN', m, meta),
      error: (m, meta) => forward('ERROR', m, meta),
    },
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} },
      ...(metrics ? { metrics: prometheusTelemetry(metrics.address) } : {}),
    },
  });
}

export interface WorkerSettings {
  address: string;
  configFile: string;
  logger?: Logger;
  /** Apply the config file to the live config whenever it changes (as SIGHUP does). */
  watchConfig?: boolean;
  /** Where this process probes from (`--zone`, FAILOVER_PROBE_ROUTES). */
  observer?: ObserverOptions;
  /** host:port to serve Prometheus /metrics on (default: FAILOVER_METRICS_ADDRESS; unset: none). */
  metricsAddress?: string;
  /** Called once the worker polls and (when supervised) the control plane is up. */
  onReady?: (ready: { client: Client; taskQueue: string; namespace: string; config: Config; supervised: boolean }) => Promise<void> | void;
}

/**
 * Runs a worker until SIGINT/SIGTERM, then drains running activities and exits. With
 * `supervision.enabled` (the default) it follows the live config and makes sure the supervisor
 * runs, so every configured service is watched without anyone starting anything.
 */
export async function runWorker(settings: WorkerSettings): Promise<void> {
  const env = temporalEnv();
  const logger = settings.logger ?? createLogger();
  const { config: fileConfig, warnings } = readConfigFile(settings.configFile);
  // Accepted keys that cannot act here: said at every start, never silently dropped.
  for (const warning of warnings) logger.warn({ config: path.resolve(settings.configFile) }, `config: ${warning}`);
  const metricsAddress = settings.metricsAddress ?? env.FAILOVER_METRICS_ADDRESS;
  installRuntimeLogging(logger, metricsAddress ? { address: metricsAddress } : undefined);
  const tracing = tracingFromEnv('worker');
  const connection = await NativeConnection.connect(connectionOptions(env, settings.address));
  const clientConnection = await Connection.connect(connectionOptions(env, settings.address));
  const client = new Client({
    connection: clientConnection,
    namespace: env.TEMPORAL_NAMESPACE,
    ...clientTracing(tracing),
    dataConverter: dataConverterFromEnv(),
  });
  const taskQueue = env.TEMPORAL_TASK_QUEUE;
  const supervised = fileConfig.failover_manager.supervision.enabled;
  const live = new LiveConfig(
    fileConfig,
    supervised
      ? async () => {
          const doc = await client.workflow.getHandle(supervisorWorkflowId(taskQueue)).query(liveConfigQuery);
          return { version: doc.version, config: validateConfig(doc.config, `live config version ${doc.version}`) };
        }
      : undefined,
  );
  let controlPlane: ControlPlane | undefined;
  try {
    const worker = await createFailoverWorker({
      connection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue,
      config: () => live.config,
      ...(supervised ? { configAt: (v?: number) => live.atLeast(v) } : {}),
      ...(settings.observer ? { observer: settings.observer } : {}),
      logger,
      client,
      ...(tracing ? { tracing } : {}),
    });
    // Polling first: the supervisor's queries and first runbooks are answered by this worker too.
    const running = worker.run();
    if (supervised) {
      controlPlane = await startControlPlane({ client, taskQueue, configFile: settings.configFile, logger, live, watchFile: settings.watchConfig === true });
    } else {
      // Without a supervisor, maintenance windows in the file become Temporal Schedules here.
      const synced = await syncSchedulesFromConfig(client, fileConfig, taskQueue);
      logger.info({ schedules: synced }, 'maintenance schedules synced from config');
    }
    logger.info(
      {
        address: settings.address,
        namespace: env.TEMPORAL_NAMESPACE,
        taskQueue,
        ...(metricsAddress ? { metrics: `http://${metricsAddress}/metrics` } : {}),
        tracing: tracing ? 'on (OTEL_*)' : 'off',
        config: path.resolve(settings.configFile),
        services: live.config.services.map((s) => s.name),
        configVersion: live.version,
        supervised,
      },
      'worker started',
    );
    await settings.onReady?.({ client, taskQueue, namespace: env.TEMPORAL_NAMESPACE, config: live.config, supervised });
    await running; // returns after a shutdown signal, once in-flight tasks finish
    logger.info('worker stopped');
  } finally {
    controlPlane?.stop();
    await connection.close();
    await clientConnection.close();
    await tracing?.shutdown().catch((err: unknown) => logger.warn({ err }, 'trace export on shutdown failed'));
  }
}

if (require.main === module) {
  (async () => {
    const { values } = parseArgs({ options: { zone: { type: 'string' } }, strict: true });
    const env = temporalEnv({ ...process.env, ...(values.zone !== undefined ? { FAILOVER_OBSERVER_ZONE: values.zone } : {}) });
    const routes = probeRoutes(env.FAILOVER_PROBE_ROUTES);
    await runWorker({
      address: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
      configFile: locateConfig(undefined, process.env).file,
      watchConfig: env.FAILOVER_CONFIG_WATCH === 'true',
      ...(env.FAILOVER_OBSERVER_ZONE || routes
        ? { observer: { ...(env.FAILOVER_OBSERVER_ZONE ? { zone: env.FAILOVER_OBSERVER_ZONE } : {}), ...(routes ? { routes } : {}) } }
        : {}),
    });
  })().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    // A bad or missing config is bad input: exit 2, as the CLI does.
    process.exit(err instanceof InvalidInputError ? 2 : 1);
  });
}
