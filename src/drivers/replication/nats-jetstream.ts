/**
 * JetStream replication between sites: a writable stream on the primary, a standby stream of the same
 * name on each other site copying it through a leafnode. What to configure (details in docs/drivers/nats.md):
 *
 * - Each site's nats-server runs JetStream with its own `jetstream { domain: <site> }`; the sites are
 *   joined by a leafnode connection (one side `leafnodes.listen`, the other `leafnodes.remotes`).
 * - Primary site: the stream, with exactly the `subjects` given in this destination's config.
 * - Standby sites: the stream with no subjects and one upstream naming the primary's stream with
 *   `external.api: "$JS.<primary domain>.API"`: as `sources: [ … ]` on nats-server 2.9–2.11 (a mirror
 *   cannot be made writable before 2.12), as `mirror: …` or `sources` on 2.12+.
 * - Producers publish with JetStream acks, so a fenced stream's "no responders" is an error they retry.
 *
 * fence swaps the stream's subjects for `_FM.FENCED.<stream>` (reversible: `sealed` is not, and
 * `max_msgs` + `discard: new` leaks as old messages expire); promote drops the mirror/sources and restores
 * the subjects; follow re-creates the old primary's stream as a standby of the new one, after checking
 * the new primary holds every message it has (the server cannot add a mirror or reposition a source on
 * an existing stream safely), which deletes that stream's consumers.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiError, type JetStreamManager, type StoredMsg, type StreamConfig, type StreamSource } from '@nats-io/jetstream';
import type { DestinationConfig, NatsJetStreamReplicationConfig } from '../../domain/config';
import { requireMs } from '../../domain/duration';
import { fencedSubject, isStreamNotFound, natsManager, readStreamState, withNats, type StreamState } from '../probes/nats';
import type { LagReading, Replicator } from './types';

/** Server error code for "stream mirror configuration can not be updated" (nats-server before 2.12). */
const MIRROR_NOT_UPDATABLE = 10055;
/** Header the server stamps on every message a `sources` stream copies: "<stream>[:<hash>] <upstream seq> …". */
const SOURCE_HEADER = 'Nats-Stream-Source';
/** How far follow() searches the new primary for the old primary's last message. */
const SEARCH_LIMIT = 1000;

interface Site {
  jsm: JetStreamManager;
  nc: NatsConnection;
  domain?: string;
  version: string;
}

/** Fence holds by `<url>|<stream>`: module-level, as replicators are built per activity call. */
const holds = new Map<string, NodeJS.Timeout>();

export class NatsJetStreamReplicator implements Replicator {
  private readonly configs: Map<string, NatsJetStreamReplicationConfig>;

  constructor(
    destinations: readonly DestinationConfig[],
    private readonly timeoutMs = 3000,
  ) {
    this.configs = new Map(destinations.flatMap((d) => (d.replication.type === 'nats-jetstream' ? [[d.id, d.replication] as const] : [])));
  }

  private cfg(id: string): NatsJetStreamReplicationConfig {
    const c = this.configs.get(id);
    if (!c) throw new Error(`destination ${id} has no nats-jetstream replication configured`);
    return c;
  }

  private run<T>(id: string, use: (site: Site, cfg: NatsJetStreamReplicationConfig) => Promise<T>): Promise<T> {
    const cfg = this.cfg(id);
    return withNats(cfg, this.timeoutMs, async (nc) => {
      const jsm = await natsManager(nc, this.timeoutMs);
      const domain = (await jsm.getAccountInfo()).domain || undefined;
      return use({ jsm, nc, ...(domain ? { domain } : {}), version: nc.info?.version ?? '0.0.0' }, cfg);
    });
  }

  private state(site: Site, cfg: NatsJetStreamReplicationConfig): Promise<StreamState> {
    return readStreamState(site.jsm, cfg.stream, requireMs(cfg.stall_after));
  }

