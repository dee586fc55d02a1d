import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { presenceTaskQueue, presenceWorkflowId, type PresenceEnd, type PresenceInput } from './api/presence';

/** A name for this worker process's presence: its identity and a suffix new at every start. */
export function newWatcherName(): string {
  return `${process.pid}@${os.hostname()}-${randomBytes(3).toString('hex')}`;
}

export interface PresenceKeeper {
  /** Stops starting the presence again and abandons the wait for its end (the worker stops it). */
  stop(): void;
}

/**
 * Keeps this process's presence workflow (src/workflows/presence.ts) running while the worker runs:
 * started at once, and again if it ends while the process lives (a worker stalled past the presence
 * timeout is counted as lost, its watches move, and it must announce itself afresh).
 */
export function keepPresence(o: { client: Client; taskQueue: string; watcher: string; logger: Logger; running: () => boolean }): PresenceKeeper {
  const abort = new AbortController();
  const input: PresenceInput = { watcher: o.watcher, queue: presenceTaskQueue(o.taskQueue, o.watcher) };
  const loop = async () => {
    // A presence that ends because the worker shuts down is not started again.
    const keep = () => !abort.signal.aborted && o.running();
    while (keep()) {
      try {
        const end = await o.client.withAbortSignal(abort.signal, async () => {
          const handle = await o.client.workflow.start('presence', {
            taskQueue: o.taskQueue,
            workflowId: presenceWorkflowId(o.taskQueue, o.watcher),
            args: [input],
            workflowIdConflictPolicy: 'USE_EXISTING',
            staticSummary: `presence of worker ${o.watcher}`,
          });
          return (await handle.result()) as PresenceEnd;
        });
        if (keep()) o.logger.warn({ watcher: o.watcher, end }, "this worker's presence ended while it runs; announcing it again");
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
