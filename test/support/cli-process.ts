import { execFile } from 'node:child_process';
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
