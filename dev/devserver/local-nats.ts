import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './free-port';
import { startProcess, waitForPort, type LocalProcess } from './processes';

export interface NatsServerOptions {
  /** Parent directory; the server gets `<dir>/<name>/` for its config, log and JetStream store. */
  dir: string;
  name: string;
  /** Client port; a free one when left out. Pass the old one to restart a server in place. */
  port?: number;
  /** Monitoring (HTTP) port; a free one when left out. */
  httpPort?: number;
  /** JetStream domain: needed when two sites are joined by a leafnode, so each keeps its own JetStream. */
  domain?: string;
  /** Accept leafnode connections on this port (`true`: a free one). */
  leafListen?: number | true;
  /** "host:port" leaves should reconnect to (default: the listen address). */
  leafAdvertise?: string;
  /** Leafnode ports of other servers to connect to (this server becomes their leaf). */
  leafRemotes?: number[];
}

export interface LocalNats extends LocalProcess {
  port: number;
  httpPort: number;
  url: string;
  leafPort?: number;
  domain?: string;
  storeDir: string;
  /** What it was started with (ports resolved), so it can be started again on the same ports and store. */
  options: NatsServerOptions & { port: number; httpPort: number };
  /** Starts it again (after stop/kill) with the same ports and JetStream store. */
  restart(): Promise<LocalNats>;
  /** Resolves once `n` leafnode connections are up (either direction). */
  waitForLeafnodes(n: number, timeoutMs?: number): Promise<void>;
}

/** A throwaway nats-server with JetStream on 127.0.0.1, its store in `<dir>/<name>/jetstream`. */
export async function startNats(opts: NatsServerOptions): Promise<LocalNats> {
  const port = opts.port ?? (await freePort());
  const httpPort = opts.httpPort ?? (await freePort());
  const leafPort = opts.leafListen === true ? await freePort() : opts.leafListen;
  const home = path.join(opts.dir, opts.name);
  const storeDir = path.join(home, 'jetstream');
  fs.mkdirSync(storeDir, { recursive: true });

  const leaf: string[] = [];
  if (leafPort !== undefined) leaf.push(`  listen: "127.0.0.1:${leafPort}"`);
  // Leaves add the address a hub advertises to their reconnect list; a proxy in between must be that address.
  if (opts.leafAdvertise) leaf.push(`  advertise: ${JSON.stringify(opts.leafAdvertise)}`);
  if (opts.leafRemotes?.length) {
    leaf.push('  remotes: [');
    for (const p of opts.leafRemotes) leaf.push(`    { urls: ["nats-leaf://127.0.0.1:${p}"] }`);
    leaf.push('  ]');
    // Reconnect quickly after the other site comes back.
    leaf.push('  reconnect: 1');
  }
  const configFile = path.join(home, 'nats.conf');
  fs.writeFileSync(
    configFile,
    [
      `server_name: ${JSON.stringify(opts.name)}`,
      `listen: "127.0.0.1:${port}"`,
      `http: "127.0.0.1:${httpPort}"`,
      'jetstream {',
      `  store_dir: ${JSON.stringify(storeDir)}`,
      ...(opts.domain ? [`  domain: ${JSON.stringify(opts.domain)}`] : []),
      '}',
      ...(leaf.length ? ['leafnodes {', ...leaf, '}'] : []),
      '',
    ].join('\n'),
  );
  const proc = startProcess(`nats-${opts.name}`, 'nats-server', ['-c', configFile], path.join(home, 'nats-server.log'));
  try {
    await waitForPort(port, proc);
    await waitForJetStream(httpPort, proc);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  const options = { ...opts, port, httpPort, ...(leafPort !== undefined ? { leafListen: leafPort } : {}) };
  return {
    ...proc,
    port,
    httpPort,
    url: `nats://127.0.0.1:${port}`,
    ...(leafPort !== undefined ? { leafPort } : {}),
    ...(opts.domain ? { domain: opts.domain } : {}),
    storeDir,
    options,
    restart: () => startNats(options),
    waitForLeafnodes: (n, timeoutMs = 15_000) => waitForLeafnodes(httpPort, n, timeoutMs),
  };
}

export interface NatsSites {
  source: LocalNats;
  backup: LocalNats;
  stop(): Promise<void>;
}

/**
 * Two independent JetStream servers, each its own domain ("source", "backup"): the backup joins
 * the source as a leafnode, so a stream on either side can mirror or source the other through
 * `$JS.<domain>.API`, while each keeps its own JetStream.
 */
export async function startNatsSites(dir: string, domains = { source: 'source', backup: 'backup' }): Promise<NatsSites> {
  const source = await startNats({ dir, name: `site-${domains.source}`, domain: domains.source, leafListen: true });
  let backup: LocalNats;
  try {
    backup = await startNats({ dir, name: `site-${domains.backup}`, domain: domains.backup, leafRemotes: [source.leafPort!] });
    await backup.waitForLeafnodes(1);
    await source.waitForLeafnodes(1);
  } catch (err) {
    await source.stop();
    throw err;
  }
  return { source, backup, stop: async () => void (await Promise.all([backup.stop(), source.stop()])) };
}

async function waitForJetStream(httpPort: number, proc: LocalProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`${proc.name} exited before JetStream was ready`);
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/healthz?js-enabled-only=true`);
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${proc.name}: JetStream not ready after ${timeoutMs}ms (${last})`);
}

async function waitForLeafnodes(httpPort: number, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = -1;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/leafz`);
      if (res.ok) {
        seen = ((await res.json()) as { leafnodes?: number }).leafnodes ?? 0;
        if (seen >= n) return;
      }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats monitor on ${httpPort}: ${seen} leafnode connection(s) after ${timeoutMs}ms, expected ${n}`);
}
