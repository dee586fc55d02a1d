import { parentPort, workerData } from 'node:worker_threads';
import type { ProbeConfig } from '../domain/config';
import { runProbe, type ProbeResult } from '../drivers/probes';
import { ConcurrencyLimiter } from '../triggers/concurrency-limiter';
import { ObserverView, routed, watchLoop, type WatchInput, type WatchProgress, type WatchResult } from './watch-loop';

/**
 * The probe thread: every watch of this worker process runs here, so ten thousand probes a second
 * use a core of their own and the main thread stays free for workflow tasks and runbook activities.
 * Messages in: start and stop a watch. Out: heartbeats and results, batched once per event-loop turn.
 */

export type ToProbeThread = { kind: 'start'; key: number; input: WatchInput; resumed?: WatchProgress; beatEveryMs: number } | { kind: 'stop'; key: number };

export interface FromProbeThread {
  beats: [number, WatchProgress][];
  done: [number, WatchResult][];
  failed: [number, string][];
}

/** Probes in flight in this thread; more wait, so ten thousand destinations do not open ten thousand sockets at once. */
const MAX_PROBES_IN_FLIGHT = Number(process.env.FAILOVER_PROBE_CONCURRENCY ?? 512);

class Stopped extends Error {}

function probeThread(port: NonNullable<typeof parentPort>, routes: Record<string, string> | undefined): void {
  const view = new ObserverView();
  const stopped = new Map<number, () => void>();
  const slots = new ConcurrencyLimiter(MAX_PROBES_IN_FLIGHT);
  const probe = (p: ProbeConfig, timeoutMs: number): Promise<ProbeResult> => slots.run(() => runProbe(routed(p, routes), timeoutMs));

  let out: FromProbeThread | undefined;
  const send = <K extends keyof FromProbeThread>(kind: K, entry: FromProbeThread[K][number]) => {
    if (!out) {
      out = { beats: [], done: [], failed: [] };
      setImmediate(() => {
        port.postMessage(out);
        out = undefined;
      });
    }
    (out[kind] as FromProbeThread[K][number][]).push(entry);
  };

  const start = (key: number, input: WatchInput, resumed: WatchProgress | undefined, beatEveryMs: number) => {
    let wake: (() => void) | undefined;
    let stop = false;
    stopped.set(key, () => {
      stop = true;
      wake?.();
    });
    const sleep = (ms: number) =>
      new Promise<void>((resolve, reject) => {
        if (stop) return reject(new Stopped());
        const timer = setTimeout(() => ((wake = undefined), resolve()), ms);
        wake = () => (clearTimeout(timer), reject(new Stopped()));
      });
    watchLoop(input, resumed, { probe, view, ...(routes ? { routes } : {}), beat: (progress) => send('beats', [key, progress]), beatEveryMs, sleep })
      .then(
        (result) => stop || send('done', [key, result]),
        (err: unknown) => stop || send('failed', [key, err instanceof Error ? err.message : String(err)]),
      )
      .finally(() => stopped.delete(key));
  };

  port.on('message', (m: ToProbeThread) => {
    if (m.kind === 'start') start(m.key, m.input, m.resumed, m.beatEveryMs);
    else stopped.get(m.key)?.();
  });
}

if (parentPort) probeThread(parentPort, (workerData as { routes?: Record<string, string> } | undefined)?.routes);
