import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { Logger } from '@temporalio/common';
import { bundleWorkflowCode, NativeConnection, type Worker } from '@temporalio/worker';
import pino from 'pino';
import { inject } from 'vitest';
import type { Config } from '../../src/domain/config';
import { createFailoverWorker, installRuntimeLogging, workflowInterceptorModules, workflowsEntry } from '../../src/worker';

export interface TemporalHarness {
  client: Client;
  taskQueue: string;
  worker: Worker;
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

/** A client and a real worker, running until close(), on a fresh task queue of the shared dev server. */
export async function temporalHarness(config: () => Config): Promise<TemporalHarness> {
  installRuntimeLogging(testLogger);
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  const client = new Client({ connection, namespace: 'default' });
  const taskQueue = `test-${randomUUID()}`;
  const worker = await createFailoverWorker({ connection: nativeConnection, namespace: 'default', taskQueue, config, logger: testLogger, client, workflowBundle: await workflowBundle() });
  const running = worker.run();
  return {
    client,
    taskQueue,
    worker,
    async close() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
    },
  };
}
