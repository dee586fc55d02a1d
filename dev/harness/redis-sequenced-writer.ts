import Redis from 'ioredis';

export interface WriterReport {
  /** Sequence numbers whose write was acknowledged (OK received). */
  acked: number[];
  /** When each of them was acknowledged (ms since epoch), same order. */
  ackedAt: number[];
  attempts: number;
  errors: number;
  /** Longest stretch without an acknowledged write, in ms: what producers felt of the switch. */
  longestGapMs: number;
}

/**
 * Sends `SET <prefix>:<n> n` plus `RPUSH <prefix>:log n` (one transaction) for n = 1, 2, … through
 * an entrypoint (HAProxy), one at a time, retrying a sequence number until it is acknowledged. Stops at `stop()`, after `maxMessages`, or
 * after `maxDurationMs`, whichever comes first.
 */
export function startSequencedWriter(opts: {
  host: string;
  port: number;
  prefix: string;
  intervalMs?: number;
  maxMessages?: number;
  maxDurationMs?: number;
  /** Open a fresh connection every N messages (producers with short-lived connections); default: one connection. */
  reconnectEvery?: number;
}) {
  const connect = () => {
    const c = new Redis({
      host: opts.host,
      port: opts.port,
      connectTimeout: 1000,
      commandTimeout: 2000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 20,
      enableOfflineQueue: true,
    });
    c.on('error', () => {});
    return c;
  };
  let client = connect();
  const report: WriterReport = { acked: [], ackedAt: [], attempts: 0, errors: 0, longestGapMs: 0 };
  let stopping = false;
  const started = Date.now();
  const maxMessages = opts.maxMessages ?? 100_000;
  const maxDurationMs = opts.maxDurationMs ?? 120_000;

  const done = (async () => {
    let n = 1;
    let lastAck = Date.now();
    while (!stopping && n <= maxMessages && Date.now() - started < maxDurationMs) {
      report.attempts++;
      try {
        // The key says whether n arrived; the log list says how often and in what order.
        const answer = await client.multi().set(`${opts.prefix}:${n}`, String(n)).rpush(`${opts.prefix}:log`, String(n)).exec();
        if (answer && answer.every(([err]) => err === null)) {
          report.acked.push(n);
          report.ackedAt.push(Date.now());
          report.longestGapMs = Math.max(report.longestGapMs, Date.now() - lastAck);
          lastAck = Date.now();
          n++;
          if (opts.reconnectEvery && n % opts.reconnectEvery === 0) {
            client.disconnect();
            client = connect();
          }
        }
      } catch {
        report.errors++;
        await new Promise((r) => setTimeout(r, 20));
      }
      if (opts.intervalMs) await new Promise((r) => setTimeout(r, opts.intervalMs));
    }
    client.disconnect();
    return report;
  })();

  return {
    report,
    /** Acked count so far (for waiting until traffic flows). */
    get ackedCount() {
      return report.acked.length;
    },
    async stop(): Promise<WriterReport> {
      stopping = true;
      return done;
    },
  };
}

export interface AuditReport {
  acked: number;
  present: number;
  /** Acknowledged but not found at the destination: lost writes. */
  missing: number[];
  /** Sequence numbers logged more than once (a retry of a write whose acknowledgement was lost). */
  duplicates: number[];
  /** Log entries smaller than one logged before them. */
  reordered: number;
}

/** Reads every acknowledged sequence number back from a destination (the new primary). */
export async function auditSequencedWrites(opts: { host: string; port: number; prefix: string }, acked: number[]): Promise<AuditReport> {
  const client = new Redis({ host: opts.host, port: opts.port, maxRetriesPerRequest: 1 });
  try {
    const missing: number[] = [];
    for (let i = 0; i < acked.length; i += 500) {
      const batch = acked.slice(i, i + 500);
      const values = await client.mget(batch.map((n) => `${opts.prefix}:${n}`));
      values.forEach((v, j) => {
        if (v !== String(batch[j])) missing.push(batch[j]!);
      });
    }
    const log = (await client.lrange(`${opts.prefix}:log`, 0, -1)).map(Number);
    const seen = new Map<number, number>();
    let reordered = 0;
    let highest = 0;
    for (const n of log) {
      seen.set(n, (seen.get(n) ?? 0) + 1);
      if (n < highest) reordered++;
      highest = Math.max(highest, n);
    }
    const duplicates = [...seen].filter(([, c]) => c > 1).map(([n]) => n);
    return { acked: acked.length, present: acked.length - missing.length, missing, duplicates, reordered };
  } finally {
    client.disconnect();
  }
}
