import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import { routerFor } from '../../src/drivers';
import { withRedis } from '../../src/drivers/redis-connection';
import { primaryOf } from '../../src/domain/routing';
import { runbookWorkflowId } from '../../src/domain/workflow-ids';
import { auditSequencedWrites, startSequencedWriter } from '../../dev/harness/redis-sequenced-writer';
import { workflowInterceptorModules, workflowsEntry } from '../../src/worker';
import type { FailoverResult } from '../../src/workflows/failover';
import type { RunbookStatus } from '../../src/api/status';
import { runEntry } from '../support/entry-process';
import { replayAndRecord } from '../support/histories';
import { startRedisService, type RedisServiceFixture } from '../support/redis-service';
import { statusUntil, until } from '../support/wait';

/**
 * A worker SIGKILLed in the middle of a planned switchover, with a second worker running and writes
 * under way: the runbook goes on on the other worker within seconds (short heartbeat timeouts, a
 * prebuilt workflow bundle, a short sticky queue), and nothing acknowledged is lost.
 */

const taskQueue = `crash-${randomUUID().slice(0, 8)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a worker killed mid-runbook', () => {
  let fx: RedisServiceFixture;
  let dir: string;
  let bundle: string;
  let client: Client;
  let connection: Connection;
  const workers: { child?: ChildProcess; done: Promise<{ code: number | null; out: string }> }[] = [];
  const ran: string[] = [];

  const startWorker = () => {
    const w: (typeof workers)[number] = { done: Promise.resolve({ code: null, out: '' }) };
    w.done = runEntry(
      'src/worker.ts',
      {
        FAILOVER_CONFIG: path.join(dir, 'crash.yaml'),
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        TEMPORAL_TASK_QUEUE: taskQueue,
        FAILOVER_WORKFLOW_BUNDLE: bundle,
      },
      (_out, child) => void (w.child = child),
      300_000,
    );
    workers.push(w);
    return w;
  };
  /** The worker process running a workflow's pending activity (its identity is pid@host). */
  const holderOf = async (workflowId: string, activity: string) => {
    const d = await client.workflow.getHandle(workflowId).describe();
    const identity = d.raw.pendingActivities?.find((a) => a.activityType?.name === activity)?.lastWorkerIdentity;
    return workers.find((w) => identity && w.child?.pid === Number(identity.split('@')[0]));
  };
  /** Stops and continues the replica in a loop: the catch-up it is part of takes a while. */
  const slowReplica = (name: string) => {
    let on = true;
    const child = fx.topology.redis[name]!.child;
    const loop = (async () => {
      while (on) {
        child.kill('SIGSTOP');
        await sleep(300);
        child.kill('SIGCONT');
        await sleep(50);
      }
      child.kill('SIGCONT');
    })();
    return async () => {
      on = false;
      await loop;
    };
  };

  const onReplica = <T>(name: string, use: Parameters<typeof withRedis<T>>[2]) =>
    withRedis({ host: '127.0.0.1', port: fx.topology.redis[name]!.port }, 2000, use);

  beforeAll(async () => {
    fx = await startRedisService('crash-bus', { failover_execution: { consistency_check: { timeout: '20s' } } });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-crash-'));
    bundle = path.join(dir, 'workflow-bundle.js');
    fs.writeFileSync(
      bundle,
      (
        await bundleWorkflowCode({
          workflowsPath: workflowsEntry(),
          workflowInterceptorModules: workflowInterceptorModules(),
          logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} },
        })
      ).code,
    );
    fs.writeFileSync(
      path.join(dir, 'crash.yaml'),
      YAML.stringify({ ...fx.config, failover_manager: { ...fx.config.failover_manager, supervision: { enabled: false } } }),
    );
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection });
    startWorker();
    startWorker();
    await sleep(3000);
  });
  afterAll(async () => {
    for (const w of workers) w.child?.kill('SIGTERM');
    // A worker that does not stop within its grace time is not what this file tests: it is killed.
    const late = setTimeout(() => workers.forEach((w) => w.child?.kill('SIGKILL')), 30_000);
    await Promise.all(workers.map((w) => w.done));
    clearTimeout(late);
    try {
      expect(await replayAndRecord(client, ran, 'crash')).toBeGreaterThan(0);
    } finally {
      await connection?.close();
      await fx?.stop();
    }
  });

  for (const where of ['switch section', 'consistency gate'] as const) {
    it(`SIGKILL of the worker running the ${where}: the other worker finishes the switchover, nothing acknowledged lost`, async () => {
      const from = primaryOf((await routerFor(fx.service).read()).routing)!;
      const to = from === 'redis-a' ? 'redis-b' : 'redis-a';
      const writer = startSequencedWriter({
        host: '127.0.0.1',
        port: fx.topology.haproxy.frontendPort,
        prefix: `crash-${where.replace(' ', '-')}`,
        maxDurationMs: 90_000,
      });
      await until(() => writer.ackedCount > 200);
      // The catch-up of the section runs on a slowed replica. For the gate, the target keeps its upstream
      // (so the target check passes) but cannot link: it offers a password the source does not take.
      let stopSlowing =
        where === 'consistency gate'
          ? await onReplica(to, async (r) => {
              await r.call('CONFIG', 'SET', 'masterauth', 'not-taken');
              await r.call('CLIENT', 'KILL', 'TYPE', 'master');
              return () => onReplica(to, (x) => x.call('CONFIG', 'SET', 'masterauth', '')).then(() => undefined);
            })
          : slowReplica(to);
      const h = (await client.workflow.start('failover', {
        taskQueue,
        workflowId: runbookWorkflowId('crash-bus'),
        args: [{ service: 'crash-bus', to, planned: true }],
      })) as WorkflowHandle;
      ran.push(h.workflowId);
      let victim: (typeof workers)[number] | undefined;
      if (where === 'consistency gate') {
        // The gate is a child workflow: its waitForLag activity runs on one of the workers.
        await until(
          async () => {
            const child = (await h.fetchHistory()).events!.map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId).find(Boolean);
            if (!child) return false;
            if (!ran.includes(child)) ran.push(child);
            return !!(victim = await holderOf(child, 'waitForLag'));
          },
          10_000,
          'the worker running the gate',
        );
      } else {
        await statusUntil(h, (s: RunbookStatus) => s.step === where, 30_000);
        await until(async () => !!(victim = await holderOf(runbookWorkflowId('crash-bus'), 'switchover')), 10_000, 'the worker running the section');
      }
      const killedAt = Date.now();
      victim!.child!.kill('SIGKILL');
      await sleep(500);
      await stopSlowing();
      const result = (await h.result()) as FailoverResult;
      const tookMs = Date.now() - killedAt;
      expect(result).toMatchObject({ outcome: 'switched', target: to });
      // Measured again by the attempt that finished, unless the lost one had demoted the source already.
      if (result.rpo.lag !== 0) expect(result.rpo.note).toMatch(/already follows .* is not read again/);
      const acked = writer.ackedCount;
      await until(() => writer.ackedCount > acked + 100, 15_000, 'writes flowing to the new primary');
      const report = await writer.stop();
      const audit = await auditSequencedWrites(
        { host: '127.0.0.1', port: fx.topology.redis[to]!.port, prefix: `crash-${where.replace(' ', '-')}` },
        report.acked,
      );
      expect(audit.missing).toEqual([]);
      console.log(
        `worker killed during the ${where}: runbook finished ${tookMs}ms after the kill (the step's work resumed on the other worker); ${report.acked.length} writes acknowledged, 0 lost`,
      );
      startWorker(); // two workers again for the next case
      await sleep(3000);
    });
  }
});
