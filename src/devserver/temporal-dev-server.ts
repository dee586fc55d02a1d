import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort } from './free-port';
import { SEARCH_ATTRIBUTES } from '../domain/search-attributes';

const projectRoot = path.resolve(__dirname, '..', '..');

/** Path of the `temporal` CLI: on PATH, cached, or built now from Go modules (minutes, once per machine). */
export function ensureTemporalCli(): string {
  const res = spawnSync('bash', [path.join(projectRoot, 'scripts', 'temporal-cli.sh')], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error('could not provide the temporal CLI (see the message above)');
  return res.stdout.trim().split('\n').pop()!;
}

export interface DevServerOptions {
  port?: number;
  uiPort?: number;
  /** No Web UI (tests that do not need it start faster). */
  headless?: boolean;
  dbFile?: string;
  namespace?: string;
  /** Where the server's own log goes; default: a file beside the database. */
  logFile?: string;
  startTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl?: string;
  dbFile: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `temporal server start-dev` on loopback, registers search attributes, waits until it answers. */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const cli = ensureTemporalCli();
  const port = opts.port ?? (await freePort());
  const uiPort = opts.headless ? undefined : (opts.uiPort ?? (await freePort()));
  const namespace = opts.namespace ?? 'default';
  const dbFile = opts.dbFile ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-')), 'temporal.sqlite');
  const logFile = opts.logFile ?? `${dbFile}.log`;
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--db-filename', dbFile,
    '--namespace', namespace,
    '--log-level', 'warn',
    '--dynamic-config-value', 'frontend.enableServerVersionCheck=false',
    ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=${a.type}`]),
    ...(uiPort ? ['--ui-port', String(uiPort), '--ui-ip', '127.0.0.1'] : ['--headless']),
  ];
  const log = fs.openSync(logFile, 'a');
  const child = spawn(cli, args, { stdio: ['ignore', log, log], detached: false });
  fs.closeSync(log);
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal}`));

  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) throw new Error(`temporal dev server ${exited}; see ${logFile}`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await conn.workflowService.describeNamespace({ namespace });
      } finally {
        await conn.close();
      }
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`temporal dev server did not answer on ${address} in time: ${(err as Error).message}; see ${logFile}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  return {
    address,
    namespace,
    ...(uiPort ? { uiUrl: `http://127.0.0.1:${uiPort}` } : {}),
    dbFile,
    process: child,
    stop: () => stopChild(child),
  };
}

/** SIGTERM, then SIGKILL if it has not exited within the grace period. */
export function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
