import type { WorkflowHandleWithFirstExecutionRunId as WorkflowHandle } from '@temporalio/client';
import fs from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import YAML from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { routerFor } from '../../src/drivers';
import { replicationInfo, withRedis } from '../../src/drivers/redis-connection';
import { startMutatingRunbook } from '../../src/client/start-runbook';
import { validateConfig, type Config } from '../../src/domain/config';
import { primaryOf } from '../../src/domain/routing';
import { triggerKey } from '../../src/domain/search-attributes';
import { InvalidInputError } from '../../src/domain/validation';
import { auditSequencedWrites, startSequencedWriter } from '../../dev/harness/redis-sequenced-writer';
import {
  createMaintenanceSchedule,
  deleteSchedule,
  listSchedules,
  maintenanceScheduleId,
  NoSuchScheduleError,
  pauseSchedule,
  syncSchedulesFromConfig,
  triggerNow,
  unpauseSchedule,
} from '../../src/triggers/schedules';
import type { MaintenanceResult, MaintenanceSkipped } from '../../src/workflows/maintenance';
import { runCliProcess } from '../support/cli-process';
import { replayThenCleanUp } from '../support/histories';
import { startRedisService, withPolicy, type RedisServiceFixture } from '../support/redis-service';
import { failureOf } from '../support/runbooks';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { statusUntil, until } from '../support/wait';
import { abortUpdate, approveUpdate } from '../../src/workflows/controls';

type MaintenanceStatus = Awaited<ReturnType<typeof statusUntil>> & { maintenance?: { stage: string; mode?: string } };
const roleOf = (port: number) =>
  withRedis({ host: '127.0.0.1', port }, 500, replicationInfo).then(
    (i) => i.role,
    () => 'down' as const,
  );

/** Starts a maintenance under the service's lock id, as the CLI and detection do. */
async function startMaintenance(t: TemporalHarness, service: string, input: Record<string, unknown>, ran: string[]): Promise<WorkflowHandle> {
  const h = await startMutatingRunbook(t.client, { taskQueue: t.taskQueue, type: 'maintenance', service, input });
  ran.push(h.workflowId);
  return h;
}

async function cleanUp(t: TemporalHarness, service: string, destinations: string[]): Promise<void> {
  for (const d of destinations) await deleteSchedule(t.client, { service, destination: d }).catch((e) => expect(e).toBeInstanceOf(NoSuchScheduleError));
  const h = t.client.workflow.getHandle(`runbook-${service}`);
  if (
    await h.describe().then(
      (d) => d.status.name === 'RUNNING',
      () => false,
    )
  )
    await h.terminate('test cleanup');
}

