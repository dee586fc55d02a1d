import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { FromProbeThread, ToProbeThread } from './probe-thread';
import type { ObserverOptions, WatchInput, WatchProgress, WatchResult } from './watch-loop';

export { ObserverView } from './watch-loop';
export type { ObserverOptions, WatchInput, WatchResult } from './watch-loop';

/** An idle probe thread ends after this; the next watch starts another. */
const IDLE_THREAD_MS = 30_000;

interface PendingWatch {
  beat: (progress: WatchProgress) => void;
  resolve: (result: WatchResult) => void;
  reject: (err: Error) => void;
}

/** This process's probe thread (src/activities/probe-thread.ts), started with the first watch. */
class ProbeThread {
  private worker?: Worker;
  private readonly pending = new Map<number, PendingWatch>();
  private nextKey = 0;
  private idleTimer?: NodeJS.Timeout;

  constructor(private readonly observer: ObserverOptions) {}

  /** Starts the thread ahead of the first watch (loading it takes a moment, more from sources). */
  warm(): void {
    this.ensure();
    if (this.pending.size === 0) this.armIdleTimer();
  }

  watch(
    input: WatchInput,
    resumed: WatchProgress | undefined,
    beatEveryMs: number,
    beat: PendingWatch['beat'],
  ): { result: Promise<WatchResult>; stop: () => void } {
    const key = this.nextKey++;
    const worker = this.ensure();
    const result = new Promise<WatchResult>((resolve, reject) => this.pending.set(key, { beat, resolve, reject }));
    worker.postMessage({ kind: 'start', key, input, ...(resumed ? { resumed } : {}), beatEveryMs } satisfies ToProbeThread);
    return {
      result,
      stop: () => {
        if (this.settle(key)) worker.postMessage({ kind: 'stop', key } satisfies ToProbeThread);
      },
    };
  }

  /** Forgets a watch; true when it was still running. */
  private settle(key: number): boolean {
    const had = this.pending.delete(key);
    if (this.pending.size === 0) this.armIdleTimer();
    return had;
  }

  private armIdleTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      const idle = this.worker;
      if (this.pending.size > 0 || !idle) return;
      this.worker = undefined; // the next watch starts a new thread, not this ending one
      void idle.terminate();
    }, IDLE_THREAD_MS).unref();
  }

  private ensure(): Worker {
    clearTimeout(this.idleTimer);
    if (this.worker) return this.worker;
    const entry = path.join(__dirname, `probe-thread${path.extname(__filename)}`);
    const workerData = { routes: this.observer.routes };
    // From TypeScript sources (tests, npm start) the thread loads them through tsx, as the process does.
    const worker = entry.endsWith('.ts')
      ? new Worker(`require(${JSON.stringify(createRequire(__filename).resolve('tsx/cjs'))}); require(${JSON.stringify(entry)});`, {
          eval: true,
          workerData,
        })
      : new Worker(entry, { workerData });
    worker.unref(); // a worker process that shuts down does not wait for it
    worker.on('message', (batch: FromProbeThread) => {
      for (const [key, progress] of batch.beats) this.pending.get(key)?.beat(progress);
      for (const [key, result] of batch.done) {
        const p = this.pending.get(key);
        if (p && this.settle(key)) p.resolve(result);
      }
      for (const [key, message] of batch.failed) {
        const p = this.pending.get(key);
        if (p && this.settle(key)) p.reject(new Error(message));
      }
    });
    // A thread that dies fails its watches (their activities retry and start it again).
    const lost = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const pending = [...this.pending.values()];
      this.pending.clear();
      for (const p of pending) p.reject(new Error(`probe thread ${why}`));
    };
    worker.on('error', (err) => lost(`failed: ${err.message}`));
    worker.on('exit', (code) => lost(`exited (${code})`));
    this.worker = worker;
    return worker;
  }
}

/** A watch this process runs, by the activity it serves (what a release fails by id). */
export type HeldWatch = [workflowId: string, runId: string, activityId: string];

/** What the presence activity heartbeats: the watches this process holds right now. */
export interface PresenceBeat {
  watches: HeldWatch[];
}

/** How long one presence activity lasts; its workflow then continues as new (flat history). */
const PRESENCE_SPAN_MS = 60 * 60_000;

