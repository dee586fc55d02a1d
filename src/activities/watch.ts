import { createRequire } from 'node:module';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Context } from '@temporalio/activity';
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

  watch(input: WatchInput, resumed: WatchProgress | undefined, beat: PendingWatch['beat']): { result: Promise<WatchResult>; stop: () => void } {
    const key = this.nextKey++;
    const worker = this.ensure();
    const result = new Promise<WatchResult>((resolve, reject) => this.pending.set(key, { beat, resolve, reject }));
    worker.postMessage({ kind: 'start', key, input, ...(resumed ? { resumed } : {}) } satisfies ToProbeThread);
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

/**
 * The watch activity: runs the watch loop (watch-loop.ts) on this process's probe thread and
 * passes its heartbeats on. It runs on the watch task queues, whose slots are not the ones
 * runbook activities use; cancellation (delivered by a heartbeat) stops the loop there.
 */
export function createWatch(observer: ObserverOptions = {}) {
  const thread = new ProbeThread(observer);
  thread.warm();
  return async function watchDestinations(input: WatchInput): Promise<WatchResult> {
    const ctx = Context.current();
    const resumed = ctx.info.heartbeatDetails as WatchProgress | undefined;
    const watch = thread.watch(input, resumed, (progress) => ctx.heartbeat(progress)); // called outside the activity's async context
    try {
      return await Promise.race([watch.result, ctx.cancelled]);
    } finally {
      watch.stop();
    }
  };
}
