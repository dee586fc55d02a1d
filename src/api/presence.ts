import { z } from 'zod';

/**
 * A worker process's presence (src/workflows/presence.ts): started by the worker itself, one per
 * process that runs watches. `queue` is the process's own task queue, where only it polls.
 */
export const presenceInputSchema = z.lazy(() =>
  z.object({
    watcher: z.string().min(1).describe('the worker process: identity and a per-start suffix'),
    queue: z.string().min(1).describe("the process's own task queue, for its presence activity"),
  }),
);
export type PresenceInput = z.infer<typeof presenceInputSchema>;

/** The watches a presence heartbeat lists: [workflowId, runId, activityId] each. */
export const presenceBeatSchema = z.object({ watches: z.array(z.tuple([z.string(), z.string(), z.string()])) });

/** How the presence of a worker process ended. */
export interface PresenceEnd {
  watcher: string;
  /** 'lost': it stopped heartbeating (killed, partitioned); 'stopped': it shut down or was cancelled. */
  ended: 'lost' | 'stopped';
  detail: string;
  released?: number;
  gone?: number;
}

export function presenceWorkflowId(taskQueue: string, watcher: string): string {
  return `presence-${taskQueue}-${watcher}`;
}

export function presenceTaskQueue(taskQueue: string, watcher: string): string {
  return `${taskQueue}-presence-${watcher}`;
}
