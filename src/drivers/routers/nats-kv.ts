import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { Routing } from '../../domain/routing';
import { routingValueSchema, type NatsRoutingValue } from '../../routing-client/nats-kv-routing';
import { isStreamNotFound, withNats, type NatsConnectionConfig } from '../probes/nats';
import type { RouteChange, Router, RouterReadout } from './types';
import { GenerationConflictError } from './types';

export interface NatsKvRouterOptions {
  connection: NatsConnectionConfig;
  bucket: string;
  key: string;
  service: string;
  /** destination id → its name in the routing value (`router_server`, default the id) */
  servers: Record<string, string>;
  /** Weights per destination id while the key does not exist yet (generation 0). */
  initial: Record<string, number>;
  timeoutMs?: number;
}

/** History kept when this router creates the bucket: the last routing decisions stay readable. */
const BUCKET_HISTORY = 16;

/**
 * Routing in one key of a NATS KV bucket: `{service, generation, weights, updatedAt}` as JSON, weights
 * by router_server name. Producers follow it live with src/routing-client/nats-kv-routing.ts.
 *
 * Compare-and-set is the server's: each write names the key revision it read (`kv.update`, or
 * `kv.create` for the first write), so a write racing another fails instead of overwriting it. The
 * generation inside the value is what runbooks compare; the revision only guards the write. The bucket
 * is created on the first write if it does not exist.
 */
export class NatsKvRouter implements Router {
  private readonly timeoutMs: number;

  constructor(private readonly opts: NatsKvRouterOptions) {
    this.timeoutMs = opts.timeoutMs ?? 3000;
  }

  private where(): string {
    return `NATS KV ${this.opts.bucket}/${this.opts.key}`;
  }

  async read(): Promise<RouterReadout> {
    return withNats(this.opts.connection, this.timeoutMs, async (nc) => {
      const kv = await new Kvm(nc).open(this.opts.bucket);
      // No bucket yet is no routing yet: generation 0, the initial weights.
      return this.readout(await this.load(kv).catch((err) => (isStreamNotFound(err) ? {} : Promise.reject(err))));
    });
  }

  async apply(weights: Record<string, number>, expectedGeneration: number): Promise<{ routing: Routing; changes: RouteChange[] }> {
    for (const destId of Object.keys(weights)) {
      if (!this.opts.servers[destId]) throw new Error(`${this.where()}: no destination ${destId} in service ${this.opts.service}`);
    }
    return withNats(this.opts.connection, this.timeoutMs, async (nc) => {
      const kvm = new Kvm(nc);
      let kv = await kvm.open(this.opts.bucket);
      let current = await this.load(kv).catch(async (err) => {
        if (!isStreamNotFound(err)) throw err;
        kv = await kvm.create(this.opts.bucket, { history: BUCKET_HISTORY });
        return this.load(kv);
      });
      const before = this.readout(current).routing;
      if (before.generation !== expectedGeneration) return this.settled(before, weights, expectedGeneration);
      const next: NatsRoutingValue = {
        service: this.opts.service,
        generation: expectedGeneration + 1,
        // Names not being set (and destinations no longer configured) keep their value.
        weights: { ...(current.value?.weights ?? this.toNames(this.opts.initial)), ...this.toNames(weights) },
        updatedAt: new Date().toISOString(),
      };
      try {
        const data = JSON.stringify(next);
        if (current.revision === 0) await kv.create(this.opts.key, data);
        else await kv.update(this.opts.key, data, current.revision);
      } catch (err) {
        if (!isWrongRevision(err)) throw err;
        // Someone wrote since our read: maybe our own earlier attempt, maybe another runbook.
        current = await this.load(kv);
        return this.settled(this.readout(current).routing, weights, expectedGeneration);
      }
      const routing = this.readout({ value: next }).routing;
      const changes: RouteChange[] = [];
      for (const [destId, to] of Object.entries(weights)) {
        const from = before.weights[destId] ?? 0;
        if (from !== to) changes.push({ destination: destId, from, to });
      }
      return { routing, changes };
    });
  }

  /** Producers hold no session through the router: they re-read the key and reconnect themselves. */
  async cutSessions(_destId: string): Promise<void> {}

  /** A retry of our own successful write finds the weights already in place: no change. Anything else is a conflict. */
  private settled(current: Routing, weights: Record<string, number>, expectedGeneration: number): { routing: Routing; changes: RouteChange[] } {
    if (current.generation === expectedGeneration + 1 && Object.entries(weights).every(([id, w]) => (current.weights[id] ?? 0) === w)) {
      return { routing: current, changes: [] };
    }
    throw new GenerationConflictError(expectedGeneration, current.generation);
  }

  /** The value and the revision to write against (0: no live value, write with create). */
  private async load(kv: KV): Promise<{ value?: NatsRoutingValue; revision: number }> {
    const entry: KvEntry | null = await kv.get(this.opts.key);
    if (!entry || entry.operation !== 'PUT') return { revision: 0 };
    let json: unknown;
    try {
      json = entry.json();
    } catch (err) {
      throw new Error(`${this.where()} revision ${entry.revision}: not JSON (${(err as Error).message})`);
    }
    const parsed = routingValueSchema.safeParse(json);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
      throw new Error(`${this.where()} revision ${entry.revision}: ${problems.join('; ')}`);
    }
    return { value: parsed.data, revision: entry.revision };
  }

  private readout(current: { value?: NatsRoutingValue }): RouterReadout {
    const weights: Record<string, number> = {};
    const detail: RouterReadout['detail'] = {};
    for (const [destId, name] of Object.entries(this.opts.servers)) {
      const w = current.value ? (current.value.weights[name] ?? 0) : (this.opts.initial[destId] ?? 0);
      weights[destId] = w;
      detail[destId] = { state: w > 0 ? 'ready' : 'maint', weight: w };
    }
    return { routing: { generation: current.value?.generation ?? 0, weights }, detail };
  }

  private toNames(weights: Record<string, number>): Record<string, number> {
    return Object.fromEntries(Object.entries(weights).map(([id, w]) => [this.opts.servers[id] ?? id, w]));
  }
}

function isWrongRevision(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