  /**
   * Source last sequence − the last source sequence the target holds: for a mirror its own last
   * sequence (mirrors keep sequence numbers), for a `sources` standby the sequence in the source header
   * of its last message. `linked` = the target's upstream is this source's stream through this source's
   * domain, and the link advances (see readStreamState; a stalled standby is never linked, whatever lag).
   */
  async lag(source: string, target: string): Promise<LagReading> {
    const src = await this.run(source, async (site, cfg) => ({ state: await this.state(site, cfg), domain: site.domain }));
    const s = this.cfg(source);
    return this.run(target, async (site, cfg) => {
      const tgt = await this.state(site, cfg);
      const sourceOffset = src.state.lastSeq;
      if (tgt.kind !== 'mirror' && tgt.kind !== 'sources') {
        return {
          lag: Math.max(0, sourceOffset - tgt.lastSeq),
          sourceOffset,
          targetOffset: tgt.lastSeq,
          linked: false,
          detail: `${target}'s stream ${cfg.stream} is ${tgt.kind === 'fenced' ? 'a fenced writable stream' : 'writable'}, not a standby`,
        };
      }
      const up = tgt.upstreams.length === 1 ? tgt.upstreams[0]! : undefined;
      const expectedApi = src.domain && src.domain !== site.domain ? `$JS.${src.domain}.API` : undefined;
      const namesSource = up !== undefined && up.name === s.stream && sameApi(up.api, expectedApi);
      const position = tgt.kind === 'mirror' ? tgt.lastSeq : namesSource ? await copiedPosition(site.jsm, tgt, s.stream, src.state.firstSeq) : tgt.lastSeq;
      const linked = namesSource && tgt.advancing === true;
      const what = tgt.kind === 'mirror' ? 'mirror' : 'sourced standby';
      const detail = !up
        ? `${target}'s stream ${cfg.stream} has ${tgt.upstreams.length} upstreams; expected one, ${source}'s ${s.stream}`
        : !namesSource
          ? `${target}'s ${what} copies ${up.name} via ${up.api ?? 'the local API'}, not ${source}'s ${s.stream}${expectedApi ? ` via ${expectedApi}` : ''}`
          : !linked
            ? `${target}'s ${what} of ${source} is stalled: ${up.activeAgoMs < 0 ? 'never heard from it' : `last heard ${Math.round(up.activeAgoMs)}ms ago`}` +
              `${up.error ? ` (${up.error})` : ''}; its own lag report (${up.lag}) is stale`
            : undefined;
      return {
        lag: Math.max(0, sourceOffset - position),
        sourceOffset,
        targetOffset: position,
        linked,
        ...(detail ? { detail } : {}),
      };
    });
  }

  async fence(dest: string, holdMs: number): Promise<{ fenced: boolean; detail: string }> {
    const result = await this.run(dest, async (site, cfg) => {
      const st = await this.state(site, cfg);
      if (st.kind === 'mirror' || st.kind === 'sources') return { fenced: true, detail: `${cfg.stream} is a standby (${st.kind}); it takes no writes` };
      if (st.kind === 'fenced') return { fenced: true, detail: `${cfg.stream} already fenced (subjects ${fencedSubject(cfg.stream)})` };
      await fenceStream(site.jsm, st, cfg);
      return {
        fenced: true,
        detail:
          `${cfg.stream} subjects [${st.subjects.join(', ')}] swapped for ${fencedSubject(cfg.stream)} at seq ${st.lastSeq}: ` +
          `publishes get "no responders"; unfence restores them, or this worker after ${holdMs}ms unless another destination is writable by then`,
      };
    });
    this.hold(dest, holdMs);
    return result;
  }

  async unfence(dest: string): Promise<void> {
    this.release(dest);
    await this.run(dest, async (site, cfg) => {
      const st = await this.state(site, cfg);
      if (st.kind === 'fenced') await site.jsm.streams.update(cfg.stream, { subjects: cfg.subjects });
    });
  }

  async promote(dest: string): Promise<{ detail: string }> {
    this.release(dest);
    return this.run(dest, async (site, cfg) => {
      const st = await this.state(site, cfg);
      switch (st.kind) {
        case 'writable':
          return { detail: `${cfg.stream} already writable at seq ${st.lastSeq}` };
        case 'fenced':
          await site.jsm.streams.update(cfg.stream, { subjects: cfg.subjects });
          return { detail: `${cfg.stream} was fenced; subjects [${cfg.subjects.join(', ')}] restored at seq ${st.lastSeq}` };
        case 'sources':
          await site.jsm.streams.update(cfg.stream, { sources: [], subjects: cfg.subjects });
          return {
            detail: `${cfg.stream}: sources (${st.upstreams.map((u) => u.name).join(', ')}) removed, takes [${cfg.subjects.join(', ')}] from seq ${st.lastSeq + 1}`,
          };
        case 'mirror':
          try {
            await site.jsm.streams.update(cfg.stream, { mirror: undefined, subjects: cfg.subjects });
          } catch (err) {
            if (err instanceof JetStreamApiError && err.code === MIRROR_NOT_UPDATABLE) {
              throw new Error(
                `nats-server ${site.version} cannot turn mirror ${cfg.stream} into a writable stream (needs 2.12+); ` +
                  `configure the standby with "sources" instead of "mirror" (docs/drivers/nats.md)`,
              );
            }
            throw err;
          }
          return { detail: `${cfg.stream}: mirror of ${st.upstreams[0]?.name} removed, takes [${cfg.subjects.join(', ')}] from seq ${st.lastSeq + 1}` };
      }
    });
  }

