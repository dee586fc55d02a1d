import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../dev/devserver/free-port';
import { startNatsSites } from '../../dev/devserver/local-nats';
import { replicatorFor, routerFor } from '../../src/drivers';
import { runProbe } from '../../src/drivers/probes';
import { GenerationConflictError } from '../../src/drivers/routers/types';
import type { Replicator } from '../../src/drivers/replication/types';
import { watchRouting, type NatsRoutingValue } from '../../src/routing-client/nats-kv-routing';
import type { ProbeConfig } from '../../src/domain/config';
import { eventually, startNatsService, STREAM, SUBJECTS, type NatsService } from '../support/nats-sites';

let fixture: NatsService | undefined;
afterEach(async () => {
  await fixture?.stop();
  fixture = undefined;
});

async function start(standby: 'mirror' | 'sources' | 'none' = 'sources'): Promise<NatsService> {
  fixture = await startNatsService(standby);
  return fixture;
}

function probeOf(f: NatsService, id: 'nats-a' | 'nats-b'): ProbeConfig {
  return f.service.destinations.find((d) => d.id === id)!.probe;
}

function replicator(f: NatsService): Replicator {
  return replicatorFor(f.service, 3000)!;
}

/** Lag once the standby has caught up and its link is live. */
async function caughtUp(r: Replicator, source: string, target: string) {
  return eventually(async () => {
    const l = await r.lag(source, target);
    return l.linked && l.lag === 0 ? l : undefined;
  }, `${target} caught up with ${source}`);
}

