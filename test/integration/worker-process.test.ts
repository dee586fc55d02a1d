import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { runEntry } from '../support/entry-process';

function runWorker(env: Record<string, string>, stopAfter?: RegExp) {
  return runEntry('src/worker.ts', env, (out, child) => {
    if (stopAfter?.test(out) && !child.killed) child.kill('SIGTERM');
  });
}

describe('worker process', () => {
  it('refuses to start on a bad config, naming the field, and connects to nothing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'badcfg-'));
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, fs.readFileSync('config/example.yaml', 'utf8').replace('failure_threshold: 3', 'failure_threshold: -1'));
    // An address where nothing listens: had it tried to connect, the error would be a connection error.
    const { code, out } = await runWorker({ FAILOVER_CONFIG: file, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(code).toBe(1);
    expect(out).toContain('failover_manager.failover_detection.failure_threshold: Too small: expected number to be >=1 (got -1)');
    expect(out).not.toMatch(/worker started|connect/i);
  });

  it('starts against the dev server and shuts down cleanly on SIGTERM', async () => {
    const { code, out } = await runWorker(
      { FAILOVER_CONFIG: 'config/example.yaml', TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: 'worker-process-test' },
      /worker started/,
    );
    expect(out).toContain('"msg":"worker started"');
    expect(out).toContain('"msg":"worker stopped"');
    expect(code).toBe(0);
  });
});
