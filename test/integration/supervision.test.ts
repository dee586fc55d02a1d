import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import { supervisionQuery, supervisorWorkflowId } from '../../src/api/supervisor';
import { routerFor } from '../../src/drivers';
import { freePort } from '../../dev/devserver/free-port';
import { startAlertmanager, type LocalAlertmanager } from '../../dev/devserver/local-alertmanager';
import { primaryOf } from '../../src/domain/routing';
import { detectionWorkflowId, runbookWorkflowId } from '../../src/domain/workflow-ids';
import { runCliProcess } from '../support/cli-process';
import { runEntry } from '../support/entry-process';
import { stopAndReplayTaskQueue } from '../support/histories';
import { startHttpServer, type LocalHttpServer } from '../support/http-servers';
import { startRedisService, type RedisServiceFixture } from '../support/redis-service';
import { until } from '../support/wait';
import { healthQuery } from '../../src/api/queries';

/**
 * The control plane, as a user runs it: a real worker process started with a config file, and
 * nothing else started by hand. Supervision, live versioned config, suspension, the fleet cap and
 * approval notices, on real Redis/HAProxy, a real Alertmanager and the dev server.
 */

const taskQueue = `sup-${randomUUID().slice(0, 8)}`;
const names = ['sup-a', 'sup-t', 'sup-b', 'sup-c1', 'sup-c2', 'sup-d', 'sup-e'];
const policy = {
  failover_detection: { detection_interval: '200ms', timeout: '500ms', failure_threshold: 3, recovery_threshold: 3, cooldown: '1m' },
  failover_execution: { consistency_check: { timeout: '5s' }, approval: { timeout: '2m' } },
  recovery_management: { validation_intervals: 2 },
  redundancy_management: { check_interval: '5s' },
  supervision: { reconcile_interval: '1s' },
  brakes: { max_automatic_runbooks: 10, window: '10m' },
};

