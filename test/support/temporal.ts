import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { DataConverter, Logger } from '@temporalio/common';
import { bundleWorkflowCode, NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { inject } from 'vitest';
import type { ObserverOptions } from '../../src/activities/watch';
import type { Config } from '../../src/domain/config';
import { dataConverterFromEnv } from '../../src/security/codec';
import { createFailoverWorker, installRuntimeLogging, workflowInterceptorModules, workflowsEntry, type FailoverWorker } from '../../src/worker';

export interface TemporalHarness {
  client: Client;
  taskQueue: string;
  worker: FailoverWorker;
  /** Shuts the worker down (letting running tasks finish) and closes connections. */
  close(): Promise<void>;
}

export const testLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** The workflow bundle, built once per test file (process) however many workers it starts. */
let bundle: Promise<{ code: string }> | undefined;
function workflowBundle(): Promise<{ code: string }> {
  const quiet: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };
  bundle ??= bundleWorkflowCode({ workflowsPath: workflowsEntry(), workflowInterceptorModules: workflowInterceptorModules(), logger: quiet });
  return bundle;
}

/**
 * A client and a real worker, running until close(), on a fresh task queue of the shared dev server;
 * `observer` says where its watches probe from; `observers` adds a worker per observer zone on the
 * same task queue (several vantage points).
 */
export async function temporalHarness(
  config: () => Config,
  opts: { observer?: ObserverOptions; observers?: ObserverOptions[]; dataConverter?: DataConverter; taskQueue?: string } = {},
): Promise<TemporalHarness> {
  installRuntimeLogging(testLogger);
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  // The payload codec the environment configures (FAILOVER_CODEC_*), as the worker and CLI use it, unless given.
  const dataConverter = opts.dataConverter ?? dataConverterFromEnv();
  const client = new Client({ connection, namespace: 'default', dataConverter });
  const taskQueue = opts.taskQueue ?? `test-${randomUUID()}`;
  const make = async (observer?: ObserverOptions, watchOnly = false) =>
    createFailoverWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue,
      config,
      logger: testLogger,
      client,
      workflowBundle: await workflowBundle(),
      dataConverter,
      ...(observer ? { observer } : {}),
      watchOnly,
    });
  const worker = await make(opts.observer);
  // One process may run one worker per task queue: the extra observers run only their zone's watches.
  const observers = await Promise.all((opts.observers ?? []).map((o) => make(o, true)));
  const running = Promise.all([worker, ...observers].map((w) => w.run()));
  return {
    client,
    taskQueue,
    worker,
    async close() {
      for (const w of [worker, ...observers]) if (w.getState() === 'RUNNING') w.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
    },
  };
}
