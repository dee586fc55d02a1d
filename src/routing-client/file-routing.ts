import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/**
 * Reader for the file router's routing table, for producers that pick their destination from it.
 *
 * The file is replaced atomically (written to a temp file, fsynced, renamed over the old one), so a
 * reader sees either the old table or the new one, never a mix. `generation` only ever grows.
 */
export const routingTableSchema = z.object({
  /** The service the table belongs to. */
  service: z.string().optional(),
  generation: z.number().int().min(0),
  /** Weight per destination (its `router_server` name, which defaults to its id); 0 = no traffic. */
  weights: z.record(z.string(), z.number().int().min(0)),
  updatedAt: z.string(),
});
export type RoutingTable = z.infer<typeof routingTableSchema>;

export class RoutingFileError extends Error {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`routing table ${file}: ${problem}`);
    this.name = 'RoutingFileError';
  }
}

export function parseRoutingTable(text: string, file: string): RoutingTable {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RoutingFileError(file, `not JSON (${(err as Error).message})`);
  }
  const result = routingTableSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new RoutingFileError(file, problems.join('; '));
  }
  return result.data;
}

/** The current table, or undefined when the file does not exist yet. Throws on a malformed file. */
export async function readRouting(file: string): Promise<RoutingTable | undefined> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseRoutingTable(text, file);
}

/** A destination chosen in proportion to its weight, or undefined when every weight is 0. */
export function pickWeighted(table: RoutingTable, random: () => number = Math.random): string | undefined {
  const entries = Object.entries(table.weights).filter(([, w]) => w > 0);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let r = random() * total;
  for (const [name, w] of entries) {
    r -= w;
    if (r < 0) return name;
  }
  return entries[entries.length - 1]?.[0];
}

export interface WatchOptions {
  /** Events within this window are coalesced into one read (default 25ms). */
  debounceMs?: number;
  /** Re-read on this interval as well, in case a file system event is lost (default 5000ms; 0 = never). */
  pollMs?: number;
  /** Read errors (a malformed file); the last good table stays in effect. */
  onError?: (err: Error) => void;
}

export interface RoutingWatch {
  /** Resolves once the first read is done (onChange has seen the table if the file existed). */
  ready: Promise<void>;
  /** The newest table seen. */
  current(): RoutingTable | undefined;
  close(): void;
}

/**
 * Calls `onChange` with the table now and on every later change to a higher generation.
 *
 * Watches the directory, not the file: each write renames a new file over the old one, so a watch on
 * the file itself would stay on the replaced inode and go quiet. Events only prompt a re-read; the
 * generation in the file decides whether anything changed, so duplicate or reordered events are harmless.
 */
export function watchRouting(file: string, onChange: (table: RoutingTable) => void, opts: WatchOptions = {}): RoutingWatch {
  const debounceMs = opts.debounceMs ?? 25;
  const pollMs = opts.pollMs ?? 5000;
  const report = (err: unknown) => opts.onError?.(err instanceof Error ? err : new Error(String(err)));
  const base = path.basename(file);
  let last: RoutingTable | undefined;
  let closed = false;
  let reading = false;
  let again = false;
  let pending: NodeJS.Timeout | undefined;

  const check = async (): Promise<void> => {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        try {
          const table = await readRouting(file);
          if (!closed && table && (!last || table.generation > last.generation)) {
            last = table;
            onChange(table);
          }
        } catch (err) {
          if (!closed) report(err);
        }
      } while (again && !closed);
    } finally {
      reading = false;
    }
  };

  // Leading timer, not a sliding one: a writer that never pauses must not postpone the read forever.
  const schedule = () => {
    if (closed || pending) return;
    pending = setTimeout(() => {
      pending = undefined;
      void check();
    }, debounceMs);
  };

  const watcher = fs.watch(path.dirname(path.resolve(file)), (_event, name) => {
    if (name === null || name === base) schedule();
  });
  watcher.on('error', report);
  const poll = pollMs > 0 ? setInterval(schedule, pollMs) : undefined;
  poll?.unref();

  return {
    ready: check(),
    current: () => last,
    close() {
      closed = true;
      watcher.close();
      if (poll) clearInterval(poll);
      if (pending) clearTimeout(pending);
    },
  };
}
