import type { DestinationConfig, RabbitmqReplicationConfig } from '../../domain/config';
import { RabbitmqManagement, queueCountsOverAmqp, rabbitmqCredentials, vhostOf, withAmqp, type ManagementPolicy } from '../probes/rabbitmq';
import type { LagReading, Replicator } from './types';

const FENCE_PREFIX = 'fm-fence:';

/** `fm-fence:<queue>:<deadline ms>`: the hold deadline lives in the name, so any later call can lift an expired fence. */
function fenceName(queue: string, deadline: number): string {
  return `${FENCE_PREFIX}${queue}:${deadline}`;
}

function parseFence(name: string): { queue: string; deadline: number } | undefined {
  const m = /^fm-fence:(.*):(\d+)$/s.exec(name);
  return m ? { queue: m[1]!, deadline: Number(m[2]) } : undefined;
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

/** Lifts fences at their deadline while this worker lives; after a restart, the next call on the destination does. */
const holdTimers = new Map<string, NodeJS.Timeout>();

/**
 * RabbitMQ brokers do not replicate to each other here: each destination is an independent broker
 * and a switchover moves where producers publish. What can be lost is what is still queued on the
 * source when routing moves, so this driver is a drain check:
 *
 * - `lag` = messages still in the source's queues (ready, read in real time by passive declare,
 *   plus unacknowledged, from management statistics); the target is not read (targetOffset 0).
 * - `fence` stops publishes reaching the source's queues while consumers keep draining them: a
 *   policy with `overflow: reject-publish` and `max-length: 0`. Publishers using confirms get a
 *   nack (so they retry, and after the switch land on the target); the queued messages stay.
 *   Chosen over a vhost `max-connections` limit, which leaves open connections publishing and
 *   would also keep consumers from reconnecting to drain. Reversible: `unfence` deletes the
 *   policy, and the queue's own policy (merged into the fence while it holds) applies again.
 * - `promote` and `follow` have nothing to do and say so.
 */
export class RabbitmqReplicator implements Replicator {
  private readonly configs: Map<string, RabbitmqReplicationConfig>;

  constructor(
    destinations: readonly DestinationConfig[],
    private readonly timeoutMs = 3000,
  ) {
    this.configs = new Map(destinations.flatMap((d) => (d.replication.type === 'rabbitmq' ? [[d.id, d.replication] as const] : [])));
  }

  private cfg(id: string): RabbitmqReplicationConfig {
    const c = this.configs.get(id);
    if (!c) throw new Error(`destination ${id} has no rabbitmq replication configured`);
    return c;
  }

  private api(c: RabbitmqReplicationConfig): RabbitmqManagement {
    return new RabbitmqManagement(c.management_url, rabbitmqCredentials(c), this.timeoutMs);
  }

  /** Messages on `source` that would be stranded if routing moved away now. Throws when the source does not answer. */
  async lag(source: string, target: string): Promise<LagReading> {
    const c = this.cfg(source);
    const api = this.api(c);
    const vhost = vhostOf(c.url);
    await this.liftExpired(source).catch(() => {});
    const ready = await withAmqp(c, this.timeoutMs, async (conn) => {
      const out: Array<number | null> = [];
      for (const q of c.queues) out.push((await queueCountsOverAmqp(conn, q))?.ready ?? null);
      return out;
    });
    const parts: string[] = [];
    const missing: string[] = [];
    let total = 0;
    for (const [i, q] of c.queues.entries()) {
      const r = ready[i];
      if (r === null || r === undefined) {
        missing.push(q);
        continue;
      }
      const unacked = (await api.queue(vhost, q))?.messages_unacknowledged ?? 0;
      total += r + unacked;
      parts.push(`${q} ${r} ready + ${unacked} unacked`);
    }
    const linked = missing.length === 0;
    const detail = [
      ...(linked ? [] : [`queue(s) ${missing.join(', ')} not found on ${source} (vhost "${vhost}")`]),
      `${parts.join(', ') || 'no queues'}; independent brokers: ${target}'s offset is not read`,
    ].join('; ');
    return { lag: total, sourceOffset: total, targetOffset: 0, linked, detail };
  }

  async fence(dest: string, holdMs: number): Promise<{ fenced: boolean; detail: string }> {
    const c = this.cfg(dest);
    const api = this.api(c);
    const vhost = vhostOf(c.url);
    await this.liftExpired(dest);
    const deadline = Date.now() + holdMs;
    const policies = await api.policies(vhost);

    // Check every queue before changing anything, so a refusal leaves the broker as it was.
    const plans: Array<{ queue: string; existing: ManagementPolicy[]; base?: ManagementPolicy }> = [];
    for (const queue of c.queues) {
      const q = await api.queue(vhost, queue);
      if (q?.type === 'stream') throw new Error(`cannot fence ${dest}: "${queue}" is a stream, which has no reject-publish overflow`);
      const overflowArg = q?.arguments?.['x-overflow'];
      if (overflowArg !== undefined && overflowArg !== 'reject-publish') {
        // A queue argument beats a policy: max-length 0 would then drop the queued messages.
        throw new Error(`cannot fence ${dest}: queue "${queue}" is declared with x-overflow=${String(overflowArg)}, which a policy cannot override`);
      }
      const existing = policies.filter((p) => parseFence(p.name)?.queue === queue);
      plans.push({ queue, existing, base: appliedPolicy(policies, queue) });
    }

    const applied: string[] = [];
    try {
      for (const { queue, existing, base } of plans) {
        const name = fenceName(queue, deadline);
        const pattern = `^${escapeRegex(queue)}$`;
        if (existing[0]) {
          // Already fenced: the queue already rejects; renew the deadline with the same definition.
          const e = existing[0];
          await api.putPolicy(vhost, name, { pattern, 'apply-to': 'queues', priority: e.priority, definition: e.definition });
        } else {
          const priority = (base?.priority ?? 0) + 1;
          const definition = { ...(base?.definition ?? {}), overflow: 'reject-publish' };
          // Two steps: applying max-length 0 together with the overflow mode makes a classic
          // queue trim to the new length before the mode takes effect, dropping what is queued.
          await api.putPolicy(vhost, name, { pattern, 'apply-to': 'queues', priority, definition });
          applied.push(name);
          await api.putPolicy(vhost, name, { pattern, 'apply-to': 'queues', priority, definition: { ...definition, 'max-length': 0 } });
        }
        for (const e of existing) {
          if (e.name === name) continue;
          await api.deletePolicy(vhost, e.name);
          clearTimeout(holdTimers.get(e.name));
          holdTimers.delete(e.name);
        }
        this.scheduleLift(c, vhost, name, holdMs);
      }
    } catch (err) {
      for (const name of applied) await api.deletePolicy(vhost, name).catch(() => {});
      throw err;
    }
    return {
      fenced: true,
      detail: `policy overflow=reject-publish max-length=0 on ${c.queues.join(', ')} (vhost "${vhost}") until ${new Date(deadline).toISOString()}; consumers keep draining`,
    };
  }

  async unfence(dest: string): Promise<void> {
    const c = this.cfg(dest);
    const api = this.api(c);
    const vhost = vhostOf(c.url);
    for (const p of await api.policies(vhost)) {
      const f = parseFence(p.name);
      if (f && c.queues.includes(f.queue)) {
        await api.deletePolicy(vhost, p.name);
        clearTimeout(holdTimers.get(p.name));
        holdTimers.delete(p.name);
      }
    }
  }

  async promote(dest: string): Promise<{ detail: string }> {
    this.cfg(dest);
    return { detail: `nothing to promote: ${dest} is an independent broker, not a replica; it takes messages as soon as routing points at it` };
  }

  async follow(dest: string, primary: string): Promise<{ detail: string }> {
    this.cfg(dest);
    return {
      detail: `nothing to resync: brokers do not replicate; ${dest} keeps its queues for its consumers to drain and stays fenced (if it was) until unfenced or its hold expires, so stray publishes are refused rather than stranded; ${primary} is unchanged`,
    };
  }

  /** Deletes this destination's fences whose hold has passed. */
  private async liftExpired(dest: string): Promise<void> {
    const c = this.cfg(dest);
    const api = this.api(c);
    const vhost = vhostOf(c.url);
    const now = Date.now();
    for (const p of await api.policies(vhost)) {
      const f = parseFence(p.name);
      if (f && c.queues.includes(f.queue) && f.deadline <= now) await api.deletePolicy(vhost, p.name);
    }
  }

  private scheduleLift(c: RabbitmqReplicationConfig, vhost: string, name: string, holdMs: number): void {
    clearTimeout(holdTimers.get(name));
    const timer = setTimeout(
      () => {
        holdTimers.delete(name);
        new RabbitmqManagement(c.management_url, rabbitmqCredentials(c), this.timeoutMs).deletePolicy(vhost, name).catch(() => {});
      },
      Math.min(holdMs, 2 ** 31 - 1),
    );
    timer.unref();
    holdTimers.set(name, timer);
  }
}

/**
 * The policy RabbitMQ applies to `queue` now (highest priority among matching ones), leaving out
 * fences. Its definition is merged into the fence, so dead-lettering, TTLs etc. keep working.
 */
function appliedPolicy(policies: readonly ManagementPolicy[], queue: string): ManagementPolicy | undefined {
  let best: ManagementPolicy | undefined;
  for (const p of policies) {
    if (parseFence(p.name) || (p['apply-to'] !== 'queues' && p['apply-to'] !== 'all')) continue;
    let matches = false;
    try {
      matches = new RegExp(p.pattern).test(queue);
    } catch {
      continue; // a pattern JavaScript cannot read: such a policy is not merged
    }
    if (matches && (!best || p.priority > best.priority)) best = p;
  }
  return best;
}
