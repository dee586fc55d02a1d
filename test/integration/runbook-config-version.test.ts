import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import { applyConfigUpdate, supervisorWorkflowId } from '../../src/api/supervisor';
import { startMutatingRunbook } from '../../src/client/start-runbook';
import { detectionWorkflowId, runbookWorkflowId } from '../../src/domain/workflow-ids';
import { healthQuery } from '../../src/api/queries';
import type { FailoverResult } from '../../src/workflows/failover';
import { approveUpdate } from '../../src/workflows/controls';
import { runEntry } from '../support/entry-process';
import { stopAndReplayTaskQueue } from '../support/histories';
import { startHttpServer, type LocalHttpServer } from '../support/http-servers';
import { statusUntil, until } from '../support/wait';

/**
 * A runbook keeps the bounds of the config version it started with: a real worker process that
 * follows the supervisor, a failover waiting for approval while a new version tightens
 * quality.max_latency, and a destination that answers in ~400 ms. The runbook validates against the
 * bound it started with; a runbook started after the change uses the new one. Its history names
 * the service by version instead of carrying its destinations in every activity input.
 */

const taskQueue = `cfgver-${randomUUID().slice(0, 8)}`;
const name = 'cfgver-hooks';
const SLOW_MS = 400;

describe('runbooks act with the config version they started with', () => {
  let dir: string;
  let table: string;
  let a: LocalHttpServer;
  let b: LocalHttpServer;
  let slow = true;
  let client: Client;
  let connection: Connection;
  let worker: { child?: ChildProcess; done: Promise<{ code: number | null; out: string }> };

  const doc = (maxLatency: string) => ({
    failover_manager: {
      failover_detection: { detection_interval: '500ms', timeout: '2s' },
      failover_execution: { automatic_failover: false, gradual_failover: { steps: [100], soak: '0s' }, approval: { required: true, timeout: '2m' } },
      quality: { max_latency: maxLatency },
      supervision: { reconcile_interval: '2s', redundancy: false },
    },
    services: [
      {
        name,
        router: { type: 'file', path: table },
        destinations: [
          { id: 'hooks-a', zone: 'z1', region: 'r1', probe: { type: 'http', url: `${a.url}/health` } },
          { id: 'hooks-b', zone: 'z2', region: 'r1', probe: { type: 'http', url: `${b.url}/health` } },
        ],
      },
    ],
  });
  const supervisor = () => client.workflow.getHandle(supervisorWorkflowId(taskQueue));
  // Detection loads a new version only through this worker's live copy: once it runs on it, so do the worker's activities.
  const detectionOn = async (v: number) =>
    (
      await client.workflow
        .getHandle(detectionWorkflowId(name))
        .query(healthQuery)
        .catch(() => undefined)
    )?.configVersion === v;
  const failover = async (to: string) => {
    const h = await startMutatingRunbook(client, { taskQueue, type: 'failover', service: name, input: { to, actor: 'tester', reason: 'config version test' } });
    await statusUntil(h, (s) => s.controls.awaitingApproval !== undefined, 60_000);
    return h;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-cfgver-'));
    table = path.join(dir, 'routing.json');
    a = await startHttpServer((_req, res) => void res.end('ok'));
    // hooks-b answers well within 1 s, well beyond 200 ms (a loaded machine answers hooks-a in tens of ms).
    b = await startHttpServer((_req, res) => void (slow ? setTimeout(() => res.end('ok'), SLOW_MS) : res.end('ok')));
    const file = path.join(dir, 'failover.yaml');
    fs.writeFileSync(file, YAML.stringify(doc('1s')));
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection });
    let child: ChildProcess | undefined;
    let out = '';
    const env = { FAILOVER_CONFIG: file, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: taskQueue };
    const done = runEntry('src/worker.ts', env, (o, c) => ((child = c), (out = o)), 600_000);
    worker = {
      get child() {
        return child;
      },
      done,
    };
    await until(() => /"msg":"worker started"/.test(out), 90_000, 'worker started');
    await until(() => detectionOn(1), 30_000, 'detection on config version 1');
  });

  afterAll(async () => {
    worker?.child?.kill('SIGTERM');
    const ended = await worker?.done;
    if (ended && ended.code !== 0) console.log(`worker exited ${ended.code}:\n${ended.out.split('\n').slice(-30).join('\n')}`);
    try {
      expect(await stopAndReplayTaskQueue(client, taskQueue, 'config-version')).toBeGreaterThan(0);
    } finally {
      await connection?.close();
      await a?.close();
      await b?.close();
    }
  });

  it('a failover validates with the max_latency of its own version although a tighter one is applied while it waits', async () => {
    const h = await failover('hooks-b');
    const applied = await supervisor().executeUpdate(applyConfigUpdate, {
      args: [{ config: doc('200ms'), by: 'tester', reason: 'tighter latency bound while a failover waits' }],
    });
    expect(applied.version).toBe(2);
    // The worker runs its activities with version 2 as its live config from here on.
    await until(() => detectionOn(2), 30_000, 'detection (and the worker) on config version 2');
    await h.executeUpdate(approveUpdate, { args: [{ by: 'approver', reason: 'go' }] });
    const result = (await h.result()) as FailoverResult;
    slow = false;
    const validation = result.steps.find((s) => s.name.startsWith('validate'))!;
    expect(validation.detail).toMatch(/hooks-b up in \d+ms \(bound 1000ms\)/);
    expect(result.outcome).toBe('switched');
    expect(result.routingAfter.weights).toEqual({ 'hooks-a': 0, 'hooks-b': 100 });

    // A runbook started now snapshots version 2, and its bound.
    const next = await failover('hooks-a');
    await next.executeUpdate(approveUpdate, { args: [{ by: 'approver', reason: 'back' }] });
    const back = (await next.result()) as FailoverResult;
    expect(back.steps.find((s) => s.name.startsWith('validate'))!.detail).toMatch(/hooks-a up in \d+ms \(bound 200ms\)/);
  });

  it("the runbook's history names the service by config version: no activity input carries a destination's address", async () => {
    const runs: string[] = [];
    for await (const w of client.workflow.list({ query: `WorkflowId = '${runbookWorkflowId(name)}' AND WorkflowType = 'failover'` })) runs.push(w.runId);
    expect(runs.length).toBe(2);
    const addresses = [a.url, b.url, table];
    for (const runId of runs) {
      const events = (await client.workflow.getHandle(runbookWorkflowId(name), runId).fetchHistory()).events ?? [];
      const scheduled = events.flatMap((e) => {
        const s = e.activityTaskScheduledEventAttributes;
        return s ? [{ type: s.activityType!.name!, input: (s.input?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload<unknown>(p)) }] : [];
      });
      const stepActivities = scheduled.filter((s) => ['readRouting', 'probe', 'applyRouting', 'validateStep'].includes(s.type));
      expect(stepActivities.map((s) => s.type)).toEqual(expect.arrayContaining(['readRouting', 'probe', 'applyRouting', 'validateStep']));
      for (const s of stepActivities) expect(s.input[0], s.type).toEqual({ service: name, configVersion: expect.any(Number) });
      for (const s of scheduled) for (const addr of addresses) expect(JSON.stringify(s.input), `${s.type} input`).not.toContain(addr);
      // The snapshot itself (loadService's result) still holds the config once: it is what the version names.
      const results = events
        .flatMap((e) => e.activityTaskCompletedEventAttributes?.result?.payloads ?? [])
        .map((p) => JSON.stringify(defaultPayloadConverter.fromPayload<unknown>(p)) ?? '');
      expect(results.filter((r) => r.includes(b.url))).toHaveLength(1);
    }
  });
});