describe('maintenance runbook on a single-writer service (Redis primary/replica behind HAProxy)', () => {
  const SERVICE = 'maint-bus';
  let fx: RedisServiceFixture;
  let config: Config;
  let t: TemporalHarness;
  const ran: string[] = [];
  const port = (id: string) => fx.topology.redis[id]!.port;
  const primaryNow = async () => primaryOf((await routerFor(fx.service).read()).routing)!;
  const otherThan = (id: string) => (id === 'redis-a' ? 'redis-b' : 'redis-a');

  beforeAll(async () => {
    fx = await startRedisService(SERVICE, { failover_execution: { consistency_check: { timeout: '10s' } }, recovery_management: { validation_intervals: 3 } });
    config = fx.config;
    t = await temporalHarness(() => config);
  });
  afterEach(async () => {
    await cleanUp(t, SERVICE, ['redis-a', 'redis-b']);
    config = fx.config;
  });
  afterAll(async () => {
    await replayThenCleanUp(t, ran, 'maintenance', () => fx?.stop());
  });

  it('drains the primary by a zero-loss switchover after approval (redundancy would drop below its level), holds the window, fails back', async () => {
    const original = await primaryNow();
    const other = otherThan(original);
    const routingBefore = (await routerFor(fx.service).read()).routing;
    const writer = startSequencedWriter({ host: '127.0.0.1', port: fx.topology.haproxy.frontendPort, prefix: 'mw', maxDurationMs: 90_000 });
    await until(() => writer.ackedCount > 100);

    const h = await startMaintenance(t, SERVICE, { destination: original, window: '2s', actor: 'test', reason: 'kernel patch' }, ran);
    const waiting = await statusUntil(h, (s) => s.phase === 'awaiting-approval');
    expect(waiting.controls.awaitingApproval!.reason).toMatch(/redundancy: backups: 1 → 0, redundancy_level 1/);
    expect((await routerFor(fx.service).read()).routing).toEqual(routingBefore);
    expect(await h.executeUpdate(approveUpdate, { args: [{ by: 'alice', reason: 'CHG-1' }] })).toBe('approved by alice');

    const held = (await statusUntil(h, (s) => s.phase === 'holding')) as MaintenanceStatus;
    expect(held.maintenance).toMatchObject({ stage: 'hold', mode: 'switchover' });
    expect(held.routingCurrent!.weights[original]).toBe(0);
    expect(held.routingCurrent!.weights[other]).toBeGreaterThan(0);
    expect(await roleOf(port(original))).toBe('slave');
    expect(await roleOf(port(other))).toBe('master');

    const result = (await h.result()) as MaintenanceResult;
    const n = writer.ackedCount;
    await until(() => writer.ackedCount > n + 100);
    const report = await writer.stop();

    expect(result).toMatchObject({
      outcome: 'restored',
      destination: original,
      window: '2s',
      restore: 'failed-back',
      drain: { mode: 'switchover', movedTo: other, rpo: { lag: 0 } },
    });
    expect(result.approval).toMatchObject({ by: 'alice', outcome: 'approved' });
    expect(result.redundancy.allowed).toBe(false);
    expect(result.routingDrained.weights[original]).toBe(0);
    expect(result.routingAfter.weights).toEqual(routingBefore.weights);
    expect(result.hold.endedEarly).toBeUndefined();
    expect(result.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        'redundancy check',
        'approval',
        'consistency gate',
        'fence source',
        'catch up',
        'promote target',
        'switch routing',
        'demote source',
        'maintenance window',
        'health validation',
        'resync',
        'lag gate',
        'maintenance complete',
      ]),
    );
    expect(await primaryNow()).toBe(original);
    expect(await roleOf(port(original))).toBe('master');
    expect(await roleOf(port(other))).toBe('slave');
    // Both switchovers were fenced and caught up: every acknowledged write is on the primary.
    const audit = await auditSequencedWrites({ host: '127.0.0.1', port: port(original), prefix: 'mw' }, report.acked);
    expect(audit.missing).toEqual([]);
    console.log(`maintenance (single writer): ${report.acked.length} acked writes, 0 lost, longest gap ${report.longestGapMs}ms`);
  });

  it('abort during the window ends it early and still brings the destination back; no approval when redundancy allows the drain', async () => {
    config = withPolicy(fx, { redundancy_management: { redundancy_level: 0 } });
    const original = await primaryNow();
    const h = await startMaintenance(t, SERVICE, { destination: original, window: '10m' }, ran);
    await statusUntil(h, (s) => s.phase === 'holding');
    expect(await h.executeUpdate(abortUpdate, { args: [{ by: 'dana', reason: 'done early' }] })).toMatch(/abort requested by dana/);
    const result = (await h.result()) as MaintenanceResult;
    expect(result.hold.endedEarly).toEqual({ by: 'dana', reason: 'done early' });
    expect(result.restore).toBe('failed-back');
    expect(result.redundancy.allowed).toBe(true);
    expect(result.steps.map((s) => s.name)).not.toContain('approval');
    expect(await primaryNow()).toBe(original);
  });

  it('a standby carrying no traffic is held out and comes back as a resynced standby; started under any id, it takes the service lock', async () => {
    config = withPolicy(fx, { redundancy_management: { redundancy_level: 0 } });
    const primary = await primaryNow();
    const standby = otherThan(primary);
    const before = (await routerFor(fx.service).read()).routing;
    // As from the Web UI's Start Workflow form, with an id of the operator's choosing.
    const byHand = await t.client.workflow.start('maintenance', {
      taskQueue: t.taskQueue,
      workflowId: `maintenance-by-hand-${Date.now()}`,
      args: [{ service: SERVICE, destination: standby, window: '1s' }],
    });
    ran.push(byHand.workflowId, `runbook-${SERVICE}`);
    const result = (await byHand.result()) as MaintenanceResult;
    const lock = await t.client.workflow.getHandle(`runbook-${SERVICE}`).describe();
    expect(lock.type).toBe('maintenance');
    expect(lock.parentExecution?.workflowId).toBe(byHand.workflowId);
    expect(result).toMatchObject({ outcome: 'restored', restore: 'standby-restored', drain: { mode: 'idle' } });
    expect(result.steps.map((s) => s.name)).not.toContain('switch routing');
    expect(result.steps.map((s) => s.name)).toEqual(expect.arrayContaining(['resync', 'lag gate']));
    expect((await routerFor(fx.service).read()).routing).toEqual(before);
    expect(await roleOf(port(standby))).toBe('slave');
  });

  it('bad runbook input names the field', async () => {
    const f = await failureOf((await startMaintenance(t, SERVICE, { destination: 'redis-z', window: '1s' }, ran)).result());
    expect(f.message).toMatch(/input\.destination: no destination "redis-z"/);
    const g = await failureOf((await startMaintenance(t, SERVICE, { destination: 'redis-a', window: 'soon' }, ran)).result());
    expect(g.message).toMatch(/input\.window: expected a duration/);
  });

  it('a schedule fires on its interval; the run takes the service lock, drains, holds and restores', async () => {
    config = withPolicy(fx, { redundancy_management: { redundancy_level: 0 } });
    const original = await primaryNow();
    const { scheduleId, handle } = await createMaintenanceSchedule(
      t.client,
      { service: SERVICE, destination: original, window: '1s', every: '5s', taskQueue: t.taskQueue },
      { config },
    );
    expect(scheduleId).toBe(maintenanceScheduleId(SERVICE, original));
    let fired: { workflowId: string; firstExecutionRunId: string } | undefined;
    await until(
      async () => {
        fired = (await handle.describe()).info.recentActions[0]?.action.workflow;
        return !!fired;
      },
      20_000,
      'the schedule to fire',
    );
    // One run is enough; no further one may start while this test looks at it.
    await pauseSchedule(t.client, { service: SERVICE, destination: original, note: 'test: one run seen' });
    ran.push(fired!.workflowId);
    expect(fired!.workflowId.startsWith(`runbook-${SERVICE}`)).toBe(true);
    const result = (await t.client.workflow.getHandle(fired!.workflowId, fired!.firstExecutionRunId).result()) as MaintenanceResult;
    expect(result).toMatchObject({ outcome: 'restored', destination: original, restore: 'failed-back', drain: { mode: 'switchover' } });
    // The drain ran under the service's lock id, labelled as started by the schedule.
    const lock = await t.client.workflow.getHandle(`runbook-${SERVICE}`).describe();
    expect(lock.type).toBe('maintenance');
    expect(lock.typedSearchAttributes.get(triggerKey)).toBe('schedule');
    // Its history names the id it ran under, so it replays under that id (child ids derive from it).
    const started = (await t.client.workflow.getHandle(`runbook-${SERVICE}`).fetchHistory()).events![0]!.workflowExecutionStartedEventAttributes as {
      workflowId?: string;
      parentWorkflowExecution?: { workflowId?: string | null } | null;
    };
    expect(started.workflowId).toBe(`runbook-${SERVICE}`);
    expect(started.parentWorkflowExecution?.workflowId).toBe(fired!.workflowId);
    ran.push(`runbook-${SERVICE}`);
    expect(await primaryNow()).toBe(original);
    console.log(`scheduled maintenance: the schedule started ${fired!.workflowId}, which ran the drain as ${lock.workflowId}`);
    // `history` shows it once: the run under the lock id, not also the schedule's starter.
    const configFile = path.join(fx.dir, 'maint.yaml');
    fs.writeFileSync(configFile, YAML.stringify(config));
    let runs: { workflowId: string; runId: string; type: string; trigger?: string }[] = [];
    await until(
      async () => {
        const r = await runCliProcess(['--config', configFile, '--task-queue', t.taskQueue, 'history', SERVICE, '--json']);
        runs = (JSON.parse(r.stdout) as { runs: typeof runs }).runs;
        return runs.some((x) => x.runId === lock.runId);
      },
      20_000,
      'the scheduled run in history',
    );
    expect(runs.filter((x) => x.type === 'maintenance' && x.trigger === 'schedule').map((x) => x.workflowId)).toEqual([`runbook-${SERVICE}`]);
    expect(runs.some((x) => x.workflowId === fired!.workflowId)).toBe(false);

    await deleteSchedule(t.client, { service: SERVICE, destination: original });
    await expect(handle.describe()).rejects.toThrow();
    await expect(pauseSchedule(t.client, { service: SERVICE, destination: original })).rejects.toBeInstanceOf(NoSuchScheduleError);
  });

  it('list / pause / unpause / trigger; a trigger while a run is going starts no second one; a run while another runbook holds the service is skipped', async () => {
    config = withPolicy(fx, { redundancy_management: { redundancy_level: 0 } });
    const original = await primaryNow();
    const ref = { service: SERVICE, destination: original };
    const { handle } = await createMaintenanceSchedule(t.client, {
      ...ref,
      window: '6s',
      cron: '0 3 * * SUN',
      timeZone: 'Europe/Berlin',
      taskQueue: t.taskQueue,
      paused: true,
      note: 'CHG-7',
    });
    // Listing goes through visibility, which lags: the schedule the last test deleted (same id) can
    // still show for a moment, and this one not yet.
    let listed: Awaited<ReturnType<typeof listSchedules>> = [];
    await until(
      async () => {
        listed = await listSchedules(t.client, { service: SERVICE });
        return listed.length === 1 && listed[0]!.scheduleId === maintenanceScheduleId(SERVICE, original) && listed[0]!.note === 'CHG-7';
      },
      20_000,
      'the schedule, alone, to be listed',
    );
    expect(listed[0]).toMatchObject({
      service: SERVICE,
      destination: original,
      window: '6s',
      when: 'cron "0 3 * * SUN"',
      timeZone: 'Europe/Berlin',
      paused: true,
      note: 'CHG-7',
    });
    expect(listed[0]!.nextActionTimes.length).toBeGreaterThan(0);
    expect((await handle.describe()).policies.overlap).toBe('SKIP');

    await unpauseSchedule(t.client, ref);
    expect((await handle.describe()).state.paused).toBe(false);
    await pauseSchedule(t.client, { ...ref, note: 'change freeze' });
    expect((await handle.describe()).state).toMatchObject({ paused: true, note: 'change freeze' });

    // A manual trigger runs even while paused; a second one during the run is skipped.
    await triggerNow(t.client, ref);
    await until(async () => (await handle.describe()).info.recentActions.length === 1, 20_000, 'the triggered run');
    const first = (await handle.describe()).info.recentActions[0]!.action.workflow;
    ran.push(first.workflowId);
    const lock = t.client.workflow.getHandle(`runbook-${SERVICE}`);
    await statusUntil(lock, (s) => s.phase === 'holding');
    await triggerNow(t.client, ref);
    await until(async () => (await handle.describe()).info.numActionsSkippedOverlap >= 1, 20_000, 'the overlapping trigger to be skipped');
    expect((await handle.describe()).info.recentActions).toHaveLength(1);
    const done = (await t.client.workflow.getHandle(first.workflowId, first.firstExecutionRunId).result()) as MaintenanceResult;
    expect(done.outcome).toBe('restored');

    // Another runbook holds the service: the scheduled run changes nothing and says who holds it.
    const routing = (await routerFor(fx.service).read()).routing;
    config = withPolicy(fx, { redundancy_management: { redundancy_level: 0 }, failover_execution: { approval: { required: true, timeout: '1m' } } });
    const failover = await startMutatingRunbook(t.client, { taskQueue: t.taskQueue, type: 'failover', service: SERVICE, input: { planned: true } });
    ran.push(failover.workflowId);
    await statusUntil(failover, (s) => s.phase === 'awaiting-approval');
    await triggerNow(t.client, ref);
    await until(async () => (await handle.describe()).info.recentActions.length === 2, 20_000, 'the second triggered run');
    const second = (await handle.describe()).info.recentActions[1]!.action.workflow;
    const skipped = (await t.client.workflow.getHandle(second.workflowId, second.firstExecutionRunId).result()) as MaintenanceSkipped;
    expect(skipped).toMatchObject({ outcome: 'skipped', heldBy: `runbook-${SERVICE}` });
    expect(skipped.reason).toMatch(/already has a running runbook/);
    expect((await routerFor(fx.service).read()).routing).toEqual(routing);
    expect((await failover.describe()).status.name).toBe('RUNNING');
    await failover.executeUpdate(abortUpdate, { args: [{ by: 'test' }] });
    expect((await failureOf(failover.result())).type).toBe('Aborted');

    await deleteSchedule(t.client, ref);
    await until(
      async () => !(await listSchedules(t.client, { service: SERVICE })).some((s) => s.destination === original),
      20_000,
      'the schedule to leave the list',
    );
  });

  it('syncs schedules from the config idempotently: creates, leaves alone, updates keeping an operator pause, deletes', async () => {
    const withMaintenance = (entries: Record<string, unknown>[]) => validateConfig({ ...fx.config, maintenance: entries });
    const entry = { service: SERVICE, destination: 'redis-b', window: '30m', cron: '0 3 1 1 *', time_zone: 'Europe/Berlin' };
    const id = maintenanceScheduleId(SERVICE, 'redis-b');
    const handle = t.client.schedule.getHandle(id);
    expect(await syncSchedulesFromConfig(t.client, withMaintenance([entry]), t.taskQueue)).toEqual({ created: [id], updated: [], unchanged: [], deleted: [] });
    expect(await syncSchedulesFromConfig(t.client, withMaintenance([entry]), t.taskQueue)).toEqual({ created: [], updated: [], unchanged: [id], deleted: [] });
    const described = await handle.describe();
    expect(described.spec.timezone).toBe('Europe/Berlin');
    expect(described.policies.overlap).toBe('SKIP');
    expect(described.state.paused).toBe(false);

    await pauseSchedule(t.client, { service: SERVICE, destination: 'redis-b', note: 'freeze' });
    expect((await syncSchedulesFromConfig(t.client, withMaintenance([{ ...entry, window: '45m' }]), t.taskQueue)).updated).toEqual([id]);
    const updated = await handle.describe();
    expect(updated.state.paused).toBe(true);
    expect(updated.action.args).toEqual([expect.objectContaining({ window: '45m', trigger: 'schedule' })]);
    expect((await syncSchedulesFromConfig(t.client, withMaintenance([{ ...entry, window: '45m', paused: false }]), t.taskQueue)).updated).toEqual([id]);
    expect((await handle.describe()).state.paused).toBe(false);

    // Removal goes through the (eventually consistent) schedule list: sync until it is gone.
    await until(
      async () => {
        await syncSchedulesFromConfig(t.client, withMaintenance([]), t.taskQueue);
        return handle.describe().then(
          () => false,
          () => true,
        );
      },
      30_000,
      'the schedule that left the config to be deleted',
    );
  });

  it('bad schedule input fails naming the field and creates nothing', async () => {
    const base = { service: SERVICE, destination: 'redis-a', window: '1h', taskQueue: t.taskQueue };
    const rejected = async (input: Record<string, unknown>, withConfig = false): Promise<string> => {
      const err = await createMaintenanceSchedule(t.client, { ...base, ...input } as never, withConfig ? { config } : {}).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InvalidInputError);
      return (err as Error).message;
    };
    expect(await rejected({ cron: '61 * * * *' })).toMatch(/cron: invalid cron expression: minute "61"/);
    expect(await rejected({ cron: '0 3 * *' })).toMatch(/cron: invalid cron expression: expected 5 fields/);
    expect(await rejected({ cron: '0 3 * * SUN', timeZone: 'Mars/Olympus' })).toMatch(/timeZone: expected an IANA time zone.*"Mars\/Olympus"/);
    expect(await rejected({ cron: '0 3 * * SUN', window: '0s' })).toMatch(/window: expected at least 1s/);
    expect(await rejected({ every: '5s', cron: '0 3 * * SUN' })).toMatch(/cron: expected exactly one of "cron", "calendar" or "every"/);
    expect(await rejected({ every: '1h', destination: 'redis-z' }, true)).toMatch(/destination: expected a destination of service maint-bus/);
    await expect(t.client.schedule.getHandle(maintenanceScheduleId(SERVICE, 'redis-a')).describe()).rejects.toThrow(/not found/i);
    await expect(t.client.schedule.getHandle(maintenanceScheduleId(SERVICE, 'redis-z')).describe()).rejects.toThrow(/not found/i);
  });
});

