import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager, type StreamSource } from '@nats-io/jetstream';
import type { Config, ServiceConfig } from '../../src/domain/config';
import { validateConfig } from '../../src/domain/config';
import { freePort } from '../../dev/devserver/free-port';
import { startNats, type LocalNats } from '../../dev/devserver/local-nats';

/** Forwards TCP to a port; `cut()` drops every connection and refuses new ones, like a network partition. */
export interface TcpProxy {
  port: number;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) return void client.destroy();
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      resolve({
        port,
        cut() {
          cut = true;
          for (const s of sockets) s.destroy();
        },
        restore() {
          cut = false;
        },
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

export const STREAM = 'ORDERS';
export const SUBJECTS = ['orders.>'];

export interface NatsService {
  dir: string;
  source: LocalNats;
  backup: LocalNats;
  /** Between the backup's leafnode and the source: cut it to partition the sites. */
  link: TcpProxy;
  config: Config;
  service: ServiceConfig;
  /** Publishes `n` messages with JetStream acks through the given site's server; returns the acked sequences. */
  publish(n: number, via?: 'source' | 'backup', subject?: string): Promise<number[]>;
  /** A JetStream manager on a site (one connection per site, kept for the fixture's life). */
  jsm(site: 'source' | 'backup'): Promise<JetStreamManager>;
  /** Restarts the source server in place (same ports and store) after `source.stop()`. */
  restartSource(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Two JetStream sites (domains "site-a" and "site-b") joined by a leafnode through a cuttable proxy;
 * stream ORDERS (orders.>) on site A, and on site B an ORDERS standby of it (`mirror` or `sources`).
 * Destinations nats-a / nats-b, routing in KV bucket `routing` on site A.
 */
export async function startNatsService(standby: 'mirror' | 'sources' | 'none' = 'sources'): Promise<NatsService> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-nats-'));
  const leafPort = await freePort();
  const link = await startTcpProxy(leafPort);
  let source = await startNats({ dir, name: 'site-a', domain: 'site-a', leafListen: leafPort, leafAdvertise: `127.0.0.1:${link.port}` });
  const backup = await startNats({ dir, name: 'site-b', domain: 'site-b', leafRemotes: [link.port] });
  await backup.waitForLeafnodes(1);

  const conns: Partial<Record<'source' | 'backup', NatsConnection>> = {};
  const conn = async (site: 'source' | 'backup') => {
    const existing = conns[site];
    if (existing && !existing.isClosed()) return existing;
    const nc = await connect({ servers: site === 'source' ? source.url : backup.url, reconnect: false, timeout: 2000 });
    conns[site] = nc;
    return nc;
  };
  const jsm = async (site: 'source' | 'backup') => jetstreamManager(await conn(site), { timeout: 3000 });

  await (await jsm('source')).streams.add({ name: STREAM, subjects: SUBJECTS });
  const upstream: StreamSource = { name: STREAM, external: { api: '$JS.site-a.API' } };
  if (standby === 'mirror') await (await jsm('backup')).streams.add({ name: STREAM, mirror: upstream });
  if (standby === 'sources') await (await jsm('backup')).streams.add({ name: STREAM, sources: [upstream] });

  const nats = (server: LocalNats, stream = true) => ({ type: 'nats', url: server.url, ...(stream ? { stream: STREAM } : {}) });
  const replication = (server: LocalNats) => ({ type: 'nats-jetstream', url: server.url, stream: STREAM, subjects: SUBJECTS });
  const config = validateConfig({
    failover_manager: { failover_detection: { timeout: '2s' } },
    services: [
      {
        name: 'orders-stream',
        router: { type: 'nats-kv', url: source.url, bucket: 'routing', key: 'orders-stream' },
        destinations: [
          { id: 'nats-a', zone: 'z1', region: 'r1', probe: nats(source), replication: replication(source) },
          { id: 'nats-b', zone: 'z2', region: 'r1', probe: nats(backup), replication: replication(backup) },
        ],
      },
    ],
  });

  return {
    dir,
    get source() {
      return source;
    },
    backup,
    link,
    config,
    service: config.services[0]!,
    async publish(n, via = 'source', subject = 'orders.created') {
      const js = jetstream(await conn(via), { timeout: 3000 });
      const seqs: number[] = [];
      for (let i = 0; i < n; i++) seqs.push((await js.publish(subject, `order ${Date.now()} ${i}`)).seq);
      return seqs;
    },
    jsm,
    async restartSource() {
      await conns.source?.close().catch(() => {});
      delete conns.source;
      source = await source.restart();
    },
    async stop() {
      await Promise.all(Object.values(conns).map((c) => c?.close().catch(() => {})));
      await Promise.all([backup.stop(), source.stop()]);
      await link.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `cond` returns a truthy value (bounded); returns it. */
export async function eventually<T>(cond: () => Promise<T | undefined | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs}ms${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
