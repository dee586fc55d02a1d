import fs from 'node:fs';
import path from 'node:path';
import { NativeConnection, Runtime, Worker, makeTelemetryFilterString, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { Logger } from 'pino';
import { Client, Connection } from '@temporalio/client';
import { createActivities } from './activities';
import { loadConfigFile } from './config-file';
import type { Config } from './domain/config';
import { createLogger } from './logger';
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
}

/** The workflows' entry: TypeScript source under tsx/vitest, compiled JS under dist/. */
export function workflowsEntry(): string {
  const ts = path.join(__dirname, 'workflows', 'index.ts');
  return fs.existsSync(ts) ? ts : path.join(__dirname, 'workflows', 'index.js');
}

/** The worker that runs every runbook and its activities. */
export function createFailoverWorker(opts: FailoverWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: workflowsEntry() }),
    activities: createActivities({ config: opts.config, logger: opts.logger, ...(opts.client ? { client: opts.client } : {}) }),
    // Runbooks mostly wait; a small worker keeps up with many services.
    maxConcurrentActivityTaskExecutions: 50,
  });
}

let runtimeInstalled = false;
/** Routes the SDK's own logs (and workflow `log` calls) into pino. Once per process. */
export function installRuntimeLogging(logger: Logger): void {
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
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
  });
}

/** Runs a worker until SIGINT/SIGTERM, then drains running activities and exits. */
export async function runWorker(settings: { address: string; configFile: string; logger?: Logger }): Promise<void> {
  const env = temporalEnv();
  const logger = settings.logger ?? createLogger();
  const config = loadConfigFile(settings.configFile);
  installRuntimeLogging(logger);
  const connection = await NativeConnection.connect(connectionOptions(env, settings.address));
  const clientConnection = await Connection.connect(connectionOptions(env, settings.address));
  const client = new Client({ connection: clientConnection, namespace: env.TEMPORAL_NAMESPACE });
  try {
    const worker = await createFailoverWorker({
      connection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      config: () => config,
      logger,
      client,
    });
    // Maintenance windows in the config become Temporal Schedules (created, updated, or removed).
    const synced = await syncSchedulesFromConfig(client, config, env.TEMPORAL_TASK_QUEUE);
    logger.info({ schedules: synced }, 'maintenance schedules synced from config');
    logger.info(
      { address: settings.address, namespace: env.TEMPORAL_NAMESPACE, taskQueue: env.TEMPORAL_TASK_QUEUE, config: path.resolve(settings.configFile), services: config.services.map((s) => s.name) },
      'worker started',
    );
    await worker.run(); // returns after a shutdown signal, once in-flight tasks finish
    logger.info('worker stopped');
  } finally {
    await connection.close();
    await clientConnection.close();
  }
}

if (require.main === module) {
  (async () => {
    const env = temporalEnv();
    await runWorker({ address: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233', configFile: env.FAILOVER_CONFIG });
  })().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
