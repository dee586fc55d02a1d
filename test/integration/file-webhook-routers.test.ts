import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { routerFor } from '../../src/drivers';
import { FileRouter, type FileRouterOptions } from '../../src/drivers/routers/file';
import { idempotencyKey } from '../../src/drivers/routers/http-webhook';
import { GenerationConflictError } from '../../src/drivers/routers/types';
import { validateConfig, type ServiceConfig } from '../../src/domain/config';
import { readRouting, watchRouting, type RoutingTable } from '../../src/routing-client/file-routing';
import { startWebhookReceiver, type WebhookReceiver } from '../support/http-webhook-receiver';

const repoRoot = path.resolve(__dirname, '../..');

function serviceWith(router: Record<string, unknown>): ServiceConfig {
  return validateConfig({
    services: [
      {
        name: 'orders-bus',
        router,
        destinations: [
          { id: 'bus-a', zone: 'z1', region: 'r1', probe: { type: 'tcp', host: '127.0.0.1', port: 1 } },
          // Producers see this destination under its router_server name.
          { id: 'bus-b', zone: 'z2', region: 'r1', router_server: 'bus-b.internal:4222', probe: { type: 'tcp', host: '127.0.0.1', port: 2 } },
        ],
      },
    ],
  }).services[0]!;
}

async function conflictOf(p: Promise<unknown>): Promise<GenerationConflictError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GenerationConflictError);
  return err as GenerationConflictError;
}

/** Runs a snippet of TypeScript-aware CommonJS in a child node process; resolves with its stdout. */
function runNode(code: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=commonjs', '-e', code], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    // 'close', not 'exit': only then is all of its output read.
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`child exited ${code}: ${err.trim().slice(-2000)}`));
    });
  });
}