describe('maintenance runbook on independent destinations (two queues behind HAProxy)', () => {
  const SERVICE = 'maint-hooks';
  let fx: RedisServiceFixture;
  let t: TemporalHarness;
  const ran: string[] = [];
  const routing = async () => (await routerFor(fx.service).read()).routing;
  const setWeights = async (w: Record<string, number>) => routerFor(fx.service).apply(w, (await routing()).generation);

  beforeAll(async () => {
    fx = await startRedisService(
      SERVICE,
      {
        failover_execution: { gradual_failover: { steps: [50, 100], soak: '1s' } },
        redundancy_management: { redundancy_level: 0 },
        recovery_management: { validation_intervals: 2 },
      },
      { replicated: false },
    );
    t = await temporalHarness(() => fx.config);
  });
  afterEach(async () => {
    await cleanUp(t, SERVICE, ['redis-a', 'redis-b']);
    await setWeights({ 'redis-a': 100, 'redis-b': 0 });
  });
  afterAll(async () => {
    await replayThenCleanUp(t, ran, 'maintenance-independent', () => fx?.stop());
  });

  /** Every acknowledged write is on one of the two queues. */
  async function missing(prefix: string, acked: number[]): Promise<number[]> {
    const [a, b] = [new Redis(fx.topology.redis['redis-a']!.port), new Redis(fx.topology.redis['redis-b']!.port)];
    try {
      const keys = acked.map((i) => `${prefix}:${i}`);
      const [onA, onB] = await Promise.all([a.mget(keys), b.mget(keys)]);
      return acked.filter((_, i) => onA[i] === null && onB[i] === null);
    } finally {
      a.disconnect();
      b.disconnect();
    }
  }

  it('shifts the traffic away gradually, holds the window, shifts it back; no acknowledged write lost', async () => {
    const writer = startSequencedWriter({
      host: '127.0.0.1',
      port: fx.topology.haproxy.frontendPort,
      prefix: 'ind',
      maxDurationMs: 90_000,
      reconnectEvery: 10,
    });
    await until(() => writer.ackedCount > 100);
    const h = await startMaintenance(t, SERVICE, { destination: 'redis-a', window: '2s' }, ran);
    const held = await statusUntil(h, (s) => s.phase === 'holding');
    expect(held.routingCurrent!.weights).toEqual({ 'redis-a': 0, 'redis-b': 100 });
    const result = (await h.result()) as MaintenanceResult;
    const n = writer.ackedCount;
    await until(() => writer.ackedCount > n + 100);
    const report = await writer.stop();

    expect(result).toMatchObject({ outcome: 'restored', restore: 'failed-back', drain: { mode: 'shift', movedTo: 'redis-b' } });
    expect(result.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining(['shift 50%', 'validate 50%', 'shift 100%', 'cut old sessions', 'maintenance window', 'health validation']),
    );
    expect(result.routingAfter.weights).toEqual({ 'redis-a': 100, 'redis-b': 0 });
    expect(await missing('ind', report.acked)).toEqual([]);
  });

  it('active-active: ramps only the drained destination to 0 and back, the others absorb it by weight', async () => {
    await setWeights({ 'redis-a': 50, 'redis-b': 50 });
    const seen = new Set<string>();
    const h = await startMaintenance(t, SERVICE, { destination: 'redis-b', window: '1s' }, ran);
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        seen.add(JSON.stringify((await routing()).weights));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const result = (await h.result()) as MaintenanceResult;
    watching = false;
    await watcher;
    expect(result).toMatchObject({ outcome: 'restored', restore: 'failed-back', drain: { mode: 'proportional', movedTo: 'redis-a' } });
    expect(result.routingDrained.weights).toEqual({ 'redis-a': 50, 'redis-b': 0 });
    expect(result.routingAfter.weights).toEqual({ 'redis-a': 50, 'redis-b': 50 });
    expect(seen).toContain(JSON.stringify({ 'redis-a': 50, 'redis-b': 25 }));
  });
});
