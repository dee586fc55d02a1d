import type { DestinationConfig } from '../../domain/config';
import { redisEndpointOf } from '../../domain/config';
import { replicationInfo, withRedis, type RedisEndpoint } from '../redis-connection';
import type { LagReading, Replicator } from './types';

/** Redis primary/replica: INFO offsets, CLIENT PAUSE WRITE as fence, REPLICAOF to promote and resync. */
export class RedisReplicator implements Replicator {
  private readonly endpoints: Map<string, RedisEndpoint>;

  constructor(
    destinations: readonly DestinationConfig[],
    private readonly timeoutMs = 3000,
  ) {
    this.endpoints = new Map(destinations.filter((d) => d.replication.type === 'redis').map((d) => [d.id, redisEndpointOf(d)]));
  }

  private ep(id: string): RedisEndpoint {
    const ep = this.endpoints.get(id);
    if (!ep) throw new Error(`destination ${id} has no redis replication configured`);
    return ep;
  }

  private run<T>(id: string, use: Parameters<typeof withRedis<T>>[2]): Promise<T> {
    return withRedis(this.ep(id), this.timeoutMs, use);
  }

  async lag(source: string, target: string): Promise<LagReading> {
    const src = await this.run(source, replicationInfo);
    const tgt = await this.run(target, replicationInfo);
    const s = this.ep(source);
    const linked =
      tgt.role === 'slave' && tgt.linkUp === true && tgt.masterPort === s.port && sameHost(tgt.masterHost ?? '', s.host);
    const detail = linked
      ? undefined
      : tgt.role === 'master'
        ? `${target} is a primary, not replicating`
        : `${target} replicates from ${tgt.masterHost}:${tgt.masterPort} (link ${tgt.linkUp ? 'up' : 'down'})`;
    return {
      lag: Math.max(0, src.offset - tgt.offset),
      sourceOffset: src.offset,
      targetOffset: tgt.offset,
      linked,
      ...(detail ? { detail } : {}),
    };
  }

  async fence(dest: string, holdMs: number): Promise<{ fenced: boolean; detail: string }> {
    return this.run(dest, async (r) => {
      await r.call('CLIENT', 'PAUSE', String(holdMs), 'WRITE');
      return { fenced: true, detail: `CLIENT PAUSE ${holdMs} WRITE` };
    });
  }

  async unfence(dest: string): Promise<void> {
    await this.run(dest, (r) => r.call('CLIENT', 'UNPAUSE'));
  }

  async promote(dest: string): Promise<{ detail: string }> {
    return this.run(dest, async (r) => {
      const before = await replicationInfo(r);
      if (before.role === 'master') return { detail: 'already primary' };
      await r.call('REPLICAOF', 'NO', 'ONE');
      const after = await replicationInfo(r);
      if (after.role !== 'master') throw new Error(`REPLICAOF NO ONE left ${dest} as ${after.role}`);
      return { detail: `REPLICAOF NO ONE at offset ${after.offset}` };
    });
  }

  async follow(dest: string, primary: string): Promise<{ detail: string }> {
    const p = this.ep(primary);
    return this.run(dest, async (r) => {
      const before = await replicationInfo(r);
      const already = before.role === 'slave' && before.masterPort === p.port && sameHost(before.masterHost ?? '', p.host);
      if (!already) await r.call('REPLICAOF', p.host, String(p.port));
      // Writes held by a fence now fail with READONLY instead of landing on the old primary.
      await r.call('CLIENT', 'UNPAUSE');
      return { detail: already ? `already replica of ${primary}` : `REPLICAOF ${p.host} ${p.port}` };
    });
  }
}

function sameHost(a: string, b: string): boolean {
  const norm = (h: string) => (h === 'localhost' || h === '::1' ? '127.0.0.1' : h);
  return norm(a) === norm(b);
}