async function until(cond: () => boolean, what: string, attempts = 200, pauseMs = 25): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('file router', () => {
  let dir: string;
  let file: string;
  let service: ServiceConfig;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-file-router-'));
    file = path.join(dir, 'orders-bus.routing.json');
    service = serviceWith({ type: 'file', path: file });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const options = (extra: Partial<FileRouterOptions> = {}): FileRouterOptions => ({
    path: file,
    service: 'orders-bus',
    servers: { 'bus-a': 'bus-a', 'bus-b': 'bus-b.internal:4222' },
    initial: { 'bus-a': 100, 'bus-b': 0 },
    ...extra,
  });

  it('reads generation 0 with the first destination active before any write, without creating the file', async () => {
    const r = await routerFor(service).read();
    expect(r.routing).toEqual({ generation: 0, weights: { 'bus-a': 100, 'bus-b': 0 } });
    expect(r.detail).toEqual({ 'bus-a': { state: 'ready', weight: 100 }, 'bus-b': { state: 'maint', weight: 0 } });
    expect(fs.existsSync(file)).toBe(false);
  });

  it('writes with compare-and-set, reports changes, and keys the file by router_server', async () => {
    const router = routerFor(service);
    const result = await router.apply({ 'bus-a': 0, 'bus-b': 100 }, 0);
    expect(result.routing).toEqual({ generation: 1, weights: { 'bus-a': 0, 'bus-b': 100 } });
    expect(result.changes).toEqual([
      { destination: 'bus-a', from: 100, to: 0 },
      { destination: 'bus-b', from: 0, to: 100 },
    ]);
    const onDisk = JSON.parse(fs.readFileSync(file, 'utf8')) as RoutingTable;
    expect(onDisk).toMatchObject({ service: 'orders-bus', generation: 1, weights: { 'bus-a': 0, 'bus-b.internal:4222': 100 } });
    expect(new Date(onDisk.updatedAt).toISOString()).toBe(onDisk.updatedAt);
    expect((await router.read()).routing).toEqual(result.routing);
    expect(fs.readdirSync(dir)).toEqual(['orders-bus.routing.json']); // no temp or lock file left behind
  });

  it('answers a retry of its own successful write with no change, and a stale writer with a conflict', async () => {
    const router = routerFor(service);
    await router.apply({ 'bus-a': 0, 'bus-b': 100 }, 0);
    const before = fs.readFileSync(file, 'utf8');

    const retry = await router.apply({ 'bus-a': 0, 'bus-b': 100 }, 0);
    expect(retry).toEqual({ routing: { generation: 1, weights: { 'bus-a': 0, 'bus-b': 100 } }, changes: [] });

    const stale = await conflictOf(router.apply({ 'bus-a': 100, 'bus-b': 0 }, 0));
    expect(stale).toMatchObject({ expected: 0, actual: 1 });
    const ahead = await conflictOf(router.apply({ 'bus-a': 100, 'bus-b': 0 }, 5));
    expect(ahead).toMatchObject({ expected: 5, actual: 1 });
    expect(fs.readFileSync(file, 'utf8')).toBe(before);

    const next = await router.apply({ 'bus-a': 100, 'bus-b': 0 }, 1);
    expect(next.routing.generation).toBe(2);
  });

  it('lets exactly one of several writer processes win each generation', async () => {
    const writers = 3;
    const rounds = 25;
    const code = `
      const { FileRouter } = require('./src/drivers/routers/file');
      const { GenerationConflictError } = require('./src/drivers/routers/types');
      const { index, rounds, options, goFile } = JSON.parse(process.env.FM_RACE);
      (async () => {
        const router = new FileRouter(options);
        // Start together, so the writers overlap instead of running one after another.
        for (let i = 0; i < 1000 && !require('node:fs').existsSync(goFile); i++) await new Promise((r) => setTimeout(r, 5));
        const won = [];
        let conflicts = 0;
        for (let i = 0; i < rounds; i++) {
          const current = await router.read();
          // Weights unique to this write, so no writer can mistake another's write for its own retry.
          const weights = { 'bus-a': index * 1000 + i + 1, 'bus-b': 0 };
          try {
            const r = await router.apply(weights, current.routing.generation);
            won.push({ generation: r.routing.generation, weight: weights['bus-a'] });
          } catch (err) {
            if (err instanceof GenerationConflictError) conflicts++;
            else throw err;
          }
        }
        process.stdout.write(JSON.stringify({ won, conflicts }));
      })().catch((err) => { console.error(err); process.exit(1); });
    `;
    const goFile = path.join(dir, 'go');
    const running = Array.from({ length: writers }, (_, index) => runNode(code, { FM_RACE: JSON.stringify({ index, rounds, options: options(), goFile }) }));
    await new Promise((r) => setTimeout(r, 1500)); // let the children load
    fs.writeFileSync(goFile, '');
    const outputs = await Promise.all(running);
    fs.rmSync(goFile);
    const results = outputs.map((o) => JSON.parse(o) as { won: { generation: number; weight: number }[]; conflicts: number });
    const won = results.flatMap((r) => r.won);
    const generations = won.map((w) => w.generation).sort((a, b) => a - b);
    expect(results.reduce((n, r) => n + r.won.length + r.conflicts, 0)).toBe(writers * rounds);
    // Every generation was written by exactly one writer, with no gap.
    expect(generations).toEqual(Array.from({ length: generations.length }, (_, i) => i + 1));
    const table = (await readRouting(file))!;
    expect(table.generation).toBe(generations.length);
    expect(table.weights['bus-a']).toBe(won.find((w) => w.generation === table.generation)!.weight);
    expect(fs.readdirSync(dir)).toEqual(['orders-bus.routing.json']);
  });

  it('never shows a reader a partial file while a writer replaces it repeatedly', async () => {
    // A wide table (about 20 KB), so a write that was not atomic would be seen half done.
    const servers = Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`dest-${i}`, `destination-number-${i}.example.internal:4222`]));
    const initial = Object.fromEntries(Object.keys(servers).map((id, i) => [id, i === 0 ? 100 : 0]));
    const router = new FileRouter(options({ servers, initial }));
    await router.apply(initial, 0);
    const stopFile = path.join(dir, 'stop');
    const reader = runNode(
      `
      const fs = require('node:fs');
      const { parseRoutingTable } = require('./src/routing-client/file-routing');
      const { file, stopFile } = JSON.parse(process.env.FM_READER);
      let reads = 0, bad = 0, backwards = 0, last = 0, wide = 0;
      // The stop file is written after the last rename, so the read that follows seeing it sees the final table.
      for (let stopping = false; !stopping; ) {
        stopping = fs.existsSync(stopFile) || reads >= 2000000; // a hung writer: runNode's kill timer
        try {
          const t = parseRoutingTable(fs.readFileSync(file, 'utf8'), file);
          if (t.generation < last) backwards++;
          last = t.generation;
          if (Object.keys(t.weights).length === 600) wide++;
        } catch (err) { bad++; }
        reads++;
      }
      process.stdout.write(JSON.stringify({ reads, bad, backwards, wide, last }));
      `,
      { FM_READER: JSON.stringify({ file, stopFile }) },
    );
    const ids = Object.keys(servers);
    let generation = 1;
    for (let i = 0; i < 150; i++) {
      const weights = Object.fromEntries(ids.map((id, j) => [id, j === i % ids.length ? 100 : 0]));
      generation = (await router.apply(weights, generation)).routing.generation;
    }
    fs.writeFileSync(stopFile, '');
    const stats = JSON.parse(await reader) as { reads: number; bad: number; backwards: number; wide: number; last: number };
    expect(stats.reads).toBeGreaterThan(0);
    expect(stats).toMatchObject({ bad: 0, backwards: 0, last: 151 });
    expect(stats.wide).toBe(stats.reads);
  });

  it("waits for a live writer's lock, then gives up naming the holder", async () => {
    const lock = `${file}.lock`;
    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), token: 'held-by-test', since: new Date().toISOString() }));
    const router = new FileRouter(options({ lockTimeoutMs: 300 }));
    await expect(router.apply({ 'bus-a': 0, 'bus-b': 100 }, 0)).rejects.toThrow(
      new RegExp(`is locked by pid ${process.pid} on ${os.hostname()} since .*; waited 300ms`),
    );
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.existsSync(lock)).toBe(true); // someone else's lock is left alone
  });

  it('breaks a lock left by a dead process, and one older than staleLockMs', async () => {
    const lock = `${file}.lock`;
    const deadPid = Number(await runNode('process.stdout.write(String(process.pid))', {}));
    fs.writeFileSync(lock, JSON.stringify({ pid: deadPid, host: os.hostname(), token: 'crashed', since: new Date().toISOString() }));
    const router = new FileRouter(options({ lockTimeoutMs: 2000 }));
    expect((await router.apply({ 'bus-a': 0, 'bus-b': 100 }, 0)).routing.generation).toBe(1);
    expect(fs.existsSync(lock)).toBe(false);

    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: 'other-host', token: 'hung', since: '2020-01-01T00:00:00Z' }));
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lock, old, old);
    expect((await router.apply({ 'bus-a': 100, 'bus-b': 0 }, 1)).routing.generation).toBe(2);
    expect(fs.readdirSync(dir)).toEqual(['orders-bus.routing.json']);
  });

  it('refuses a file that belongs to another service or is malformed, naming the file', async () => {
    fs.writeFileSync(file, JSON.stringify({ service: 'payments', generation: 3, weights: { 'bus-a': 1 }, updatedAt: 'x' }));
    await expect(routerFor(service).read()).rejects.toThrow(`routing table ${file} belongs to service payments, not orders-bus`);
    fs.writeFileSync(file, JSON.stringify({ generation: 'three', weights: { 'bus-a': -1 }, updatedAt: 'x' }));
    await expect(routerFor(service).read()).rejects.toThrow(new RegExp(`^routing table ${file}: generation: .*expected number.*; weights\\.bus-a: .*>=0`));
    fs.writeFileSync(file, '{"generation": 1, "weig');
    await expect(routerFor(service).apply({ 'bus-a': 1 }, 1)).rejects.toThrow(/not JSON/);
  });

  it('has no sessions to cut', async () => {
    await expect(routerFor(service).cutSessions('bus-a')).resolves.toBeUndefined();
  });
});