describe('local nats-server launcher', () => {
  it('starts two JetStream sites joined by a leafnode, each its own domain', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-nats-sites-'));
    const sites = await startNatsSites(dir);
    try {
      const domains = await Promise.all(
        [sites.source, sites.backup].map(async (s) => {
          const nc = await connect({ servers: s.url });
          const d = (await (await jetstreamManager(nc)).getAccountInfo()).domain;
          await nc.close();
          return d;
        }),
      );
      expect(domains).toEqual(['source', 'backup']);
      expect(sites.source.port).not.toBe(sites.backup.port);
    } finally {
      await sites.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('nats probe', () => {
  it('reports up with the round trip as latency, and the stream last sequence as offset', async () => {
    const f = await start('none');
    const seqs = await f.publish(5);
    const r = await runProbe(probeOf(f, 'nats-a'), 2000);
    expect(r).toMatchObject({ up: true, role: 'primary', offset: seqs[4] });
    expect(seqs[4]).toBe(5);
    expect(r.latencyMs).toBeGreaterThan(0);
    expect(r.lag).toBeUndefined();
    // Without a stream: connection and RTT only.
    const plain = await runProbe({ type: 'nats', url: f.source.url, stall_after: '3s' }, 2000);
    expect(plain.up).toBe(true);
    expect(plain.offset).toBeUndefined();
  });

  it('reports down, classified, when nothing listens, and when the stream is missing', async () => {
    const f = await start('none');
    const port = await freePort();
    const refused = await runProbe({ type: 'nats', url: `nats://127.0.0.1:${port}`, stall_after: '3s' }, 1000);
    expect(refused).toMatchObject({ up: false, failure: 'refused' });
    const missing = await runProbe({ type: 'nats', url: f.source.url, stream: 'NOPE', stall_after: '3s' }, 1000);
    expect(missing).toMatchObject({ up: false, failure: 'error', error: 'stream NOPE not found' });
  });

  it('tells an idle mirror (advancing, lag 0) from a stalled one (lag 0 reported, not advancing)', async () => {
    const f = await start('mirror');
    const seqs = await f.publish(10);
    const r = replicator(f);
    await caughtUp(r, 'nats-a', 'nats-b');
    const idle = await runProbe(probeOf(f, 'nats-b'), 2000);
    expect(idle).toMatchObject({ up: true, role: 'replica', offset: seqs[9], lag: 0, advancing: true });

    // Source site stops: the mirror keeps reporting lag 0, but it no longer hears its upstream.
    await f.source.stop();
    const stalled = await eventually(async () => {
      const p = await runProbe(probeOf(f, 'nats-b'), 2000);
      return p.advancing === false ? p : undefined;
    }, 'mirror reported as stalled');
    expect(stalled).toMatchObject({ up: true, role: 'replica', offset: 10, lag: 0, advancing: false });
    await expect(r.lag('nats-a', 'nats-b')).rejects.toThrow();

    await f.restartSource();
    await eventually(async () => (await runProbe(probeOf(f, 'nats-b'), 2000)).advancing === true, 'mirror advancing again');
    await f.publish(3);
    const after = await caughtUp(r, 'nats-a', 'nats-b');
    expect(after).toMatchObject({ sourceOffset: 13, targetOffset: 13 });
  });
});

describe('nats-jetstream replicator', () => {
  it('measures mirror lag as source last seq − mirror last seq; a partitioned mirror is not linked however small its reported lag', async () => {
    const f = await start('mirror');
    await f.publish(20);
    const r = replicator(f);
    expect(await caughtUp(r, 'nats-a', 'nats-b')).toEqual({ lag: 0, sourceOffset: 20, targetOffset: 20, linked: true });

    f.link.cut();
    await f.publish(7);
    const stalled = await eventually(async () => {
      const l = await r.lag('nats-a', 'nats-b');
      return l.linked ? undefined : l;
    }, 'partitioned mirror seen as not linked');
    expect(stalled).toMatchObject({ lag: 7, sourceOffset: 27, targetOffset: 20, linked: false });
    expect(stalled.detail).toMatch(/stalled: last heard \d+ms ago; its own lag report \(0\) is stale/);
    // The standby's own view: lag 0, stale.
    expect(await runProbe(probeOf(f, 'nats-b'), 2000)).toMatchObject({ lag: 0, advancing: false, offset: 20 });

    f.link.restore();
    expect(await caughtUp(r, 'nats-a', 'nats-b')).toMatchObject({ sourceOffset: 27, targetOffset: 27 });
  });

  it("reads a sourced standby's position from the source header of its last message", async () => {
    const f = await start('none');
    // A gap upstream before the standby exists: its own sequences stop matching the source's.
    await f.publish(5);
    await (await f.jsm('source')).streams.deleteMessage(STREAM, 3);
    await f.publish(5);
    await (await f.jsm('backup')).streams.add({ name: STREAM, sources: [{ name: STREAM, external: { api: '$JS.site-a.API' } }] });
    const r = replicator(f);
    const l = await caughtUp(r, 'nats-a', 'nats-b');
    expect(l).toMatchObject({ sourceOffset: 10, targetOffset: 10 });
    expect((await (await f.jsm('backup')).streams.info(STREAM)).state.last_seq).toBe(9);
  });

  it('says what a standby copies when it is not the source', async () => {
    const f = await start('none');
    await (await f.jsm('backup')).streams.add({ name: STREAM, sources: [{ name: 'OTHER', external: { api: '$JS.site-a.API' } }] });
    await f.publish(4);
    const l = await replicator(f).lag('nats-a', 'nats-b');
    expect(l).toMatchObject({ lag: 4, linked: false });
    expect(l.detail).toBe("nats-b's sourced standby copies OTHER via $JS.site-a.API, not nats-a's ORDERS via $JS.site-a.API");
  });

  it('fences reversibly: publishes fail while fenced, the standby still catches up, unfence restores the subjects', async () => {
    const f = await start('sources');
    await f.publish(3);
    const r = replicator(f);
    const fence = await r.fence('nats-a', 60_000);
    expect(fence.fenced).toBe(true);
    expect(fence.detail).toContain('swapped for _FM.FENCED.ORDERS at seq 3');
    await expect(f.publish(1)).rejects.toThrow();
    expect((await (await f.jsm('source')).streams.info(STREAM)).config.subjects).toEqual(['_FM.FENCED.ORDERS']);
    expect(await caughtUp(r, 'nats-a', 'nats-b')).toMatchObject({ sourceOffset: 3 });
    expect((await r.fence('nats-a', 60_000)).detail).toContain('already fenced');

    await r.unfence('nats-a');
    await r.unfence('nats-a');
    expect((await (await f.jsm('source')).streams.info(STREAM)).config.subjects).toEqual(SUBJECTS);
    expect(await f.publish(1)).toEqual([4]);
  });

  it('lifts a fence after its hold only while no other destination is writable', async () => {
    const f = await start('sources');
    const r = replicator(f);
    await r.fence('nats-a', 200);
    await eventually(
      async () =>
        (await f
          .publish(1)
          .then(() => true)
          .catch(() => false)) || undefined,
      'fence lifted after its hold',
    );

    await caughtUp(r, 'nats-a', 'nats-b');
    await r.fence('nats-a', 60_000);
    await r.promote('nats-b');
    await r.fence('nats-a', 200);
    await new Promise((res) => setTimeout(res, 1500));
    expect((await (await f.jsm('source')).streams.info(STREAM)).config.subjects).toEqual(['_FM.FENCED.ORDERS']);
  });

  it('cannot promote a mirror on this nats-server and says what to configure instead', async () => {
    const f = await start('mirror');
    await f.publish(2);
    const r = replicator(f);
    await caughtUp(r, 'nats-a', 'nats-b');
    await expect(r.promote('nats-b')).rejects.toThrow(
      /cannot turn mirror ORDERS into a writable stream \(needs 2\.12\+\); configure the standby with "sources"/,
    );
    expect((await (await f.jsm('backup')).streams.info(STREAM)).config.mirror?.name).toBe(STREAM);
  });

  it('switches over and back without losing an acknowledged message: fence, catch up, promote, follow', async () => {
    const f = await start('sources');
    const r = replicator(f);
    const before = await f.publish(30);
    await caughtUp(r, 'nats-a', 'nats-b');

    await r.fence('nats-a', 60_000);
    await caughtUp(r, 'nats-a', 'nats-b');
    expect((await r.promote('nats-b')).detail).toContain('sources (ORDERS) removed');
    expect((await r.promote('nats-b')).detail).toContain('already writable');
    // Producers on either site now reach the backup's stream: the leafnode carries its subject interest
    // to the source site (after a moment; until then a publish there finds no stream and is retried).
    const viaB = await f.publish(5, 'backup');
    expect(viaB).toEqual([31, 32, 33, 34, 35]);
    expect(await eventually(() => f.publish(1, 'source').catch(() => undefined), 'publish through the source site')).toEqual([36]);
    expect(await f.publish(4, 'source')).toEqual([37, 38, 39, 40]);

    expect((await r.follow('nats-a', 'nats-b')).detail).toContain('re-created as a sourced standby of nats-b');
    expect((await r.follow('nats-a', 'nats-b')).detail).toContain('already a sourced standby of nats-b');
    expect(await caughtUp(r, 'nats-b', 'nats-a')).toMatchObject({ sourceOffset: 40, targetOffset: 40 });
    const a = await (await f.jsm('source')).streams.info(STREAM);
    expect(a.state.messages).toBe(40);
    expect(a.config.subjects ?? []).toEqual([]);
    expect(before).toHaveLength(30);

    // And back.
    await r.fence('nats-b', 60_000);
    await caughtUp(r, 'nats-b', 'nats-a');
    await r.promote('nats-a');
    await r.follow('nats-b', 'nats-a');
    expect(await eventually(() => f.publish(2, 'backup').catch(() => undefined), 'publish through the backup site')).toEqual([41, 42]);
    expect(await caughtUp(r, 'nats-a', 'nats-b')).toMatchObject({ sourceOffset: 42, targetOffset: 42 });
    expect((await (await f.jsm('backup')).streams.info(STREAM)).state.messages).toBe(42);
  });

  it('rolls a promotion back: the promoted standby follows the fenced source again, then the source is unfenced', async () => {
    const f = await start('sources');
    const r = replicator(f);
    await f.publish(12);
    await r.fence('nats-a', 60_000);
    await caughtUp(r, 'nats-a', 'nats-b');
    await r.promote('nats-b');
    // Undo in reverse: the backup becomes a standby of the (still fenced) source, then the source takes writes again.
    expect((await r.follow('nats-b', 'nats-a')).detail).toContain('re-created as a sourced standby of nats-a');
    await r.unfence('nats-a');
    expect(await f.publish(1)).toEqual([13]);
    expect(await caughtUp(r, 'nats-a', 'nats-b')).toMatchObject({ sourceOffset: 13, targetOffset: 13 });
  });

  it('will not follow a standby, and with follow: manual only fences and reports', async () => {
    const f = await start('sources');
    const r = replicator(f);
    await f.publish(2);
    await caughtUp(r, 'nats-a', 'nats-b');
    await expect(r.follow('nats-a', 'nats-b')).rejects.toThrow("nats-b's ORDERS is itself a standby (sources of ORDERS); promote it first");

    const manual = structuredClone(f.service);
    const a = manual.destinations[0]!.replication;
    if (a.type !== 'nats-jetstream') throw new Error('fixture');
    a.follow = 'manual';
    const m = replicatorFor(manual, 3000)!;
    await m.promote('nats-b');
    expect((await m.follow('nats-a', 'nats-b')).detail).toBe(
      "follow: manual; ORDERS left fenced: make it a standby of nats-b's ORDERS via $JS.site-b.API by hand",
    );
    const info = await (await f.jsm('source')).streams.info(STREAM);
    expect(info.config.subjects).toEqual(['_FM.FENCED.ORDERS']);
    expect(info.state.messages).toBe(2);
  });

  it('refuses to re-create an old primary holding messages the new one never got', async () => {
    const f = await start('sources');
    const r = replicator(f);
    await f.publish(5);
    await caughtUp(r, 'nats-a', 'nats-b');
    // Emergency: the sites are cut off, the source keeps taking writes the backup never sees.
    f.link.cut();
    await f.publish(3);
    await r.promote('nats-b');
    await expect(r.follow('nats-a', 'nats-b')).rejects.toThrow(
      "nats-a's ORDERS has messages up to seq 8 that nats-b does not hold; re-creating it as a standby would drop them",
    );
    const a = await (await f.jsm('source')).streams.info(STREAM);
    expect(a.state.messages).toBe(8);
    expect(a.config.subjects).toEqual(['_FM.FENCED.ORDERS']);
  });
});

describe('nats-kv router', () => {
  it('starts from the initial weights at generation 0, then writes compare-and-set on the generation', async () => {
    const f = await start('none');
    const router = routerFor(f.service);
    expect((await router.read()).routing).toEqual({ generation: 0, weights: { 'nats-a': 100, 'nats-b': 0 } });

    const first = await router.apply({ 'nats-a': 0, 'nats-b': 100 }, 0);
    expect(first.routing).toEqual({ generation: 1, weights: { 'nats-a': 0, 'nats-b': 100 } });
    expect(first.changes).toEqual([
      { destination: 'nats-a', from: 100, to: 0 },
      { destination: 'nats-b', from: 0, to: 100 },
    ]);
    // A retry of that same write: no change, same generation.
    expect(await router.apply({ 'nats-a': 0, 'nats-b': 100 }, 0)).toEqual({ routing: first.routing, changes: [] });
    // A stale writer with other weights: conflict, nothing written.
    const stale = await router.apply({ 'nats-a': 100, 'nats-b': 0 }, 0).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(GenerationConflictError);
    expect(stale).toMatchObject({ expected: 0, actual: 1 });
    const read = await router.read();
    expect(read.routing).toEqual(first.routing);
    expect(read.detail).toEqual({ 'nats-a': { state: 'maint', weight: 0 }, 'nats-b': { state: 'ready', weight: 100 } });
    // cutSessions has nothing to cut.
    await router.cutSessions('nats-a');
  });

  it('lets exactly one of two racing writers win', async () => {
    const f = await start('none');
    const router = routerFor(f.service);
    await router.apply({ 'nats-a': 100, 'nats-b': 0 }, 0);
    const results = await Promise.allSettled([
      routerFor(f.service).apply({ 'nats-a': 0, 'nats-b': 100 }, 1),
      routerFor(f.service).apply({ 'nats-a': 50, 'nats-b': 50 }, 1),
    ]);
    const won = results.filter((x) => x.status === 'fulfilled');
    const lost = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toBeInstanceOf(GenerationConflictError);
    expect((await router.read()).routing.generation).toBe(2);
  });

  it('names the bucket, key and field of a malformed routing value', async () => {
    const f = await start('none');
    const nc = await connect({ servers: f.source.url });
    try {
      const kv = await new Kvm(nc).create('routing');
      await kv.put('orders-stream', JSON.stringify({ generation: -1, weights: {} }));
      await expect(routerFor(f.service).read()).rejects.toThrow(/NATS KV routing\/orders-stream revision \d+: generation: Too small/);
    } finally {
      await nc.close();
    }
  });

  it('feeds producers each routing change live through watchRouting', async () => {
    const f = await start('none');
    const router = routerFor(f.service);
    await router.apply({ 'nats-a': 100, 'nats-b': 0 }, 0);
    const nc = await connect({ servers: f.source.url });
    const seen: NatsRoutingValue[] = [];
    const errors: Error[] = [];
    const watch = await watchRouting(
      nc,
      { bucket: 'routing', key: 'orders-stream' },
      (v) => seen.push(v),
      (e) => errors.push(e),
    );
    try {
      expect(seen.map((v) => v.generation)).toEqual([1]);
      await router.apply({ 'nats-a': 0, 'nats-b': 100 }, 1);
      await eventually(async () => seen.length === 2, 'second routing seen');
      await router.apply({ 'nats-a': 50, 'nats-b': 50 }, 2);
      await eventually(async () => seen.length === 3, 'third routing seen');
      expect(seen.map((v) => [v.generation, v.weights])).toEqual([
        [1, { 'nats-a': 100, 'nats-b': 0 }],
        [2, { 'nats-a': 0, 'nats-b': 100 }],
        [3, { 'nats-a': 50, 'nats-b': 50 }],
      ]);
      expect(watch.current()?.generation).toBe(3);
      // A malformed write is reported, and the last good routing stays.
      const kv = await new Kvm(nc).open('routing');
      await kv.put('orders-stream', 'not json');
      await eventually(async () => errors.length === 1, 'malformed value reported');
      expect(errors[0]!.message).toMatch(/routing routing\/orders-stream: revision \d+ is not JSON/);
      expect(watch.current()?.generation).toBe(3);
    } finally {
      watch.stop();
      await watch.closed;
      await nc.close();
    }
  });

  it('fails watchRouting at once when the bucket does not exist', async () => {
    const f = await start('none');
    const nc = await connect({ servers: f.source.url });
    try {
      await expect(watchRouting(nc, { bucket: 'nope', key: 'k' }, () => {})).rejects.toThrow(/stream not found/i);
    } finally {
      await nc.close();
    }
  });
});
