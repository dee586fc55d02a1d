import fs from 'node:fs';
import net from 'node:net';
import type { DestinationConfig } from '../../domain/config';
import { redisEndpointOf } from '../../domain/config';
import { parseInfo, replicationInfo, withRedis, type RedisEndpoint } from '../redis-connection';
import type { Divergence, LagReading, Replicator } from './types';

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
    const linked = tgt.role === 'slave' && tgt.linkUp === true && tgt.masterPort === s.port && sameHost(tgt.masterHost ?? '', s.host);
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
      // A node fenced as a stray earlier must take writes once it is the one promoted.
      await r.call('CLIENT', 'UNPAUSE');
      if (before.role === 'master') return { detail: 'already primary' };
      await r.call('REPLICAOF', 'NO', 'ONE');
      const after = await replicationInfo(r);
      if (after.role !== 'master') throw new Error(`REPLICAOF NO ONE left ${dest} as ${after.role}`);
      return { detail: `REPLICAOF NO ONE at offset ${after.offset}` };
    });
  }

  async promotedFrom(dest: string, source: string): Promise<{ lag: number; detail: string } | null> {
    const d = await this.run(dest, replicationInfo);
    const s = await this.run(source, replicationInfo);
    // A promoted replica keeps its old history as replid2, up to second_repl_offset - 1.
    if (d.role !== 'master' || s.role !== 'master' || d.replId2 !== s.replId || d.secondOffset <= 0) return null;
    const at = d.secondOffset - 1;
    const lag = Math.max(0, s.offset - at);
    return { lag, detail: `${dest} promoted at offset ${at} of ${source}'s history; ${source} at ${s.offset}` };
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

  async divergence(dest: string, primary: string): Promise<Divergence> {
    const d = await this.run(dest, async (r) => ({ info: await replicationInfo(r), items: await keyCount(r) }));
    const p = await this.run(primary, replicationInfo);
    const tail = divergentTail(d.info, p, d.items);
    const what = `${dest} holds ${d.items} keys at offset ${d.info.offset} (${primary} at ${p.offset})`;
    const detail =
      tail === null
        ? `${what}; on an unrelated replication history: all of it may be missing from ${primary}`
        : tail > 0
          ? `${what}; ${tail} bytes of writes beyond ${primary}'s history, discarded by the resync`
          : `${what}; nothing ${primary} lacks`;
    return { offset: d.info.offset, items: d.items, primaryOffset: p.offset, tail, detail };
  }

  async snapshot(dest: string, file: string, progress: (bytes: number) => void): Promise<{ bytes: number }> {
    return saveRdb(this.ep(dest), file, Math.max(this.timeoutMs, 10_000), progress);
  }
}

/**
 * Bytes `dest` holds beyond `primary`'s history. Redis names each history by a replication id; a
 * promoted replica keeps the old primary's id as replid2 up to second_repl_offset. So an old
 * primary on replid2 holds exactly `offset − (second_repl_offset − 1)` bytes the new primary never got.
 */
export function divergentTail(
  d: { replId: string; offset: number },
  p: { replId: string; replId2: string; secondOffset: number; offset: number },
  items: number,
): number | null {
  if (d.replId === p.replId) return Math.max(0, d.offset - p.offset);
  if (d.replId === p.replId2 && p.secondOffset > 0) return Math.max(0, d.offset - (p.secondOffset - 1));
  return items === 0 ? 0 : null;
}

async function keyCount(r: Parameters<Parameters<typeof withRedis>[2]>[0]): Promise<number> {
  const info = parseInfo(await r.info('keyspace'));
  return Object.values(info).reduce((n, v) => n + Number(/keys=(\d+)/.exec(v)?.[1] ?? 0), 0);
}

/**
 * Everything a Redis node holds, as an RDB file: the same full-sync stream a replica receives
 * (`SYNC`, as `redis-cli --rdb` does). Written to a temporary name and renamed when complete.
 */
export function saveRdb(ep: RedisEndpoint, file: string, timeoutMs: number, progress: (bytes: number) => void): Promise<{ bytes: number }> {
  const password = ep.password_env ? process.env[ep.password_env] : undefined;
  const tmp = `${file}.part`;
  return new Promise((resolve, reject) => {
    const out = fs.createWriteStream(tmp);
    const sock = net.connect({ host: ep.host, port: ep.port });
    let head = Buffer.alloc(0);
    let expected = -1;
    let got = 0;
    let authed = !password;
    let idle = setTimeout(() => fail(new Error(`no data from ${ep.host}:${ep.port} for ${timeoutMs}ms`)), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(idle);
      sock.destroy();
      out.destroy();
      fs.rm(tmp, { force: true }, () => reject(err));
    };
    sock.on('error', fail);
    sock.on('connect', () => sock.write(password ? `AUTH ${password}\r\nSYNC\r\n` : 'SYNC\r\n'));
    sock.on('data', (chunk: Buffer) => {
      clearTimeout(idle);
      idle = setTimeout(() => fail(new Error(`no data from ${ep.host}:${ep.port} for ${timeoutMs}ms`)), timeoutMs);
      if (expected < 0) {
        head = Buffer.concat([head, chunk]);
        for (;;) {
          while (head.length > 0 && head[0] === 0x0a) head = head.subarray(1); // keep-alives while the node forks its snapshot
          const eol = head.indexOf('\r\n');
          if (eol < 0) return;
          const line = head.subarray(0, eol).toString();
          head = head.subarray(eol + 2);
          if (line.startsWith('-')) return fail(new Error(`${ep.host}:${ep.port} refused SYNC: ${line.slice(1)}`));
          if (!authed && line.startsWith('+')) {
            authed = true;
            continue;
          }
          if (!line.startsWith('$')) return fail(new Error(`unexpected reply to SYNC: ${line.slice(0, 80)}`));
          expected = Number(line.slice(1));
          chunk = head;
          break;
        }
      }
      const take = chunk.subarray(0, expected - got);
      got += take.length;
      out.write(take);
      progress(got);
      if (got >= expected) {
        clearTimeout(idle);
        sock.destroy();
        out.end(() => fs.rename(tmp, file, (err) => (err ? reject(err) : resolve({ bytes: got }))));
      }
    });
  });
}

function sameHost(a: string, b: string): boolean {
  const norm = (h: string) => (h === 'localhost' || h === '::1' ? '127.0.0.1' : h);
  return norm(a) === norm(b);
}