describe('the control plane: a worker keeps every configured service watched, config is live, automatic actions have brakes', () => {
  const fixtures = new Map<string, RedisServiceFixture>();
  const hookBodies: Record<string, unknown>[] = [];
  let dir: string;
  let configFile: string;
  let hook: LocalHttpServer;
  let am: LocalAlertmanager;
  let client: Client;
  let connection: Connection;
  let worker: { child?: ChildProcess; done: Promise<{ code: number | null; out: string }> };

  /** The config document the test writes: every started service but the ones left out. */
  const doc = (over: { policy?: Record<string, unknown>; without?: string[] } = {}) => ({
    failover_manager: { ...policy, ...over.policy, notifications: { webhook: `${hook.url}/alerts`, alertmanager: [am.url] } },
    services: names.filter((n) => n !== 'sup-e' && !(over.without ?? []).includes(n)).map((n) => fixtures.get(n)!.service),
  });
  const write = (file: string, d: unknown) => (fs.writeFileSync(file, YAML.stringify(d)), file);
  const cli = (...args: string[]) => runCliProcess(['--config', configFile, '--task-queue', taskQueue, ...args]);
  const supervision = () => client.workflow.getHandle(supervisorWorkflowId(taskQueue)).query(supervisionQuery);
  const health = (name: string) => client.workflow.getHandle(detectionWorkflowId(name)).query(healthQuery);
  const running = async (id: string) =>
    (
      await client.workflow
        .getHandle(id)
        .describe()
        .catch(() => undefined)
    )?.status.name === 'RUNNING';
  const routed = async (name: string) => primaryOf((await routerFor(fixtures.get(name)!.service).read()).routing);
  const kill = (name: string) => fixtures.get(name)!.topology.redis['redis-a']!.kill('SIGKILL');

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-supervision-'));
    hook = await startHttpServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => (hookBodies.push(JSON.parse(body)), res.writeHead(200).end()));
    });
    am = await startAlertmanager({ port: await freePort(), dir: path.join(dir, 'am'), webhook: { url: `${hook.url}/am` } });
    for (const name of names) fixtures.set(name, await startRedisService(name, policy));
    configFile = write(path.join(dir, 'failover.yaml'), doc());
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection });
    let child: ChildProcess | undefined;
    const done = runEntry(
      'src/worker.ts',
      { FAILOVER_CONFIG: configFile, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: taskQueue },
      (_out, c) => (child = c),
      600_000,
    );
    worker = {
      get child() {
        return child;
      },
      done,
    };
  });

  afterAll(async () => {
    worker?.child?.kill('SIGTERM');
    const ended = await worker?.done;
    if (ended && ended.code !== 0) console.log(`worker exited ${ended.code}:\n${ended.out.split('\n').slice(-30).join('\n')}`);
    // What the supervisor started, it does not stop on its own: the test does.
    // The supervisor's, detection's and the runbooks' histories replay against the current code.
    try {
      expect(await stopAndReplayTaskQueue(client, taskQueue, 'supervision')).toBeGreaterThan(0);
    } finally {
      await connection?.close();
      for (const fx of fixtures.values()) await fx.stop();
      await am?.stop();
      await hook?.close();
    }
  });

  it('a worker start puts every configured service under detection, nothing started by hand; a killed primary is failed over', async () => {
    await until(
      async () => {
        const s = await supervision().catch(() => undefined);
        return !!s && names.filter((n) => n !== 'sup-e').every((n) => s.services[n]?.detection === 'running' || s.services[n]?.detection === 'started');
      },
      60_000,
      'supervision of every service',
    );
    for (const n of ['sup-a', 'sup-t']) await until(() => running(detectionWorkflowId(n)), 10_000, `detection-${n} running`);
    await until(() => running('redundancy-sup-a'), 10_000, 'redundancy-sup-a running');
    await until(async () => (await health('sup-a')).watching, 10_000, 'sup-a watched');

    await kill('sup-a');
    await until(async () => (await routed('sup-a')) === 'redis-b', 30_000, 'sup-a failed over by itself');

    const status = await cli('status', 'sup-a');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/control\s+config version 1; automatic runbooks allowed/);
    expect(status.stdout).toMatch(/detection\s+running, watching; traffic on redis-b \(detection-sup-a, config version 1\)/);
    const json = JSON.parse((await cli('status', 'sup-a', '--json')).stdout);
    expect(json.detection.health.decisions.some((d: { decision: { action: string } }) => d.decision.action === 'failover')).toBe(true);
  });

  it('a detection terminated by hand comes back; a service removed from the config stops being watched, one added starts', async () => {
    const before = await client.workflow.getHandle(detectionWorkflowId('sup-b')).describe();
    await client.workflow.getHandle(detectionWorkflowId('sup-b')).terminate('by hand');
    await until(
      async () => {
        const d = await client.workflow.getHandle(detectionWorkflowId('sup-b')).describe();
        return d.status.name === 'RUNNING' && d.runId !== before.runId;
      },
      15_000,
      'detection-sup-b back',
    );

    const added = await cli(
      'config',
      'apply',
      write(path.join(dir, 'with-e.yaml'), { ...doc(), services: [...doc().services, fixtures.get('sup-e')!.service] }),
      '--reason',
      'add sup-e',
      '--by',
      'alice',
    );
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/live config is now version 2/);
    expect(added.stdout).toContain('+ services[sup-e]');
    await until(() => running(detectionWorkflowId('sup-e')), 15_000, 'detection-sup-e started');

    const removed = await cli('config', 'apply', write(path.join(dir, 'without-e.yaml'), doc()), '--reason', 'drop sup-e', '--by', 'alice');
    expect(removed.stdout).toMatch(/version 3/);
    expect(removed.stdout).toContain('- services[sup-e]');
    await until(async () => !(await running(detectionWorkflowId('sup-e'))), 15_000, 'detection-sup-e stopped');
    await until(async () => !(await running('redundancy-sup-e')), 15_000, 'redundancy-sup-e stopped');
  });

  it('a bad config is refused and changes nothing; a good one becomes the next version, and running detection decides with it', async () => {
    const bad = write(path.join(dir, 'bad.yaml'), doc({ policy: { failover_detection: { ...policy.failover_detection, failure_threshold: -1 } } }));
    const checked = await cli('config', 'check', bad);
    expect(checked.code).toBe(2);
    expect(checked.stderr).toContain('failover_manager.failover_detection.failure_threshold: Too small: expected number to be >=1 (got -1)');
    const refused = await cli('config', 'apply', bad);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('failure_threshold');
    expect((await supervision()).version).toBe(3);

    const good = write(path.join(dir, 'threshold.yaml'), doc({ policy: { failover_detection: { ...policy.failover_detection, failure_threshold: 2 } } }));
    const applied = await cli('config', 'apply', good, '--reason', 'detect faster', '--by', 'bob');
    expect(applied.stdout).toMatch(/version 4/);
    expect(applied.stdout).toContain('~ failover_manager.failover_detection.failure_threshold: 3 → 2');
    const history = await cli('config', 'history', '--diff');
    expect(history.stdout).toMatch(/^4\s+\S+\s+bob\s+1\s+detect faster$/m);
    expect(history.stdout).toMatch(/^1\s+\S+\s+worker@/m);
    await until(async () => (await health('sup-t')).configVersion === 4, 15_000, 'detection of sup-t on version 4');

    await kill('sup-t');
    await until(async () => (await routed('sup-t')) === 'redis-b', 30_000, 'sup-t failed over');
    const decision = (await health('sup-t')).decisions.find((d) => d.decision.action === 'failover')!;
    expect(decision.event.reason).toMatch(/2 consecutive failed probes \(threshold 2\)/);
    // The runbook it started keeps the version it loaded, and its history says which.
    const events = (await client.workflow.getHandle(runbookWorkflowId('sup-t')).fetchHistory()).events!;
    const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'loadService')!;
    const completed = events.find((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === String(scheduled.eventId))!;
    const snapshot = defaultPayloadConverter.fromPayload<{ version: number }>(completed.activityTaskCompletedEventAttributes!.result!.payloads![0]!);
    expect(snapshot.version).toBe(4);
  });

  it('suspend holds automatic runbooks at once (the decision is recorded); resume lets the held failover happen', async () => {
    const suspended = await cli('suspend', 'sup-b', '--reason', 'network work in eu-west-1', '--by', 'carol');
    expect(suspended.code, suspended.stderr).toBe(0);
    expect(suspended.stdout).toContain('automatic runbooks of sup-b suspended by carol');
    expect((await cli('status', 'sup-b')).stdout).toMatch(/automatic runbooks SUSPENDED by carol .*: network work in eu-west-1/);

    await kill('sup-b');
    await until(async () => (await health('sup-b')).decisions.some((d) => d.held?.includes('suspended by carol')), 15_000, 'held decision recorded');
    expect(await routed('sup-b')).toBe('redis-a');
    expect(await running(runbookWorkflowId('sup-b'))).toBe(false);

    const resumed = await cli('resume', 'sup-b', '--by', 'carol', '--reason', 'done');
    expect(resumed.code).toBe(0);
    await until(async () => (await routed('sup-b')) === 'redis-b', 30_000, 'held failover done after resume');
  });

  it('the fleet cap holds what goes beyond it in the window, records it with an alert event, and lets it go when the window ends', async () => {
    const capped = await cli(
      'config',
      'apply',
      write(
        path.join(dir, 'cap.yaml'),
        doc({ policy: { failover_detection: { ...policy.failover_detection, failure_threshold: 2 }, brakes: { max_automatic_runbooks: 1, window: '8s' } } }),
      ),
      '--reason',
      'cap 1 per 8s',
    );
    expect(capped.code, capped.stderr).toBe(0);
    await until(async () => (await health('sup-c1')).configVersion === 5 && (await health('sup-c2')).configVersion === 5, 15_000, 'detection on version 5');
    await new Promise((r) => setTimeout(r, 8_000)); // earlier failovers leave the window
    await Promise.all([kill('sup-c1'), kill('sup-c2')]);
    const heldAlert = () => hookBodies.find((b) => b.alert === 'FailoverAutomaticRunbookHeld');
    await until(() => !!heldAlert(), 20_000, 'held alert event');
    const held = heldAlert()!;
    expect(held.heldBecause).toMatch(/fleet cap: 1 automatic runbooks in the last 8s \(max 1/);
    const heldService = String(held.service);
    const other = heldService === 'sup-c1' ? 'sup-c2' : 'sup-c1';
    await until(async () => (await routed(other)) === 'redis-b', 30_000, `${other} failed over (the one admitted)`);
    expect((await health(heldService)).decisions.some((d) => d.held?.startsWith('fleet cap'))).toBe(true);
    expect((await supervision()).events.some((e) => e.kind === 'held' && e.detail.includes(heldService))).toBe(true);
    // Never dropped: when the window ends it is decided again and goes ahead.
    await until(async () => (await routed(heldService)) === 'redis-b', 30_000, 'held failover after the window');
  });

  it('a second worker with another file joins the task queue without a fight: one supervisor, the live config unchanged', async () => {
    const before = await client.workflow.getHandle(supervisorWorkflowId(taskQueue)).describe();
    const version = (await supervision()).version;
    const other = write(path.join(dir, 'other.yaml'), doc({ policy: { failover_detection: { ...policy.failover_detection, failure_threshold: 7 } } }));
    const second = await runEntry(
      'src/worker.ts',
      { FAILOVER_CONFIG: other, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: taskQueue },
      (out, child) => {
        if (/"msg":"worker started"/.test(out) && !child.killed) child.kill('SIGTERM');
      },
    );
    expect(second.code).toBe(0);
    expect(second.out).toMatch(/config file differs from live config version \d+; the live version is used/);
    expect(second.out).toContain('failover_detection.failure_threshold');
    const after = await client.workflow.getHandle(supervisorWorkflowId(taskQueue)).describe();
    expect(after.runId).toBe(before.runId);
    expect((await supervision()).version).toBe(version);
    const detections: string[] = [];
    for await (const w of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running' AND WorkflowType = 'detection'` }))
      detections.push(w.workflowId);
    expect(detections.sort()).toEqual(
      names
        .filter((n) => n !== 'sup-e')
        .map(detectionWorkflowId)
        .sort(),
    );
  });

  it('a runbook waiting for approval pages a person through the real Alertmanager, with the commands to answer it', async () => {
    const gated = await cli(
      'config',
      'apply',
      write(
        path.join(dir, 'approval.yaml'),
        doc({ policy: { failover_execution: { ...policy.failover_execution, approval: { required: true, timeout: '2m' } } } }),
      ),
      '--reason',
      'approval for everything',
    );
    expect(gated.code, gated.stderr).toBe(0);
    const started = await cli('start', 'switchover', 'sup-d', '--to', 'redis-b', '--by', 'dave');
    expect(started.code, started.stderr).toBe(0);
    type AmAlert = { labels: Record<string, string>; annotations: Record<string, string>; status: { state: string } };
    const waiting = async () =>
      ((await (await fetch(`${am.url}/api/v2/alerts?filter=alertname%3D%22FailoverApprovalRequired%22`)).json()) as AmAlert[]).filter(
        (a) => a.labels.service === 'sup-d',
      );
    await until(async () => (await waiting()).some((a) => a.status.state === 'active'), 20_000, 'approval alert in Alertmanager');
    const alert = (await waiting())[0]!;
    expect(alert.labels).toMatchObject({ alertname: 'FailoverApprovalRequired', severity: 'critical', service: 'sup-d', destination: 'redis-b' });
    expect(alert.annotations.approve).toBe('npm run -s cli -- approve sup-d --by <your name>');
    expect(alert.annotations.abort).toContain('abort sup-d');
    expect(alert.annotations.summary).toMatch(/failover of sup-d \(redis-a → redis-b\) waits for approval: policy requires approval/);

    const approved = await cli('approve', 'sup-d', '--by', 'erin');
    expect(approved.code, approved.stderr).toBe(0);
    await until(async () => (await routed('sup-d')) === 'redis-b', 30_000, 'approved switchover done');
    await until(async () => (await waiting()).every((a) => a.status.state !== 'active'), 20_000, 'approval alert resolved');
  });
});
