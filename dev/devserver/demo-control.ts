import { randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { describeHolders, portHolders } from './holders';
import { startRedis, type LocalRedis } from './local-redis';
import type { LocalTopology } from './redis-haproxy-topology';
import type { DemoDestinationState } from '../../src/local-instance';

/** A demo topology `npm start` brought up, with where its processes keep their files. */
export interface DemoService {
  service: string;
  dir: string;
  topology: LocalTopology;
}

const requestSchema = z.strictObject({ destination: z.string().min(1), service: z.string().min(1).optional() });

function running(r: LocalRedis | undefined): boolean {
  return !!r && r.child.exitCode === null && r.child.signalCode === null;
}

/**
 * Kills and brings back the demo's Redis servers for `failover demo kill|start`, so a newcomer can
 * cause an outage and a return without hunting for processes. Loopback only; every request carries
 * the token from the instance's lock file (readable by its user only). A server brought back starts
 * empty, as a restarted server without persistence would, on the port the config gives it.
 */
export async function startDemoControl(services: readonly DemoService[]): Promise<{ url: string; token: string; close(): Promise<void> }> {
  const token = randomBytes(24).toString('hex');
  const states = (): DemoDestinationState[] =>
    services.flatMap((s) =>
      Object.entries(s.topology.redis).map(([id, r]) => ({
        service: s.service,
        destination: id,
        port: r.port,
        running: running(r),
        ...(running(r) ? { pid: r.child.pid! } : {}),
      })),
    );
  const find = (destination: string, service?: string) => {
    const matches = services.filter((s) => (service === undefined || s.service === service) && s.topology.redis[destination]);
    if (matches.length === 0) {
      const known = states()
        .map((d) => d.destination)
        .join(', ');
      return { error: `no demo destination ${JSON.stringify(destination)}${service ? ` in ${service}` : ''} (demo destinations: ${known || 'none'})` } as const;
    }
    if (matches.length > 1)
      return { error: `${destination} is in several demo services (${matches.map((m) => m.service).join(', ')}); name one with --service` } as const;
    return { demo: matches[0]! } as const;
  };

  const handle = async (req: http.IncomingMessage, body: string): Promise<{ status: number; doc: unknown }> => {
    const given = Buffer.from((req.headers.authorization ?? '').replace(/^Bearer /, ''));
    const want = Buffer.from(token);
    if (given.length !== want.length || !timingSafeEqual(given, want)) return { status: 401, doc: { error: 'missing or wrong token' } };
    if (req.method === 'GET' && req.url === '/demo') return { status: 200, doc: { destinations: states() } };
    const action = req.method === 'POST' ? /^\/demo\/(kill|start)$/.exec(req.url ?? '')?.[1] : undefined;
    if (!action) return { status: 404, doc: { error: `no ${req.method} ${req.url}` } };
    let parsed: z.infer<typeof requestSchema>;
    try {
      parsed = requestSchema.parse(JSON.parse(body || '{}'));
    } catch {
      return { status: 400, doc: { error: 'expected {"destination": "…", "service"?: "…"}' } };
    }
    const found = find(parsed.destination, parsed.service);
    if ('error' in found) return { status: 404, doc: { error: found.error } };
    const { demo } = found;
    const id = parsed.destination;
    const current = demo.topology.redis[id]!;
    if (action === 'kill') {
      if (!running(current)) return { status: 409, doc: { error: `${id} (port ${current.port}) is not running; bring it back with: demo start ${id}` } };
      const pid = current.child.pid!;
      await current.kill('SIGKILL');
      return { status: 200, doc: { service: demo.service, destination: id, port: current.port, pid, killed: true } };
    }
    if (running(current)) return { status: 409, doc: { error: `${id} is running already (pid ${current.child.pid}, port ${current.port})` } };
    const holders = portHolders(current.port);
    if (holders.length > 0) return { status: 409, doc: { error: `port ${current.port} of ${id} is held by ${describeHolders(holders)}` } };
    try {
      // No replicaof, no data: what a restarted server without persistence looks like. Detection resyncs it.
      // (A replica leaves the RDB of its last full sync behind; it must not be loaded.)
      fs.rmSync(path.join(demo.dir, `${id}.rdb`), { force: true });
      const fresh = await startRedis({ port: current.port, dir: demo.dir, name: id });
      demo.topology.redis[id] = fresh;
      return { status: 200, doc: { service: demo.service, destination: id, port: fresh.port, pid: fresh.child.pid, started: true, empty: true } };
    } catch (err) {
      return { status: 500, doc: { error: `${id} did not start: ${(err as Error).message}` } };
    }
  };

  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
      if (body.length > 4096) req.destroy();
    });
    req.on('end', () => {
      handle(req, body).then(
        ({ status, doc }) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(doc)),
        (err: unknown) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(err) })),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
