import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import { freePort } from '../../dev/devserver/free-port';
import { runEntry } from '../support/entry-process';
import { startRedisService } from '../support/redis-service';

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
    expect(code).toBe(2);
    expect(out).toContain('failover_manager.failover_detection.failure_threshold: Too small: expected number to be >=1 (got -1)');
    expect(out).not.toMatch(/worker started|connect/i);
  });

  it('names the file, line and column of an alias without its anchor (exit 2), and never falls back to the demo config', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'badcfg-'));
    const file = path.join(dir, 'alias.yaml');
    fs.writeFileSync(file, 'failover_manager:\n  quality: *defaults\n');
    const alias = await runWorker({ FAILOVER_CONFIG: file, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(alias.code).toBe(2);
    expect(alias.out).toContain(`${file}:2:12: YAML: alias *defaults has no anchor &defaults before it`);
    expect(alias.out).not.toMatch(/ReferenceError/);
    // No FAILOVER_CONFIG and no file at the documented default: said so, nothing else loaded.
    const none = await runWorker({ FAILOVER_CONFIG: '', TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(none.code).toBe(2);
    expect(none.out).toContain(
      'no config file: neither --config nor $FAILOVER_CONFIG names one, and the default /etc/failover-manager/failover.yaml does not exist',
    );
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

  it("npm start prints the metrics address, and the worker serves the SDK's metrics and the manager's there", async () => {
    const fx = await startRedisService('start-bus');
    const taskQueue = `start-${Date.now()}`;
    try {
      const file = path.join(fx.dir, 'failover.yaml');
      fs.writeFileSync(file, YAML.stringify({ failover_manager: { failover_detection: { detection_interval: '500ms' } }, services: [fx.service] }));
      const address = `127.0.0.1:${await freePort()}`;
      let scrape: Promise<string> | undefined;
      // A config of its own (no demo topology, no default ports) and the test's dev server.
      const env = { TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: taskQueue, FAILOVER_CONFIG: file, FAILOVER_METRICS_ADDRESS: address };
      const { code, out } = await runEntry('dev/demo.ts', env, (o, child) => {
        if (scrape || !o.includes('Ctrl-C stops everything')) return;
        // Until the redundancy runbook has checked once, its gauges are not there yet.
        const read = async (): Promise<string> => {
          for (let i = 0; i < 100; i++) {
            const text = await (await fetch(`http://${address}/metrics`)).text();
            if (text.includes('failover_redundancy_healthy_backups{')) return text;
            await new Promise((r) => setTimeout(r, 200));
          }
          return (await fetch(`http://${address}/metrics`)).text();
        };
        scrape = read().finally(() => child.kill('SIGTERM'));
      });
      expect(out).toContain(`Metrics:    http://${address}/metrics (Prometheus; dashboard: deploy/grafana/failover.json)`);
      const text = await scrape!;
      expect(text).toMatch(/^temporal_worker_task_slots_available\{/m);
      expect(text).toMatch(/^failover_redundancy_healthy_backups\{.*service="start-bus".*\} 1$/m);
      expect(code).toBe(0);
    } finally {
      const connection = await Connection.connect({ address: inject('temporalAddress') });
      const client = new Client({ connection });
      for await (const w of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` })) {
        await client.workflow
          .getHandle(w.workflowId)
          .terminate('test done')
          .catch(() => undefined);
      }
      await connection.close();
      await fx.stop();
    }
  });
});
