import fs from 'node:fs';
import path from 'node:path';
import { NativeConnection, Runtime, Worker, makeTelemetryFilterString, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { Logger } from 'pino';
import { Client, Connection } from '@temporalio/client';
import { createActivities } from './activities';
import { loadConfigFile } from './config-file';
import { validateConfig, type Config } from './domain/config';
import { liveConfigQuery, supervisorWorkflowId } from './api/supervisor';
import { LiveConfig, startControlPlane, type ControlPlane } from './control-plane';
import { createLogger } from './logger';
import { prometheusTelemetry } from './metrics';
import { clientTracing, tracingFromEnv, tracingWorkflowModules, workerTracing, type Tracing } from './tracing';
import { syncSchedulesFromConfig } from './triggers/schedules';
import { connectionOptions, temporalEnv } from './temporal-settings';

export interface FailoverWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  config: () => Config;
  logger: Logger;
  /** Lets activities read other runbooks (rollback by workflow id). */
  client?: Client;
  /** Workflow code bundled already (see bundleWorkflowCode); bundled from source at creation otherwise. */
  workflowBundle?: { code: string };
  /** The live config at a version or newer (workers following the supervisor). */
  configAt?: (minVersion?: number) => Promise<{ version: number; config: Config }>;
  /** OpenTelemetry tracing (see src/tracing.ts); a given workflowBundle must then include tracingWorkflowModules(). */
  tracing?: Tracing;
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

/** The worker that runs every runbook and its activities. */
export function createFailoverWorker(opts: FailoverWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: workflowsEntry() }),
    interceptors: {
      workflowModules: workflowInterceptorModules(opts.tracing !== undefined),
      ...(opts.tracing ? { activity: workerTracing(opts.tracing).activity } : {}),
    },
    ...(opts.tracing ? { sinks: workerTracing(opts.tracing).sinks } : {}),
    activities: createActivities({
      config: opts.config,
      logger: opts.logger,
      ...(opts.client ? { client: opts.client } : {}),
      ...(opts.configAt ? { configAt: opts.configAt } : {}),
    }),
    // Runbooks mostly wait; a small worker keeps up with many services.
    maxConcurrentActivityTaskExecutions: 50,
  });
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
  const fileConfig = loadConfigFile(settings.configFile);
  const metricsAddress = settings.metricsAddress ?? env.FAILOVER_METRICS_ADDRESS;
  installRuntimeLogging(logger, metricsAddress ? { address: metricsAddress } : undefined);
  const tracing = tracingFromEnv('worker');
  const connection = await NativeConnection.connect(connectionOptions(env, settings.address));
  const clientConnection = await Connection.connect(connectionOptions(env, settings.address));
  const client = new Client({ connection: clientConnection, namespace: env.TEMPORAL_NAMESPACE, ...clientTracing(tracing) });
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
      { address: settings.address, namespace: env.TEMPORAL_NAMESPACE, taskQueue, ...(metricsAddress ? { metrics: `http://${metricsAddress}/metrics` } : {}), tracing: tracing ? 'on (OTEL_*)' : 'off', config: path.resolve(settings.configFile), services: live.config.services.map((s) => s.name), configVersion: live.version, supervised },
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
    const env = temporalEnv();
    await runWorker({ address: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233', configFile: env.FAILOVER_CONFIG, watchConfig: env.FAILOVER_CONFIG_WATCH === 'true' });
  })().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