interface Running {
  ref: HeldWatch;
  taskQueue: string;
  scheduledMs: number;
  supersede: (why: string) => void;
}

/**
 * The watch activity and this process's presence. The watch runs the watch loop (watch-loop.ts) on
 * this process's probe thread and passes its heartbeats on; it runs on the watch task queues, whose
 * slots are not the ones runbook activities use. A watch heartbeats rarely (the server writes every
 * heartbeat): a worker that dies is noticed by its one presence activity instead, whose heartbeat
 * lists the watches held here so that another worker can release them (see src/workflows/presence.ts).
 */
export function createWatchActivities(observer: ObserverOptions = {}) {
  const thread = new ProbeThread(observer);
  thread.warm();
  const running = new Map<number, Running>();
  let nextKey = 0;
  let listed: HeldWatch[] | undefined; // rebuilt only after a change: presence beats every second
  let changed: (() => void) | undefined; // the running presence's: a change is beaten at once
  const change = () => {
    listed = undefined;
    changed?.();
  };

  const hold = (entry: Running): (() => void) => {
    // One watch per workflow and observer: a newer one (next run, retried attempt) makes an older
    // one here obsolete, which would otherwise probe on until its cancellation arrives by heartbeat.
    for (const [key, other] of running) {
      if (other.ref[0] !== entry.ref[0] || other.taskQueue !== entry.taskQueue) continue;
      if (other.scheduledMs <= entry.scheduledMs) {
        running.delete(key);
        other.supersede(`superseded by watch ${entry.ref[2]} of run ${entry.ref[1]}`);
      } else {
        entry.supersede(`superseded by watch ${other.ref[2]} of run ${other.ref[1]}`);
        return () => undefined;
      }
    }
    const key = nextKey++;
    running.set(key, entry);
    change();
    return () => {
      running.delete(key);
      change();
    };
  };

  return {
    async watchDestinations(input: WatchInput): Promise<WatchResult> {
      const ctx = Context.current();
      const { workflowExecution, activityId, taskQueue, currentAttemptScheduledTimestampMs } = ctx.info;
      const resumed = ctx.info.heartbeatDetails as WatchProgress | undefined;
      // Each heartbeat call encodes the window, and the SDK sends one per throttle interval anyway
      // (at most a minute): keep-alive beats at a quarter of the heartbeat timeout are enough.
      const beatEveryMs = Math.min(30_000, Math.max(1_000, (ctx.info.heartbeatTimeoutMs ?? 10_000) / 4));
      const watch = thread.watch(input, resumed, beatEveryMs, (progress) => ctx.heartbeat(progress)); // called outside the activity's async context
      let superseded: (err: Error) => void = () => undefined;
      const obsolete = new Promise<never>((_, reject) => (superseded = reject));
      const release = hold({
        ref: [workflowExecution?.workflowId ?? '', workflowExecution?.runId ?? '', activityId],
        taskQueue,
        scheduledMs: currentAttemptScheduledTimestampMs,
        supersede: (why) => superseded(ApplicationFailure.retryable(why, 'WatchSuperseded')),
      });
      try {
        return await Promise.race([watch.result, ctx.cancelled, obsolete]);
      } finally {
        release();
        watch.stop();
      }
    },

    /**
     * Holds this process's presence for an hour: heartbeats the watches held here. When the process
     * dies the heartbeat stops, the presence workflow sees the timeout and releases those watches.
     */
    async holdPresence(): Promise<{ heldAtEnd: number }> {
      const ctx = Context.current();
      let ended = false;
      const beat = () => ended || ctx.heartbeat({ watches: (listed ??= [...running.values()].map((r) => r.ref)) } satisfies PresenceBeat);
      beat();
      // The SDK sends the latest beat once per throttle interval; changes are coalesced per event-loop turn.
      let pending = false;
      changed = () => {
        if (pending) return;
        pending = true;
        setImmediate(() => ((pending = false), beat()));
      };
      const timer = setInterval(beat, 1_000);
      try {
        await ctx.sleep(PRESENCE_SPAN_MS);
        return { heldAtEnd: running.size };
      } finally {
        ended = true;
        clearInterval(timer);
        changed = undefined;
      }
    },
  };
}
