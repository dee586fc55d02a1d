import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort } from './free-port';
import { SEARCH_ATTRIBUTES } from '../../src/domain/search-attributes';

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
  /** A codec server the Web UI decodes payloads through (--ui-codec-endpoint). */
  codecEndpoint?: string;
  dbFile?: string;
  namespace?: string;
  /** Where the server's own log goes; default: a file beside the database. */
  logFile?: string;
  startTimeoutMs?: number;
  /** Where ports not given above come from; default: a free loopback port. */
  choosePort?: () => Promise<number>;
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
  // The server also picks internal ports itself; when one of those (or ours) was taken in the
  // meantime it exits at once, and fresh ports fix it. Ports the caller chose are not retried.
  const portsChosenHere = opts.port === undefined && (opts.headless || opts.uiPort === undefined);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServerOnce(cli, opts);
    } catch (err) {
      if (!(err instanceof PortTakenError) || !portsChosenHere || attempt >= 3) throw err;
    }
  }
}

class PortTakenError extends Error {}

async function startDevServerOnce(cli: string, opts: DevServerOptions): Promise<DevServer> {
  const choosePort = opts.choosePort ?? freePort;
  const port = opts.port ?? (await choosePort());
  const uiPort = opts.headless ? undefined : (opts.uiPort ?? (await choosePort()));
  const namespace = opts.namespace ?? 'default';
  const dbFile = opts.dbFile ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-')), 'temporal.sqlite');
  const logFile = opts.logFile ?? `${dbFile}.log`;
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--db-filename',
    dbFile,
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    '--dynamic-config-value',
    'frontend.enableServerVersionCheck=false',
    ...SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=${a.type}`]),
    ...(uiPort ? ['--ui-port', String(uiPort), '--ui-ip', '127.0.0.1'] : ['--headless']),
    ...(uiPort && opts.codecEndpoint ? ['--ui-codec-endpoint', opts.codecEndpoint] : []),
  ];
  const log = fs.openSync(logFile, 'a');
  const child = spawn(cli, args, { stdio: ['ignore', log, log], detached: false });
  fs.closeSync(log);
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(`exited with ${code ?? signal}`)));

  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    // Whatever holds a taken port may accept and never answer: the exit must win over a hung attempt.
    const outcome = await Promise.race([answers(address, namespace), exited]);
    if (outcome === true) break;
    if (typeof outcome === 'string') {
      const message = `temporal dev server ${outcome}; see ${logFile}`;
      throw /address already in use/.test(readTail(logFile)) ? new PortTakenError(message) : new Error(message);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`temporal dev server did not answer on ${address} in time: ${outcome.message}; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
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

/** true once the frontend serves the namespace, else the reason it did not (within about 2 s). */
async function answers(address: string, namespace: string): Promise<true | Error> {
  try {
    const conn = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      await conn.withDeadline(Date.now() + 1000, () => conn.workflowService.describeNamespace({ namespace }));
      return true;
    } finally {
      await conn.close();
    }
  } catch (err) {
    return err as Error;
  }
}

function readTail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-4000);
  } catch {
    return '';
  }
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
