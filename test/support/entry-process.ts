import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Runs one of the project's entry points (`src/…/main.ts`) as a real process with JSON logs, calling
 * `onOutput` with everything printed so far; resolves with the exit code and the output.
 */
export function runEntry(
  script: string,
  env: Record<string, string>,
  onOutput?: (out: string, child: ChildProcess) => void,
): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const onData = (d: Buffer) => {
    out += d.toString();
    onOutput?.(out, child);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}