  /**
   * Makes `dest` a standby of `primary`: fences it, checks `primary` holds its last message (so nothing
   * only `dest` has is dropped), deletes it and re-creates it with no subjects and one upstream: a mirror
   * where the server can promote one later (2.12+), else `sources`. It then copies the whole stream.
   */
  async follow(dest: string, primary: string): Promise<{ detail: string }> {
    this.release(dest);
    const p = this.cfg(primary);
    const upstream = await this.run(primary, async (site, cfg) => ({ state: await this.state(site, cfg), domain: site.domain }));
    if (upstream.state.kind === 'mirror' || upstream.state.kind === 'sources') {
      throw new Error(
        `${primary}'s ${p.stream} is itself a standby (${upstream.state.kind} of ${upstream.state.upstreams.map((u) => u.name).join(', ')}); promote it first`,
      );
    }
    return this.run(dest, async (site, cfg) => {
      const api = upstream.domain && upstream.domain !== site.domain ? `$JS.${upstream.domain}.API` : undefined;
      let st: StreamState | undefined;
      try {
        st = await this.state(site, cfg);
      } catch (err) {
        if (!isStreamNotFound(err)) throw err;
      }
      const up = st?.upstreams.length === 1 ? st.upstreams[0] : undefined;
      if (st && (st.kind === 'mirror' || st.kind === 'sources') && up?.name === p.stream && sameApi(up.api, api)) {
        return { detail: `${cfg.stream} already a ${st.kind === 'mirror' ? 'mirror' : 'sourced standby'} of ${primary}` };
      }
      if (st?.kind === 'writable') await fenceStream(site.jsm, st, cfg);
      if (cfg.follow === 'manual') {
        return {
          detail: `follow: manual; ${cfg.stream} left ${st ? 'fenced' : 'absent'}: make it a standby of ${primary}'s ${p.stream}${api ? ` via ${api}` : ''} by hand`,
        };
      }
      if (st && st.messages > 0) {
        const last = await lastMessage(site.jsm, cfg.stream, st);
        const copied = last ? parseSourceHeader(last.header?.get(SOURCE_HEADER)) : undefined;
        // Its last message a copy of the primary's (a standby promoted, then rolled back): held if the primary still reaches that far.
        const held = !last || (copied?.stream === p.stream ? upstream.state.lastSeq >= copied.seq : await this.holds(primary, last, cfg.stream));
        if (!held) {
          throw new Error(
            `${dest}'s ${cfg.stream} has messages up to seq ${st.lastSeq} that ${primary} does not hold; ` +
              `re-creating it as a standby would drop them: reconcile by hand, then delete the stream and follow again`,
          );
        }
      }
      const kind = atLeast(site.version, 2, 12) ? 'mirror' : 'sources';
      const source: StreamSource = { name: p.stream, ...(api ? { external: { api } } : {}) };
      const old = st?.info.config;
      const standby: Partial<StreamConfig> & { name: string } = {
        ...(old ? keepLimits(old) : {}),
        name: cfg.stream,
        ...(kind === 'mirror' ? { mirror: source } : { sources: [source] }),
      };
      if (st) await site.jsm.streams.delete(cfg.stream);
      await site.jsm.streams.add(standby);
      return {
        detail:
          `${cfg.stream} ${st ? `(was ${st.kind}, ${st.messages} messages up to seq ${st.lastSeq}) ` : ''}re-created as a ` +
          `${kind === 'mirror' ? 'mirror' : 'sourced standby'} of ${primary}'s ${p.stream}${api ? ` via ${api}` : ''}; copying from its first message`,
      };
    });
  }

  /** Whether `primary`'s stream holds `msg` (the last message of `stream` on another site). */
  private holds(primary: string, msg: StoredMsg, stream: string): Promise<boolean> {
    return this.run(primary, async (site, cfg) => {
      // A promoted mirror keeps the sequence numbers: the same message at the same sequence.
      const same = await site.jsm.streams.getMessage(cfg.stream, { seq: msg.seq });
      if (same && !same.header?.get(SOURCE_HEADER) && sameMessage(same, msg)) return true;
      // A promoted `sources` standby stamped each copy with "<stream>[:hash] <seq>"; copies are in order.
      const info = await site.jsm.streams.info(cfg.stream);
      let seq = Math.min(msg.seq, info.state.last_seq);
      for (let i = 0; i < SEARCH_LIMIT && seq >= info.state.first_seq; i++) {
        const m = await site.jsm.streams.getMessage(cfg.stream, { seq });
        const from = m ? parseSourceHeader(m.header?.get(SOURCE_HEADER)) : undefined;
        if (from && from.stream === stream) {
          if (from.seq === msg.seq) return true;
          if (from.seq < msg.seq) return false;
          seq -= from.seq - msg.seq;
        } else seq -= 1;
      }
      return false;
    });
  }

