import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { inject } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as an operator would, in its own process (async: a worker may share this event loop). */
export function runCliProcess(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const base = { ...process.env };
  for (const k of ['FAILOVER_CONFIG', 'TEMPORAL_TASK_QUEUE', 'TEMPORAL_NAMESPACE', 'TEMPORAL_ADDRESS']) delete base[k];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: ROOT, env: { ...base, TEMPORAL_ADDRESS: inject('temporalAddress'), USER: 'tester', ...env }, timeout: 90_000, maxBuffer: 8 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export interface LiveCli {
  /** Everything printed so far on stdout. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves once stdout contains `text` (bounded). */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
  done: Promise<CliRun>;
}

/** Runs the CLI and lets the test read its output while it runs (e.g. `status --watch`). */
export function spawnCliProcess(args: string[], env: Record<string, string> = {}): LiveCli {
  const base = { ...process.env };
  for (const k of ['FAILOVER_CONFIG', 'TEMPORAL_TASK_QUEUE', 'TEMPORAL_NAMESPACE', 'TEMPORAL_ADDRESS']) delete base[k];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { ...base, TEMPORAL_ADDRESS: inject('temporalAddress'), USER: 'tester', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const done = new Promise<CliRun>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    }),
  );
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    async waitFor(text, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(typeof text === 'string' ? stdout.includes(text) : text.test(stdout))) {
        if (Date.now() > deadline) throw new Error(`CLI did not print ${String(text)} within ${timeoutMs}ms; stdout:\n${stdout}\nstderr:\n${stderr}`);
        if (child.exitCode !== null) throw new Error(`CLI exited ${child.exitCode} before printing ${String(text)}; stdout:\n${stdout}\nstderr:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    done,
  };
}
