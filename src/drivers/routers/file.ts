import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Routing } from '../../domain/routing';
import { readRouting, type RoutingTable } from '../../routing-client/file-routing';
import type { RouteChange, Router, RouterReadout } from './types';
import { GenerationConflictError } from './types';

export interface FileRouterOptions {
  /** The service's routing table file. */
  path: string;
  service: string;
  /** destination id → its key in the file (`router_server`, default the id) */
  servers: Record<string, string>;
  /** Weights per destination id while the file does not exist yet (generation 0). */
  initial: Record<string, number>;
  /** How long a writer waits for another writer's lock before giving up (default 5s). */
  lockTimeoutMs?: number;
  /** A lock older than this is abandoned whoever holds it (default 30s; a write holds it for milliseconds). */
  staleLockMs?: number;
}

interface LockHolder {
  owner?: { pid: number; host: string; token: string; since: string };
  ino: number;
  mtimeMs: number;
}

/**
 * The embedded default router: one JSON file per service, `{service, generation, weights, updatedAt}`,
 * read by producers with src/routing-client/file-routing.ts.
 *
 * Writes are atomic: the new table goes to a temp file of its own (O_EXCL, unique name), is fsynced and
 * renamed over the old one, then the directory is fsynced; a reader sees the old table or the new one.
 *
 * Compare-and-set needs read-compare-write without another writer in between. Writers on one host are
 * serialized by a lock file `<path>.lock` created with O_EXCL (`wx`): creating it either succeeds for
 * exactly one writer or fails with EEXIST. It holds `{pid, host, token}` and is removed after the write.
 * A lock left by a crash is broken when its pid is gone on this host, or when it is older than
 * `staleLockMs`: the breaker renames it aside (atomic, so only one breaker gets that lock) and checks it
 * got the same file it judged stale; and a writer checks its lock is still its own right before the
 * rename that publishes. Writers on different hosts sharing a network file system are not covered:
 * use a router with a server (HAProxy, the webhook router) for those.
 */
export class FileRouter implements Router {
  private readonly lockPath: string;
  private readonly lockTimeoutMs: number;
  private readonly staleLockMs: number;

  constructor(private readonly opts: FileRouterOptions) {
    this.lockPath = `${opts.path}.lock`;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 5000;
    this.staleLockMs = opts.staleLockMs ?? 30_000;
  }

  async read(): Promise<RouterReadout> {
    return this.readout(await this.load());
  }

  async apply(weights: Record<string, number>, expectedGeneration: number): Promise<{ routing: Routing; changes: RouteChange[] }> {
    for (const destId of Object.keys(weights)) {
      if (!this.opts.servers[destId]) throw new Error(`routing table ${this.opts.path}: no destination ${destId} in service ${this.opts.service}`);
    }
    const token = await this.lock();
    try {
      const table = await this.load();
      const current = this.readout(table).routing;
      if (current.generation !== expectedGeneration) {
        // A retry of our own successful write lands here with the weights already in place: report no change.
        if (current.generation === expectedGeneration + 1 && sameTarget(current.weights, weights)) return { routing: current, changes: [] };
        throw new GenerationConflictError(expectedGeneration, current.generation);
      }
      const next: RoutingTable = {
        service: this.opts.service,
        generation: expectedGeneration + 1,
        // Keys not being set (and names of destinations no longer configured) keep their value.
        weights: { ...(table?.weights ?? this.toFile(this.opts.initial)), ...this.toFile(weights) },
        updatedAt: new Date().toISOString(),
      };
      await this.publish(next, token);
      const changes: RouteChange[] = Object.entries(weights)
        .filter(([id, to]) => (current.weights[id] ?? 0) !== to)
        .map(([id, to]) => ({ destination: id, from: current.weights[id] ?? 0, to }));
      return { routing: this.readout(next).routing, changes };
    } finally {
      await this.unlock(token);
    }
  }

  /** A file has no client sessions to cut: producers re-read the table and move on their own. */
  async cutSessions(_destId: string): Promise<void> {}

