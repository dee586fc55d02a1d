import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import { supervisionQuery, supervisorWorkflowId } from '../../src/api/supervisor';
import { routerFor } from '../../src/drivers';
import type { ServiceConfig } from '../../src/domain/config';
import { primaryOf } from '../../src/domain/routing';
import { detectionWorkflowId, runbookWorkflowId } from '../../src/domain/workflow-ids';
import { workflowInterceptorModules, workflowsEntry } from '../../src/worker';
import type { FailoverResult } from '../../src/workflows/failover';
import { runEntry } from '../support/entry-process';
import { startRedisService, type RedisServiceFixture } from '../support/redis-service';
import { until } from '../support/wait';
import { replayAndRecord } from '../support/histories';
import { healthQuery } from '../../src/api/queries';
import { presenceWorkflowId, type PresenceEnd } from '../../src/api/presence';

/**
 * Detection at fleet scale, with real worker processes: 200 services on one worker (probing never
 * takes the slots runbooks need), then three workers sharing the fleet, one SIGKILLed while it watches.
 */

const taskQueue = `fleet-${randomUUID().slice(0, 8)}`;
const SERVICES = 200;
const policy = {
  failover_detection: { detection_interval: '1s', timeout: '500ms', failure_threshold: 3, recovery_threshold: 3, cooldown: '5m' },
  failover_execution: { gradual_failover: false, consistency_check: { timeout: '5s' } },
  supervision: { reconcile_interval: '2s', redundancy: false },
  brakes: { max_automatic_runbooks: 1000, window: '1m' },
};