describe('watchRouting', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-watch-'));
    file = path.join(dir, 'orders-bus.routing.json');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reports each write to a higher generation, never a lower one, until closed', async () => {
    const router = routerFor(serviceWith({ type: 'file', path: file }));
    const seen: number[] = [];
    const errors: Error[] = [];
    const watch = watchRouting(file, (t) => seen.push(t.generation), { pollMs: 0, onError: (e) => errors.push(e) });
    await watch.ready;
    expect(seen).toEqual([]);

    await router.apply({ 'bus-a': 0, 'bus-b': 100 }, 0);
    await until(() => seen.includes(1), 'generation 1');
    expect(watch.current()).toMatchObject({ generation: 1, weights: { 'bus-a': 0, 'bus-b.internal:4222': 100 } });

    // A burst of writes: coalesced, in order, ending at the last one.
    for (let g = 1; g <= 20; g++) await router.apply({ 'bus-a': g % 2 ? 100 : 0, 'bus-b': g % 2 ? 0 : 100 }, g);
    await until(() => seen.at(-1) === 21, 'generation 21');
    expect(seen.every((g, i) => i === 0 || g > seen[i - 1]!)).toBe(true);

    // An older table put back by hand is not reported; the next higher one is.
    const afterBurst = seen.length;
    const older = path.join(dir, 'older.json');
    fs.writeFileSync(older, JSON.stringify({ service: 'orders-bus', generation: 4, weights: { 'bus-a': 100 }, updatedAt: new Date().toISOString() }));
    fs.renameSync(older, file);
    await new Promise((r) => setTimeout(r, 200)); // time for the watcher to read it
    fs.writeFileSync(older, JSON.stringify({ service: 'orders-bus', generation: 30, weights: { 'bus-a': 100 }, updatedAt: new Date().toISOString() }));
    fs.renameSync(older, file);
    await until(() => seen.at(-1) === 30, 'generation 30');
    expect(seen.slice(afterBurst)).toEqual([30]);

    // A malformed file is an error; the last good table stays current.
    fs.writeFileSync(older, '{"generation": ');
    fs.renameSync(older, file);
    await until(() => errors.length > 0, 'a read error');
    expect(errors[0]!.message).toMatch(/^routing table .*: not JSON/);
    expect(watch.current()?.generation).toBe(30);

    watch.close();
    const count = seen.length;
    fs.writeFileSync(older, JSON.stringify({ generation: 31, weights: {}, updatedAt: new Date().toISOString() }));
    fs.renameSync(older, file);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.length).toBe(count);
  });

  it('reports the table already there when it starts', async () => {
    fs.writeFileSync(file, JSON.stringify({ generation: 7, weights: { x: 1 }, updatedAt: new Date().toISOString() }));
    const seen: RoutingTable[] = [];
    const watch = watchRouting(file, (t) => seen.push(t), { pollMs: 0 });
    await watch.ready;
    watch.close();
    expect(seen.map((t) => t.generation)).toEqual([7]);
  });
});