  private async load(): Promise<RoutingTable | undefined> {
    const table = await readRouting(this.opts.path);
    if (table?.service !== undefined && table.service !== this.opts.service) {
      throw new Error(`routing table ${this.opts.path} belongs to service ${table.service}, not ${this.opts.service}: give each service its own file`);
    }
    return table;
  }

  private readout(table: RoutingTable | undefined): RouterReadout {
    const weights: Record<string, number> = {};
    const detail: RouterReadout['detail'] = {};
    for (const [destId, key] of Object.entries(this.opts.servers)) {
      const w = table ? (table.weights[key] ?? 0) : (this.opts.initial[destId] ?? 0);
      weights[destId] = w;
      detail[destId] = { state: w > 0 ? 'ready' : 'maint', weight: w };
    }
    return { routing: { generation: table?.generation ?? 0, weights }, detail };
  }

  private toFile(weights: Record<string, number>): Record<string, number> {
    return Object.fromEntries(Object.entries(weights).map(([id, w]) => [this.opts.servers[id] ?? id, w]));
  }

  /** Temp file + fsync + rename + directory fsync. */
  private async publish(table: RoutingTable, token: string): Promise<void> {
    const file = this.opts.path;
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const fh = await fs.open(tmp, 'wx', 0o644);
    try {
      try {
        await fh.writeFile(`${JSON.stringify(table, null, 2)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      const holder = await this.holder();
      if (holder?.owner?.token !== token) throw new Error(`routing table ${file}: lost the writer lock (taken as stale); nothing written, retry`);
      await fs.rename(tmp, file);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    const dir = await fs.open(path.dirname(path.resolve(file)), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  private async lock(): Promise<string> {
    const me = { pid: process.pid, host: os.hostname(), token: randomUUID(), since: new Date().toISOString() };
    const deadline = Date.now() + this.lockTimeoutMs;
    for (;;) {
      try {
        await fs.writeFile(this.lockPath, JSON.stringify(me), { flag: 'wx' });
        return me.token;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await this.holder();
      if (!holder) continue; // released between our attempt and the look
      if (this.isStale(holder)) {
        await this.breakLock(holder);
        continue;
      }
      if (Date.now() > deadline) {
        const who = holder.owner ? `pid ${holder.owner.pid} on ${holder.owner.host} since ${holder.owner.since}` : 'a writer';
        throw new Error(`routing table ${this.opts.path} is locked by ${who}; waited ${this.lockTimeoutMs}ms (lock file ${this.lockPath})`);
      }
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
    }
  }

  private async unlock(token: string): Promise<void> {
    const holder = await this.holder();
    if (holder?.owner?.token === token) await fs.rm(this.lockPath, { force: true });
  }

  private async holder(file = this.lockPath): Promise<LockHolder | undefined> {
    try {
      const [text, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
      let owner: LockHolder['owner'];
      try {
        owner = JSON.parse(text) as LockHolder['owner'];
      } catch {
        owner = undefined; // being written right now, or a crash between create and write
      }
      return { ...(owner ? { owner } : {}), ino: st.ino, mtimeMs: st.mtimeMs };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  private isStale(h: LockHolder): boolean {
    if (Date.now() - h.mtimeMs > this.staleLockMs) return true;
    return h.owner !== undefined && h.owner.host === os.hostname() && !pidAlive(h.owner.pid);
  }

  private async breakLock(stale: LockHolder): Promise<void> {
    const aside = `${this.lockPath}.stale-${randomUUID()}`;
    try {
      await fs.rename(this.lockPath, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // another writer broke it first
      throw err;
    }
    const got = await this.holder(aside);
    if (got && (got.ino !== stale.ino || got.mtimeMs !== stale.mtimeMs)) {
      // Another breaker was faster and this is a live writer's fresh lock: put it back unless a third took the name.
      await fs.link(aside, this.lockPath).catch(() => {});
    }
    await fs.rm(aside, { force: true });
  }
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sameTarget(a: Record<string, number>, b: Record<string, number>): boolean {
  return Object.keys(b).every((k) => (a[k] ?? 0) === b[k]);
}