  /**
   * JetStream has no timed fence; this worker lifts it after `holdMs` unless unfence/promote/follow came
   * first, and only when every other destination is reachable and none is writable (two writable streams
   * on linked sites would both take every message). A fence outlives a worker restart until unfence.
   */
  private hold(dest: string, holdMs: number): void {
    this.release(dest);
    const key = this.holdKey(dest);
    const timer = setTimeout(() => {
      holds.delete(key);
      void this.liftIfAlone(dest).catch(() => {});
    }, holdMs);
    timer.unref();
    holds.set(key, timer);
  }

  private release(dest: string): void {
    const key = this.holdKey(dest);
    const timer = holds.get(key);
    if (timer) clearTimeout(timer);
    holds.delete(key);
  }

  private holdKey(dest: string): string {
    const c = this.cfg(dest);
    return `${[c.url].flat().join(',')}|${c.stream}`;
  }

  private async liftIfAlone(dest: string): Promise<void> {
    for (const other of this.configs.keys()) {
      if (other === dest) continue;
      const st = await this.run(other, (site, cfg) => this.state(site, cfg));
      if (st.kind === 'writable') return;
    }
    await this.unfence(dest);
  }
}

async function fenceStream(jsm: JetStreamManager, st: StreamState, cfg: NatsJetStreamReplicationConfig): Promise<void> {
  if (!sameSet(st.subjects, cfg.subjects)) {
    throw new Error(
      `stream ${cfg.stream} takes [${st.subjects.join(', ')}] but the config says [${cfg.subjects.join(', ')}]; ` +
        `fix the config first, or unfence would restore the wrong subjects`,
    );
  }
  await jsm.streams.update(cfg.stream, { subjects: [fencedSubject(cfg.stream)] });
}

/** The last upstream sequence a `sources` standby holds (from its last message's source header). */
async function copiedPosition(jsm: JetStreamManager, st: StreamState, upstream: string, upstreamFirstSeq: number): Promise<number> {
  const configured = st.info.config.sources?.[0]?.opt_start_seq;
  const before = Math.max((configured ?? 1) - 1, upstreamFirstSeq - 1, 0);
  if (st.messages === 0) return before;
  for (let seq = st.lastSeq, i = 0; seq >= st.firstSeq && i < 100; seq--, i++) {
    const m = await jsm.streams.getMessage(st.name, { seq });
    const from = m ? parseSourceHeader(m.header?.get(SOURCE_HEADER)) : undefined;
    if (from && from.stream === upstream) return from.seq;
  }
  throw new Error(`stream ${st.name}: none of its last 100 messages was copied from ${upstream}; cannot tell its position`);
}

async function lastMessage(jsm: JetStreamManager, stream: string, st: StreamState): Promise<StoredMsg | undefined> {
  for (let seq = st.lastSeq, i = 0; seq >= st.firstSeq && i < 100; seq--, i++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m) return m;
  }
  return undefined;
}

function parseSourceHeader(value: string | undefined): { stream: string; seq: number } | undefined {
  if (!value) return undefined;
  const [iname, seq] = value.trim().split(/\s+/);
  const n = Number(seq);
  if (!iname || !Number.isInteger(n)) return undefined;
  return { stream: iname.split(':')[0]!, seq: n };
}

function sameMessage(a: StoredMsg, b: StoredMsg): boolean {
  return a.subject === b.subject && a.timestamp === b.timestamp && Buffer.from(a.data).equals(Buffer.from(b.data));
}

/** Stream settings a re-created standby keeps from the stream it replaces. */
function keepLimits(c: StreamConfig): Partial<StreamConfig> {
  const {
    retention,
    storage,
    num_replicas,
    max_msgs,
    max_bytes,
    max_age,
    max_msg_size,
    max_msgs_per_subject,
    discard,
    duplicate_window,
    description,
    placement,
  } = c;
  return {
    retention,
    storage,
    num_replicas,
    max_msgs,
    max_bytes,
    max_age,
    max_msg_size,
    max_msgs_per_subject,
    discard,
    duplicate_window,
    ...(description ? { description } : {}),
    ...(placement ? { placement } : {}),
  };
}

function sameApi(a: string | undefined, b: string | undefined): boolean {
  const norm = (x: string | undefined) => (!x || x === '$JS.API' ? '' : x.replace(/\.$/, ''));
  return norm(a) === norm(b);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function atLeast(version: string, major: number, minor: number): boolean {
  const [ma = 0, mi = 0] = version.split('.').map((x) => Number.parseInt(x, 10));
  return ma > major || (ma === major && mi >= minor);
}