describe('HTTP webhook router against a receiver implementing the contract', () => {
  const token = 'Bearer routing-secret';
  let receiver: WebhookReceiver;
  let service: ServiceConfig;

  beforeAll(async () => {
    receiver = await startWebhookReceiver({ generation: 0, weights: {} }, { header: 'X-Routing-Token', value: token });
    service = serviceWith({
      type: 'http-webhook',
      url: `${receiver.url}/routing/orders-bus`,
      auth_header: 'X-Routing-Token',
      auth_env: 'FM_TEST_WEBHOOK_TOKEN',
      timeout: '2s',
    });
  });
  afterAll(() => receiver?.close());
  beforeEach(() => {
    process.env.FM_TEST_WEBHOOK_TOKEN = token;
    receiver.reset({ generation: 4, weights: { 'bus-a': 100, 'bus-b.internal:4222': 0 } });
  });
  afterEach(() => {
    delete process.env.FM_TEST_WEBHOOK_TOKEN;
  });

  it('reads the routing, mapping router_server names back to destinations', async () => {
    const r = await routerFor(service).read();
    expect(r.routing).toEqual({ generation: 4, weights: { 'bus-a': 100, 'bus-b': 0 } });
    expect(r.detail['bus-b']).toEqual({ state: 'maint', weight: 0 });
  });

  it('takes the auth header value from the environment variable, never from config', async () => {
    expect(JSON.stringify(service)).not.toContain('routing-secret');
    delete process.env.FM_TEST_WEBHOOK_TOKEN;
    await expect(routerFor(service).read()).rejects.toThrow('environment variable FM_TEST_WEBHOOK_TOKEN (router.auth_env) is not set');
    process.env.FM_TEST_WEBHOOK_TOKEN = 'Bearer wrong';
    await expect(routerFor(service).read()).rejects.toThrow(/GET http:\/\/127\.0\.0\.1:\d+\/routing\/orders-bus answered 401/);
  });

  it('PUTs the desired weights with the expected generation and an idempotency key', async () => {
    const result = await routerFor(service).apply({ 'bus-a': 0, 'bus-b': 100 }, 4);
    expect(result).toEqual({
      routing: { generation: 5, weights: { 'bus-a': 0, 'bus-b': 100 } },
      changes: [
        { destination: 'bus-a', from: 100, to: 0 },
        { destination: 'bus-b', from: 0, to: 100 },
      ],
    });
    expect(receiver.puts).toHaveLength(1);
    const put = receiver.puts[0]!;
    expect(put.body).toEqual({ service: 'orders-bus', generation: 5, expectedGeneration: 4, weights: { 'bus-a': 0, 'bus-b.internal:4222': 100 } });
    expect(put.key).toBe(idempotencyKey('orders-bus', 4, { 'bus-a': 0, 'bus-b.internal:4222': 100 }));
    expect(put.auth).toBe(token);
    expect(receiver.state.generation).toBe(5);
  });

  it('fails with a generation conflict when the routing moved, before or at the PUT', async () => {
    const before = await conflictOf(routerFor(service).apply({ 'bus-a': 0, 'bus-b': 100 }, 3));
    expect(before).toMatchObject({ expected: 3, actual: 4 });
    expect(receiver.puts).toHaveLength(0);

    // The read looks current (a lagging read path), the receiver's compare-and-set says otherwise: 409.
    receiver.staleRead = { generation: 3, weights: { 'bus-a': 100, 'bus-b.internal:4222': 0 } };
    const at = await conflictOf(routerFor(service).apply({ 'bus-a': 0, 'bus-b': 100 }, 3));
    expect(at).toMatchObject({ expected: 3, actual: 4 });
    expect(receiver.puts.map((p) => p.answered)).toEqual([409]);
    expect(receiver.state.generation).toBe(4);
  });

  it('applies once when the answer is lost and the activity retries', async () => {
    receiver.loseNextAnswer = true;
    await expect(routerFor(service).apply({ 'bus-a': 0, 'bus-b': 100 }, 4)).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(receiver.state.generation).toBe(5);

    const retry = await routerFor(service).apply({ 'bus-a': 0, 'bus-b': 100 }, 4);
    expect(retry).toEqual({ routing: { generation: 5, weights: { 'bus-a': 0, 'bus-b': 100 } }, changes: [] });
    expect(receiver.puts.map((p) => p.answered)).toEqual(['dropped']);
  });

  it('relies on the idempotency key when the read path cannot show the retry its own write', async () => {
    receiver.staleRead = { generation: 4, weights: { 'bus-a': 100, 'bus-b.internal:4222': 0 } };
    receiver.loseNextAnswer = true;
    await expect(routerFor(service).apply({ 'bus-a': 0, 'bus-b': 100 }, 4)).rejects.toThrow(/socket hang up|ECONNRESET/);

    const retry = await routerFor(service).apply({ 'bus-a': 0, 'bus-b': 100 }, 4);
    expect(retry.routing).toEqual({ generation: 5, weights: { 'bus-a': 0, 'bus-b': 100 } });
    expect(receiver.puts).toHaveLength(2);
    expect(receiver.puts[1]!.key).toBe(receiver.puts[0]!.key);
    expect(receiver.puts.map((p) => p.answered)).toEqual(['dropped', 200]);
    expect(receiver.state.generation).toBe(5); // applied once
  });

  it('derives the idempotency key from service, expected generation and weights only', () => {
    const key = idempotencyKey('orders-bus', 4, { a: 0, b: 100 });
    expect(idempotencyKey('orders-bus', 4, { b: 100, a: 0 })).toBe(key);
    expect(idempotencyKey('orders-bus', 5, { a: 0, b: 100 })).not.toBe(key);
    expect(idempotencyKey('orders-bus', 4, { a: 100, b: 0 })).not.toBe(key);
    expect(idempotencyKey('payments', 4, { a: 0, b: 100 })).not.toBe(key);
  });

  it('has no sessions to cut', async () => {
    await expect(routerFor(service).cutSessions('bus-a')).resolves.toBeUndefined();
  });
});
