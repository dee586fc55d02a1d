import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KvEntry } from '@nats-io/kv';
import { z } from 'zod';

/**
 * Reader for the nats-kv router's routing value, for producers that pick their destination from it
 * and switch live. The value is JSON in one key; `generation` only ever grows.
 */
export const routingValueSchema = z.object({
  /** The service the routing belongs to. */
  service: z.string().optional(),
  generation: z.number().int().min(0),
  /** Weight per destination (its `router_server` name, which defaults to its id); 0 = no traffic. */
  weights: z.record(z.string(), z.number().int().min(0)),
  updatedAt: z.string().optional(),
});
export type NatsRoutingValue = z.infer<typeof routingValueSchema>;

export interface NatsRoutingKey {
  bucket: string;
  key: string;
}

export class NatsRoutingError extends Error {
  constructor(where: NatsRoutingKey, problem: string) {
    super(`routing ${where.bucket}/${where.key}: ${problem}`);
    this.name = 'NatsRoutingError';
  }
}

function parse(where: NatsRoutingKey, entry: KvEntry): NatsRoutingValue {
  let json: unknown;
  try {
    json = entry.json();
  } catch (err) {
    throw new NatsRoutingError(where, `revision ${entry.revision} is not JSON (${(err as Error).message})`);
  }
  const result = routingValueSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
    throw new NatsRoutingError(where, `revision ${entry.revision}: ${problems.join('; ')}`);
  }
  return result.data;
}

/** The current routing, or undefined when the key has no value yet (or was deleted). */
export async function readRouting(nc: NatsConnection, where: NatsRoutingKey): Promise<NatsRoutingValue | undefined> {
  const kv = await new Kvm(nc).open(where.bucket);
  const entry = await kv.get(where.key);
  return entry && entry.operation === 'PUT' ? parse(where, entry) : undefined;
}

export interface NatsRoutingWatch {
  /** The newest routing seen. */
  current(): NatsRoutingValue | undefined;
  /** Stops watching; the connection stays the caller's. */
  stop(): void;
  /** Settles when the watch ends (after stop(), or when the connection closes). */
  closed: Promise<void>;
}

/**
 * Calls `onChange` with the routing now (when there is one) and on every later change to a higher
 * generation; a deleted key or a malformed value goes to `onError` and the last good routing stays.
 * Uses the caller's connection, so the watch rides its reconnects (the KV watcher is an ordered
 * consumer that resumes by itself). Fails at once when the bucket does not exist.
 */
export async function watchRouting(
  nc: NatsConnection,
  where: NatsRoutingKey,
  onChange: (routing: NatsRoutingValue) => void,
  onError: (err: Error) => void = () => {},
): Promise<NatsRoutingWatch> {
  const kv = await new Kvm(nc).open(where.bucket);
  let last: NatsRoutingValue | undefined;
  const offer = (entry: KvEntry) => {
    if (entry.operation !== 'PUT')
      return onError(
        new NatsRoutingError(
          where,
          `key ${entry.operation === 'DEL' ? 'deleted' : 'purged'} at revision ${entry.revision}; keeping generation ${last?.generation ?? 'none'}`,
        ),
      );
    let value: NatsRoutingValue;
    try {
      value = parse(where, entry);
    } catch (err) {
      return onError(err as Error);
    }
    if (!last || value.generation > last.generation) {
      last = value;
      onChange(value);
    }
  };
  // Read first so a missing bucket fails here, and the caller has the routing before this returns.
  const first = await kv.get(where.key);
  if (first && first.operation === 'PUT') offer(first);
  const iter = await kv.watch({ key: where.key });
  const closed = (async () => {
    for await (const entry of iter) offer(entry);
  })().catch((err) => onError(err instanceof Error ? err : new Error(String(err))));
  return { current: () => last, stop: () => iter.stop(), closed };
}
