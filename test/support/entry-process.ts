import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Runs one of the project's entry points (`src/…/main.ts`, `dev/demo.ts`) as a real process with JSON logs, calling
 * `onOutput` with everything printed so far; resolves with the exit code and the output. SIGKILLed
 * after `killAfterMs`.
 */
export function runEntry(
  script: string,
  env: Record<string, string>,
  onOutput?: (out: string, child: ChildProcess) => void,
  killAfterMs = 90_000,
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
  // A child that never gets where the test waits for it must not outlive the test.
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  // 'close', not 'exit': only then is all of its output read.
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    }),
  );
}