describe('detection engine at fleet scale', () => {
  const listeners: net.Server[] = [];
  const workers: { child?: ChildProcess; done: Promise<{ code: number | null; out: string }> }[] = [];
  let dir: string;
  let bundle: string;
  let redis: RedisServiceFixture;
  let services: ServiceConfig[] = [];
  let client: Client;
  let connection: Connection;
  /** Replayed (and recorded) at the end: the lost worker's presence, the detection it moved. */
  const replayIds: string[] = [];

  const listen = async () => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    listeners.push(server);
    return { server, port: (server.address() as net.AddressInfo).port };
  };
  const startWorker = () => {
    const w: (typeof workers)[number] = { done: Promise.resolve({ code: null, out: '' }) };
    w.done = runEntry(
      'src/worker.ts',
      {
        FAILOVER_CONFIG: path.join(dir, 'fleet.yaml'),
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        TEMPORAL_TASK_QUEUE: taskQueue,
        FAILOVER_WORKFLOW_BUNDLE: bundle,
      },
      (_out, child) => void (w.child = child),
      600_000,
    );
    workers.push(w);
    return w;
  };
  const health = (name: string) => client.workflow.getHandle(detectionWorkflowId(name)).query(healthQuery);
  const watchedBy = async (name: string) => {
    const d = await client.workflow.getHandle(detectionWorkflowId(name)).describe();
    return d.raw.pendingActivities?.find((a) => a.activityType?.name === 'watchDestinations')?.lastWorkerIdentity ?? undefined;
  };
  const allWatched = async () => {
    for (let i = 0; i < services.length; i += 25) {
      const batch = await Promise.all(
        services.slice(i, i + 25).map((s) =>
          health(s.name).then(
            (h) => h.watching,
            () => false,
          ),
        ),
      );
      if (batch.some((w) => !w)) return false;
    }
    return true;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-fleet-'));
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
    // Twenty listeners stand for the fleet's destinations; the last service gets its own, to be killed.
    const shared = await Promise.all(Array.from({ length: 20 }, listen));
    const victim = await listen();
    services = Array.from({ length: SERVICES }, (_, i) => {
      const own = i === SERVICES - 1;
      const port = (k: number) => (own ? (k === 0 ? victim.port : shared[0]!.port) : shared[(i * 2 + k) % shared.length]!.port);
      return {
        name: `tcp-${String(i).padStart(3, '0')}`,
        router: { type: 'file', path: path.join(dir, `tcp-${i}.json`) },
        destinations: [0, 1].map((k) => ({ id: `d${k}`, zone: `z${k}`, region: 'r', probe: { type: 'tcp', host: '127.0.0.1', port: port(k) } })),
      } as unknown as ServiceConfig;
    });
    redis = await startRedisService('fleet-redis', policy);
    services.push(redis.service);
    fs.writeFileSync(path.join(dir, 'fleet.yaml'), YAML.stringify({ failover_manager: policy, services }));
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection });
  });

  afterAll(async () => {
    for (const w of workers) w.child?.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.done));
    const running: string[] = [];
    for await (const w of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` })) running.push(w.workflowId);
    await Promise.all(
      running.map((id) =>
        client.workflow
          .getHandle(id)
          .terminate('test done')
          .catch(() => undefined),
      ),
    );
    try {
      if (replayIds.length > 0) expect(await replayAndRecord(client, replayIds, 'fleet')).toBeGreaterThanOrEqual(replayIds.length);
    } finally {
      // Stopped even when the replay fails: a redis or HAProxy left running outlives the suite.
      await connection?.close();
      await redis?.stop();
      for (const l of listeners) l.close();
    }
  });

  it(`one worker watches ${SERVICES + 1} services; a switchover on one still gets its slots; a killed destination is detected`, async () => {
    startWorker();
    await until(
      async () =>
        Object.keys(
          (
            await client.workflow
              .getHandle(supervisorWorkflowId(taskQueue))
              .query(supervisionQuery)
              .catch(() => ({ services: {} }))
          ).services,
        ).length === services.length,
      120_000,
      'supervision of every service',
    );
    await until(allWatched, 120_000, 'every service watched');

    // Each reconcile writes the same few bytes into the supervisor's history, however many services:
    // it once listed every service in its input and again in its result, every reconcile_interval.
    const history = await client.workflow.getHandle(supervisorWorkflowId(taskQueue)).fetchHistory();
    const bytes = (p?: { payloads?: { data?: Uint8Array | null }[] | null } | null) =>
      (p?.payloads ?? []).reduce<number>((n, x) => n + (x.data?.length ?? 0), 0);
    const scheduled = new Map<string, number>();
    const reconciles: { input: number; result: number }[] = [];
    for (const e of history.events ?? []) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s?.activityType?.name === 'reconcileRunbooks') scheduled.set(String(e.eventId), bytes(s.input));
      const c = e.activityTaskCompletedEventAttributes;
      const input = c ? scheduled.get(String(c.scheduledEventId)) : undefined;
      if (c && input !== undefined) reconciles.push({ input, result: bytes(c.result) });
    }
    // The first one starts every runbook (and names the first few); the last finds them all running.
    expect(reconciles.length).toBeGreaterThan(1);
    const last = reconciles[reconciles.length - 1]!;
    console.log(`fleet: one reconcile of ${services.length} running services records ${last.input} + ${last.result} bytes`);
    expect(last.input + last.result, 'bytes a reconcile with everything running records').toBeLessThan(1_000);

    const started = Date.now();
    const result = (await client.workflow.execute('failover', {
      taskQueue,
      workflowId: runbookWorkflowId('fleet-redis'),
      args: [{ service: 'fleet-redis', to: 'redis-b', planned: true, actor: 'test' }],
      workflowExecutionTimeout: '2m',
    })) as FailoverResult;
    expect(result).toMatchObject({ outcome: 'switched', target: 'redis-b', rpo: { lag: 0 } });
    console.log(`fleet: planned switchover among ${services.length} watched services: RTO ${result.rtoMs}ms, whole runbook ${Date.now() - started}ms`);

    const victim = services[SERVICES - 1]!.name;
    const killedAt = Date.now();
    listeners[listeners.length - 1]!.close();
    await until(async () => (await health(victim)).decisions.some((d) => d.event.destination === 'd0' && d.event.kind === 'down'), 30_000, 'victim detected');
    const decision = (await health(victim)).decisions.find((d) => d.event.destination === 'd0' && d.event.kind === 'down')!;
    console.log(`fleet: destination down → decision in ${new Date(decision.at).getTime() - killedAt}ms (3 probes of 1s)`);
    expect(decision.decision.action).toBe('failover');
    await until(async () => primaryOf((await routerFor(services[SERVICES - 1]!).read()).routing) === 'd1', 30_000, 'victim failed over');
  }, 300_000);

  it('three workers share the fleet; SIGKILL the one watching a service: the others take its watches over and a failure right after is still failed over', async () => {
    const joined = [startWorker(), startWorker()];
    const polling = () =>
      Promise.all(
        joined.map(async (w) => (await Promise.race([w.done.then(() => ''), new Promise<string>((r) => setTimeout(() => r('waiting'), 10))])) === 'waiting'),
      );
    await until(async () => (await polling()).every(Boolean) && workers.every((w) => w.child?.pid), 30_000, 'two more workers running');
    await new Promise((r) => setTimeout(r, 3000)); // they poll the task queues
    const holder = await watchedBy('fleet-redis');
    expect(holder).toBeDefined();
    const pid = Number(holder!.split('@')[0]);
    const victim = workers.find((w) => w.child?.pid === pid);
    expect(victim, `worker ${holder} is one of ours`).toBeDefined();
    // Each worker announced its presence by itself: one presence workflow per process.
    const presences = async (status: string) => {
      const ids: string[] = [];
      const query = `TaskQueue = '${taskQueue}' AND WorkflowType = 'presence' AND ExecutionStatus = '${status}'`;
      for await (const w of client.workflow.list({ query })) ids.push(w.workflowId);
      return ids;
    };
    await until(async () => (await presences('Running')).length === 3, 30_000, 'three presences');
    const victimPresence = (await presences('Running')).find((id) => id.startsWith(presenceWorkflowId(taskQueue, `${holder}-`)));
    expect(victimPresence, `the presence of ${holder}`).toBeDefined();
    // A watch started in the second before its worker dies is not yet on the presence's list (it
    // waits for its own heartbeat timeout, see the README): kill once this one has run a moment.
    await until(
      async () => {
        const d = await client.workflow.getHandle(detectionWorkflowId('fleet-redis')).describe();
        const started = d.raw.pendingActivities?.find((a) => a.activityType?.name === 'watchDestinations')?.lastStartedTime?.seconds;
        return started !== undefined && started !== null && Date.now() / 1000 - Number(started) > 3;
      },
      30_000,
      'the watch running for 3 s',
    );
    const killedAt = Date.now();
    victim!.child!.kill('SIGKILL');
    const primary = primaryOf((await routerFor(redis.service).read()).routing)!;
    await redis.topology.redis[primary]!.kill('SIGKILL');
    const other = primary === 'redis-a' ? 'redis-b' : 'redis-a';
    // A watch's own heartbeat timeout is 2 minutes: within 60 s, only the lost presence moves it.
    await until(async () => primaryOf((await routerFor(redis.service).read()).routing) === other, 60_000, 'failover after the watch moved').catch(
      async (err: Error) => {
        const d = await client.workflow.getHandle(detectionWorkflowId('fleet-redis')).describe();
        const end = await client.workflow
          .getHandle(victimPresence!)
          .describe()
          .then((p) => p.status.name);
        console.log(
          'not failed over:',
          JSON.stringify({ presence: end, pending: d.raw.pendingActivities, decisions: (await health('fleet-redis')).decisions }),
        );
        throw err;
      },
    );
    console.log(`fleet: worker SIGKILLed → failover through the moved watch in ${Date.now() - killedAt}ms`);
    const now = await watchedBy('fleet-redis');
    expect(now).not.toBe(holder);
    const lost = (await client.workflow.getHandle(victimPresence!).result()) as PresenceEnd;
    expect(lost).toMatchObject({ ended: 'lost' });
    expect(lost.released).toBeGreaterThan(0);
    replayIds.push(victimPresence!, detectionWorkflowId('fleet-redis'));
    const failovers = (await health('fleet-redis')).decisions.filter((d) => d.decision.action === 'failover' && d.event.destination === primary);
    expect(failovers).toHaveLength(1);
    // The killed worker's watches are spread over the two that are left.
    await until(
      async () => {
        const by = await Promise.all(services.slice(0, 40).map((s) => watchedBy(s.name)));
        return !by.includes(holder) && new Set(by).size === 2;
      },
      60_000,
      'watches shared by the two remaining workers',
    );
  }, 300_000);
});
