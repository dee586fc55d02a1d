import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { routerFor } from '../../src/drivers';
import { freePort } from '../../dev/devserver/free-port';
import { validateConfig, type Config } from '../../src/domain/config';
import { primaryOf } from '../../src/domain/routing';
import { detectionWorkflowId, runbookWorkflowId } from '../../src/domain/workflow-ids';
import type { DetectionStatus } from '../../src/api/status';
import type { FailoverResult } from '../../src/workflows/failover';
import { startRedisService, withPolicy, type RedisServiceFixture } from '../support/redis-service';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { statusUntil, until } from '../support/wait';
import { runCliProcess, spawnCliProcess, type CliRun } from '../support/cli-process';
import { healthQuery } from '../../src/api/queries';

const SERVICE = 'cli-bus';

type Run = CliRun;
const runCli = runCliProcess;

describe('failover CLI against a real worker, Redis and HAProxy', () => {
  let fx: RedisServiceFixture;
  let config: Config;
  let t: TemporalHarness;
  let configFile: string;

  /** The worker and the CLI read the same config: the worker from memory, the CLI from the YAML file. */
  const useConfig = (c: Config) => {
    config = c;
    fs.writeFileSync(configFile, YAML.stringify(c));
  };
  const cli = (...args: string[]) => runCli(['--config', configFile, '--task-queue', t.taskQueue, ...args]);
  const json = <T>(r: Run): T => JSON.parse(r.stdout) as T;
  const routingNow = async () => (await routerFor(fx.service).read()).routing;
  const runbook = () => t.client.workflow.getHandle(runbookWorkflowId(SERVICE));

  beforeAll(async () => {
    fx = await startRedisService(SERVICE, { failover_execution: { consistency_check: { timeout: '10s' } } });
    configFile = path.join(fx.dir, 'failover.yaml');
    useConfig(fx.config);
    t = await temporalHarness(() => config);
  });
  afterEach(async () => {
    // A failed test must not leave its runbook holding the service for the next one.
    const running = await runbook()
      .describe()
      .then(
        (d) => d.status.name === 'RUNNING',
        () => false,
      );
    if (running) await runbook().terminate('test cleanup');
    useConfig(fx.config);
  });
  afterAll(async () => {
    await t?.close();
    await fx?.stop();
  });

  it('services: destinations, live routing and an idle runbook, as text and as JSON', async () => {
    const text = await cli('services');
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(SERVICE);
    expect(text.stdout).toMatch(/redis-a\s+z1\s+r1\s+0\s+100\s+100\s+ready/);
    expect(text.stdout).toMatch(/redis-b\s+z2\s+r1\s+0\s+100\s+0\s+maint/);
    expect(text.stdout).toContain('traffic on redis-a');
    expect(text.stdout).toMatch(/runbook\s+idle/);

    const doc = await cli('services', '--json');
    expect(doc.code).toBe(0);
    const [svc] = json<{
      services: {
        name: string;
        destinations: { id: string; zone: string }[];
        routing: { generation: number; weights: Record<string, number>; primary: string };
        runbook: unknown;
      }[];
    }>(doc).services;
    expect(svc!.name).toBe(SERVICE);
    expect(svc!.destinations.map((d) => [d.id, d.zone])).toEqual([
      ['redis-a', 'z1'],
      ['redis-b', 'z2'],
    ]);
    const live = await routingNow();
    expect(svc!.routing).toMatchObject({ generation: live.generation, weights: live.weights, primary: 'redis-a' });
    expect(svc!.runbook).toBeNull();
  });

  it('schedule maintenance: create (bad input named), list, pause, unpause, delete', async () => {
    const bad = await cli('schedule', 'maintenance', 'create', SERVICE, 'redis-b', '--window', '30m', '--cron', '61 * * * *');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/cron/);
    const unknown = await cli('schedule', 'maintenance', 'create', SERVICE, 'redis-z', '--window', '30m', '--every', '6h');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/redis-z/);

    const created = await cli(
      'schedule',
      'maintenance',
      'create',
      SERVICE,
      'redis-b',
      '--window',
      '30m',
      '--cron',
      '0 3 * * SUN',
      '--time-zone',
      'Europe/Berlin',
      '--paused',
      '--note',
      'CHG-7',
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(`created maintenance:${SERVICE}:redis-b`);
    const again = await cli('schedule', 'maintenance', 'create', SERVICE, 'redis-b', '--window', '30m', '--every', '6h');
    expect(again.code).toBe(1);
    let listed: { scheduleId: string; paused: boolean; note?: string }[] = [];
    for (let i = 0; i < 50 && listed.length === 0; i++) {
      listed = json<typeof listed>(await cli('schedule', 'maintenance', 'list', '--service', SERVICE, '--json'));
      if (listed.length === 0) await new Promise((r) => setTimeout(r, 200)); // schedule listing is eventually consistent
    }
    expect(listed).toMatchObject([{ scheduleId: `maintenance:${SERVICE}:redis-b`, paused: true, note: 'CHG-7' }]);
    expect((await cli('schedule', 'maintenance', 'unpause', SERVICE, 'redis-b')).code).toBe(0);
    expect((await cli('schedule', 'maintenance', 'pause', SERVICE, 'redis-b')).code).toBe(0);
    expect((await cli('schedule', 'maintenance', 'delete', SERVICE, 'redis-b')).code).toBe(0);
    const gone = await cli('schedule', 'maintenance', 'delete', SERVICE, 'redis-b');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no maintenance schedule/);
  });

  it('simulate: prints the decisions over a scripted scenario; a bad scenario names the field', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scenario-'));
    const good = path.join(dir, 'good.yaml');
    fs.writeFileSync(good, '- { at: 10s, destination: redis-a, event: down }\n- { at: 30s, destination: redis-a, event: up }\n');
    const run = await cli('simulate', SERVICE, good);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/1 failover\(s\)/);
    expect(run.stdout).toMatch(/failover\s+redis-a → redis-b/);
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, '- { at: soon, destination: redis-a, event: down }\n');
    const refused = await cli('simulate', SERVICE, bad);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('scenario.events[0].at: expected a duration');
  });

  it('plan: prints the steps a failover would take from live probes, and changes nothing', async () => {
    const before = await routingNow();
    const text = await cli('plan', SERVICE);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/probes: redis-a up .*primary.*, redis-b up .*replica/);
    expect(text.stdout).toContain(`plan for ${SERVICE} (active-passive): ok, redis-a → redis-b`);
    expect(text.stdout).toContain('dry run: nothing was changed');

    const doc = await cli('plan', SERVICE, '--to', 'redis-b', '--json');
    expect(doc.code).toBe(0);
    const plan = json<{
      dryRun: boolean;
      plan: { verdict: string; source: string; target: string; steps: unknown[] };
      probes: Record<string, { up: boolean }>;
    }>(doc);
    expect(plan.dryRun).toBe(true);
    expect(plan.plan).toMatchObject({ verdict: 'ok', source: 'redis-a', target: 'redis-b' });
    expect(plan.plan.steps.length).toBeGreaterThan(0);
    expect(Object.values(plan.probes).every((p) => p.up)).toBe(true);
    // Same generation and weights: the dry run wrote nothing to the router.
    expect(await routingNow()).toEqual(before);
  });

  it('start switchover --wait: moves the routing and prints the result with RTO and RPO', async () => {
    const run = await cli('start', 'switchover', SERVICE, '--to', 'redis-b', '--reason', 'cli test', '--by', 'alice', '--wait');
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`waiting for its result`);
    expect(run.stdout).toContain(`switchover of ${SERVICE}: switched redis-a → redis-b`);
    expect(run.stdout).toMatch(/RTO\s+\d/);
    expect(run.stdout).toMatch(/RPO\s+0 \(/);
    expect(run.stdout).toContain('✔ promote');
    expect(primaryOf(await routingNow())).toBe('redis-b');
  });

  it('history: lists the service runbooks with type, status and RTO', async () => {
    let runs: { type: string; status: string; planned?: boolean; rtoMs?: number; trigger?: string; source?: string; target?: string }[] = [];
    await until(
      async () => {
        const doc = await cli('history', SERVICE, '--json');
        runs = doc.code === 0 ? json<{ runs: typeof runs }>(doc).runs : [];
        return runs.some((r) => r.status === 'COMPLETED');
      },
      30_000,
      'a completed run in history',
    );
    const done = runs.find((r) => r.status === 'COMPLETED')!;
    expect(done).toMatchObject({ type: 'failover', planned: true, trigger: 'manual', source: 'redis-a', target: 'redis-b' });
    expect(done.rtoMs).toBeGreaterThan(0);

    const text = await cli('history', SERVICE, '--limit', '5');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/STARTED\s+CLOSED\s+KIND\s+TRIGGER\s+STATUS\s+OUTCOME\s+RTO\s+RPO/);
    expect(text.stdout).toMatch(/switchover\s+manual\s+completed\s+switched redis-a → redis-b\s+\d[\d.]*m?s\s+0/);
  });

  it('approval gate: status shows it, a second start is refused as busy (3), a bad control is rejected (1), approve lets it go on', async () => {
    useConfig(withPolicy(fx, { failover_execution: { approval: { required: true, timeout: '2m', default_action: 'abort' } } }));
    const from = primaryOf(await routingNow())!;
    const to = from === 'redis-a' ? 'redis-b' : 'redis-a';
    const started = await cli('start', 'failover', SERVICE, '--reason', 'approval via cli', '--json');
    expect(started.code).toBe(0);
    const ids = json<{ workflowId: string; runId: string; kind: string }>(started);
    expect(ids).toMatchObject({ workflowId: runbookWorkflowId(SERVICE), kind: 'failover' });
    const handle = t.client.workflow.getHandle(ids.workflowId, ids.runId) as WorkflowHandle;
    await statusUntil(handle, (s) => s.phase === 'awaiting-approval');

    const status = await cli('status', SERVICE);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/runbook\s+failover: phase awaiting-approval, step approval/);
    expect(status.stdout).toContain(`${from} → ${to}`);
    expect(status.stdout).toContain('awaiting approval since');
    expect(status.stdout).toContain('policy requires approval');
    // The commands it prints repeat the global options it was given, so they work when pasted.
    expect(status.stdout).toContain(`approve: failover --config ${configFile} --task-queue ${t.taskQueue} approve ${SERVICE}`);
    const statusDoc = json<{ runbook: { runId: string; status: { phase: string; controls: { awaitingApproval?: { reason: string } } } } }>(
      await cli('status', SERVICE, '--json'),
    );
    expect(statusDoc.runbook.runId).toBe(ids.runId);
    expect(statusDoc.runbook.status.controls.awaitingApproval?.reason).toBe('policy requires approval');

    const busy = await cli('start', 'switchover', SERVICE);
    expect(busy.code).toBe(3);
    expect(busy.stderr).toContain(`already has a running runbook: failover ${runbookWorkflowId(SERVICE)} (run ${ids.runId}`);
    expect(busy.stderr).toContain(`  see it: failover --config ${configFile} --task-queue ${t.taskQueue} status ${SERVICE}`);
    const busyDoc = json<{ error: { code: string; exitCode: number; running: { runId: string; type: string } } }>(
      await cli('start', 'failover', SERVICE, '--json'),
    );
    expect(busyDoc.error).toMatchObject({ code: 'service-busy', exitCode: 3, running: { runId: ids.runId, type: 'failover' } });

    const resume = await cli('resume', SERVICE);
    expect(resume.code).toBe(1);
    expect(resume.stderr).toContain('resume rejected by the running failover of cli-bus: not paused (phase: awaiting-approval)');
    expect(primaryOf(await routingNow())).toBe(from);

    const approve = await cli('approve', SERVICE, '--by', 'bob', '--reason', 'change 42');
    expect(approve.stderr).toBe('');
    expect(approve.code).toBe(0);
    expect(approve.stdout.trim()).toBe(`failover of ${SERVICE}: approved by bob`);
    const result = (await handle.result()) as FailoverResult;
    expect(result.approval).toMatchObject({ by: 'bob', reason: 'change 42', outcome: 'approved' });
    expect(primaryOf(await routingNow())).toBe(to);
  });

  it('status --watch follows a runbook live: the approval wait with its commands, a pause and its end, each step, then exits with the outcome', async () => {
    useConfig(withPolicy(fx, { failover_execution: { approval: { required: true, timeout: '2m', default_action: 'abort' } } }));
    const from = primaryOf(await routingNow())!;
    const to = from === 'redis-a' ? 'redis-b' : 'redis-a';
    const watch = spawnCliProcess(['--config', configFile, '--task-queue', t.taskQueue, 'status', SERVICE, '--watch']);
    await watch.waitFor('no runbook running');
    expect((await cli('start', 'switchover', SERVICE, '--reason', 'watch test')).code).toBe(0);
    // Printed while the runbook waits, not after it ended.
    // The printed commands repeat how the CLI was run.
    const cliRun = `failover --config ${configFile} --task-queue ${t.taskQueue}`;
    await watch.waitFor(`approve: ${cliRun} approve ${SERVICE} --by <your name>`);
    expect(watch.stdout).toMatch(/following switchover of cli-bus: runbook-cli-bus run [0-9a-f-]+ \(trigger manual\)/);
    expect(watch.stdout).toMatch(/⏸ waiting for approval since \S+Z: policy requires approval \(after 2m: abort\)/);
    expect(watch.stdout).toContain(`✔ plan — ${from} → ${to} (planned) (single writer)`);
    expect((await cli('pause', SERVICE, '--by', 'carol')).code).toBe(0);
    await watch.waitFor(`⏸ paused by carol: holds before its next step; resume: ${cliRun} resume ${SERVICE}`);
    expect((await cli('approve', SERVICE, '--by', 'bob')).code).toBe(0);
    await watch.waitFor('✔ approval — approved by bob');
    expect(primaryOf(await routingNow())).toBe(from); // paused: nothing moved yet
    expect((await cli('resume', SERVICE, '--by', 'carol')).code).toBe(0);
    const ended = await watch.done;
    expect(ended.code).toBe(0);
    expect(ended.stdout).toContain('▶ resumed');
    expect(ended.stdout).toMatch(/✔ catch up — .*\[.*lag=0/);
    expect(ended.stdout).toContain(`✔ switch routing`);
    expect(ended.stdout).toContain(`switchover of ${SERVICE}: switched ${from} → ${to}`);
    // Each step once: its end, not a second copy from the summary.
    expect(ended.stdout.match(/✔ switch routing/g)).toHaveLength(1);
    expect(primaryOf(await routingNow())).toBe(to);
    // The tests after this one expect the traffic where it was.
    useConfig(withPolicy(fx, {}));
    expect((await cli('start', 'switchover', SERVICE, '--to', from, '--wait')).code).toBe(0);
  });

  it('controls on an idle service exit 1 with the reason', async () => {
    const pause = await cli('pause', SERVICE, '--by', 'alice');
    expect(pause.code).toBe(1);
    expect(pause.stderr).toContain(`cannot pause: no runbook is running for ${SERVICE} (last: failover completed)`);
    const doc = json<{ error: { code: string; exitCode: number } }>(await cli('abort', SERVICE, '--json'));
    expect(doc.error).toMatchObject({ code: 'not-running', exitCode: 1 });
  });

  it('start --wait of a runbook that refuses exits 1 with its failure type and message', async () => {
    const primary = primaryOf(await routingNow())!;
    const before = await routingNow();
    const run = await cli('start', 'failover', SERVICE, '--to', primary, '--wait', '--json');
    expect(run.code).toBe(1);
    const doc = json<{ status: string; failure: { type: string; message: string } }>(run);
    expect(doc.status).toBe('failed');
    expect(doc.failure.type).toBe('InvalidInput');
    expect(doc.failure.message).toContain(`input.to: "${primary}" already carries the traffic of ${SERVICE}`);
    expect(await routingNow()).toEqual(before);
  });

  it('status: detection health from the running detection workflow, runbook idle', async () => {
    const detection = await t.client.workflow.start('detection', {
      taskQueue: t.taskQueue,
      workflowId: detectionWorkflowId(SERVICE),
      args: [{ service: SERVICE }],
    });
    try {
      await until(async () => (await detection.query(healthQuery).catch(() => undefined))?.watching === true, 30_000, 'detection watching');
      const text = await cli('status', SERVICE);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/detection\s+running, watching; traffic on redis-/);
      expect(text.stdout).toMatch(/redis-a\s+up\s+primary\s+1\b/);
      expect(text.stdout).toMatch(/redis-b\s+up\s+in-sync\s+1\b/);
      expect(text.stdout).toMatch(/runbook\s+idle \(last: failover (completed|failed) at /);
      const doc = json<{ detection: { health: DetectionStatus }; runbook: unknown }>(await cli('status', SERVICE, '--json'));
      expect(Object.keys(doc.detection.health.health).sort()).toEqual(['redis-a', 'redis-b']);
      expect(doc.runbook).toBeNull();
    } finally {
      await detection.terminate('test done');
    }
  });

  it('bad arguments exit 2 and name the argument and value; --help documents the exit codes', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes:\n  0  ok\n  1 .*\n  2 .*\n  3  service busy.*\n  4  cannot reach Temporal/);

    const unknownService = await cli('status', 'no-such-bus');
    expect(unknownService.code).toBe(2);
    expect(unknownService.stderr).toContain(`<service>: no service "no-such-bus" in ${configFile} (has ${SERVICE})`);

    const unknownCommand = await cli('frobnicate', SERVICE);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain("unknown command 'frobnicate'");

    const badLimit = await cli('history', SERVICE, '--limit', 'ten');
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain('--limit: expected a whole number from 1 to 1000 (got "ten")');

    const badTarget = await cli('start', 'failover', SERVICE, '--to', 'redis-z');
    expect(badTarget.code).toBe(2);
    expect(badTarget.stderr).toContain('--to: no destination "redis-z" in service cli-bus (has redis-a, redis-b)');

    const missing = await cli('start', 'recovery', SERVICE);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("required option '--destination <destination>' not specified");

    const tooLong = await cli('start', 'failover', SERVICE, '--reason', 'x'.repeat(501));
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toMatch(/--reason: .*500/);
    // None of these started anything.
    expect(
      await runbook()
        .describe()
        .then((d) => d.status.name),
    ).not.toBe('RUNNING');
  });

  it('unreachable router or Temporal exits 4', async () => {
    const deadPort = await freePort();
    const ghost = validateConfig({
      services: [
        {
          name: 'ghost-bus',
          router: { type: 'haproxy', address: `127.0.0.1:${deadPort}`, backend: 'ghost' },
          destinations: [{ id: 'g1', zone: 'z1', region: 'r1', probe: { type: 'tcp', host: '127.0.0.1', port: deadPort } }],
        },
      ],
    });
    const ghostFile = path.join(fx.dir, 'ghost.yaml');
    fs.writeFileSync(ghostFile, YAML.stringify(ghost));
    const plan = await runCli(['--config', ghostFile, 'plan', 'ghost-bus']);
    expect(plan.code).toBe(4);
    expect(plan.stderr).toContain('cannot read the routing of ghost-bus (haproxy)');

    const status = await runCli(['--config', configFile, 'status', SERVICE], { TEMPORAL_ADDRESS: `127.0.0.1:${deadPort}` });
    expect(status.code).toBe(4);
    expect(status.stderr).toContain(`cannot reach Temporal at 127.0.0.1:${deadPort}`);
  });
});
