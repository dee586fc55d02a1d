import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { describeHolders, portHolders, type Holder } from './holders';
import { stopChild } from './temporal-dev-server';

export interface LocalProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** SIGTERM then SIGKILL; resolves once it has exited. */
  stop(): Promise<void>;
  /** Sends a signal without waiting (SIGKILL to simulate a crash). */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Starts a local program with its output in a log file; the caller waits for readiness. */
export function startProcess(name: string, command: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): LocalProcess {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', out, out], ...(env ? { env } : {}) });
  fs.closeSync(out);
  child.on('error', () => {}); // reported by waitForPort naming the log
  return {
    name,
    child,
    logFile,
    stop: () => stopChild(child, 5000),
    kill: (signal) =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}

/** Resolves when something accepts connections on host:port; rejects if `proc` exits first or time runs out. */
export async function waitForPort(port: number, proc?: LocalProcess, timeoutMs = 15_000, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // Another process answering on the port (one that held it already, or the old HAProxy of a reload).
  let others: Holder[] = [];
  const heldBy = () => (others.length > 0 ? ` (port ${port} is held by ${describeHolders(others)})` : '');
  for (;;) {
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
      throw new Error(`${proc.name} exited before listening on ${port}${heldBy()}: ${tail(proc.logFile)}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) {
      if (!proc) return;
      // Something answers; it must be `proc` (or a process it started, as rabbitmq-server's VM) before it counts as up.
      const holders = portHolders(port);
      if (holders.length === 0 || holders.some((h) => descendsFrom(h.pid, proc.child.pid))) return;
      others = holders;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${proc && others.length > 0 ? `${proc.name} did not take port ${port}` : `nothing listens on ${host}:${port}`} after ${timeoutMs}ms${heldBy()}${proc ? `: ${tail(proc.logFile)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether `pid` is `ancestor` or one of its descendants (by the parent links in /proc). */
function descendsFrom(pid: number, ancestor: number | undefined): boolean {
  for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
    if (p === ancestor) return true;
    try {
      // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return false;
    }
  }
  return false;
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '(no log)';
  }
}

/** Polls an HTTP readiness URL (e.g. Prometheus' `/-/ready`, which answers only once queries work). */
export async function waitForHttpReady(url: string, proc: LocalProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (proc.child.exitCode !== null) throw new Error(`${proc.name} exited before it was ready (log ${proc.logFile})`);
    if (Date.now() > deadline) throw new Error(`${proc.name} not ready after ${timeoutMs}ms (log ${proc.logFile})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
