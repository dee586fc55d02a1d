import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { presenceTaskQueue, presenceWorkflowId, type PresenceEnd, type PresenceInput } from './api/presence';

/** A name for this worker process's presence: its identity and a suffix new at every start. */
export function newWatcherName(): string {
  return `${process.pid}@${os.hostname()}-${randomBytes(3).toString('hex')}`;
}

/** How long one wait for the presence's end lasts before it is renewed (default). */
const WAIT_MS = 60_000;

export interface PresenceKeeper {
  /** Stops starting the presence again and abandons the wait for its end (the worker stops it). */
  stop(): void;
}

/**
 * Keeps this process's presence workflow (src/workflows/presence.ts) running while the worker runs:
 * started at once, and again if it ends while the process lives (a worker stalled past the presence
 * timeout is counted as lost, its watches move, and it must announce itself afresh).
 */
export function keepPresence(o: {
  client: Client;
  taskQueue: string;
  watcher: string;
  logger: Logger;
  running: () => boolean;
  renewEveryMs?: number;
}): PresenceKeeper {
  const abort = new AbortController();
  const input: PresenceInput = { watcher: o.watcher, queue: presenceTaskQueue(o.taskQueue, o.watcher) };
  /**
   * Starts (or finds) the presence and waits at most WAIT_MS for its end. The SDK adds a listener
   * to a call's abort signal per call and never removes it: each wait gets a signal of its own.
   */
  const startAndWait = async (): Promise<PresenceEnd | 'still running'> => {
    const call = new AbortController();
    const onStop = () => call.abort();
    abort.signal.addEventListener('abort', onStop, { once: true });
    const timer = setTimeout(() => call.abort(), o.renewEveryMs ?? WAIT_MS).unref();
    try {
      return await o.client.withAbortSignal(call.signal, async () => {
        const handle = await o.client.workflow.start('presence', {
          taskQueue: o.taskQueue,
          workflowId: presenceWorkflowId(o.taskQueue, o.watcher),
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          staticSummary: `presence of worker ${o.watcher}`,
        });
        return (await handle.result()) as PresenceEnd;
      });
    } catch (err) {
      if (call.signal.aborted && !abort.signal.aborted) return 'still running';
      throw err;
    } finally {
      clearTimeout(timer);
      abort.signal.removeEventListener('abort', onStop);
    }
  };
  const loop = async () => {
    // A presence that ends because the worker shuts down is not started again.
    const keep = () => !abort.signal.aborted && o.running();
    while (keep()) {
      try {
        const end = await startAndWait();
        if (end !== 'still running' && keep()) o.logger.warn({ watcher: o.watcher, end }, "this worker's presence ended while it runs; announcing it again");
      } catch (err) {
        if (!keep()) return;
        o.logger.warn({ watcher: o.watcher, err: (err as Error).message }, "this worker's presence could not be kept; trying again in 5s");
        await new Promise((r) => setTimeout(r, 5000).unref());
      }
    }
  };
  void loop();
  return { stop: () => abort.abort() };
}
