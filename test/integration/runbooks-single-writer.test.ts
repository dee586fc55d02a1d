import type { WorkflowHandleWithFirstExecutionRunId as WorkflowHandle } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { routerFor } from '../../src/drivers';
import { replicationInfo, withRedis } from '../../src/drivers/redis-connection';
import { ServiceBusyError, startMutatingRunbook } from '../../src/client/start-runbook';
import { startRedis } from '../../dev/devserver/local-redis';
import type { Config } from '../../src/domain/config';
import { primaryOf } from '../../src/domain/routing';
import { auditSequencedWrites, startSequencedWriter } from '../../dev/harness/redis-sequenced-writer';
import type { FailoverResult } from '../../src/workflows/failover';
import type { RecoveryResult } from '../../src/workflows/recovery';
import type { RollbackResult } from '../../src/workflows/rollback';
import { replayThenCleanUp } from '../support/histories';
import { startRedisService, withPolicy, type RedisServiceFixture } from '../support/redis-service';
import { failureOf, rejectionOf } from '../support/runbooks';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { statusUntil, until } from '../support/wait';
import { abortUpdate, approveUpdate, resumeUpdate } from '../../src/workflows/controls';

const SERVICE = 'events-bus';
const roleOf = (port: number) =>
  withRedis({ host: '127.0.0.1', port }, 500, replicationInfo).then(
    (i) => i.role,
    () => 'down' as const,
  );

describe('runbooks on a single-writer service (Redis primary/replica behind HAProxy)', () => {
  let fx: RedisServiceFixture;
  let config: Config;
  let t: TemporalHarness;
  const ran: string[] = [];

  const port = (id: string) => fx.topology.redis[id]!.port;
  const primaryNow = async () => primaryOf((await routerFor(fx.service).read()).routing)!;
  const start = async (type: 'failover' | 'recovery' | 'rollback', input: Record<string, unknown>): Promise<WorkflowHandle> => {
    const h = await startMutatingRunbook(t.client, { taskQueue: t.taskQueue, type, service: SERVICE, input });
    ran.push(h.workflowId);
    return h;
  };

  beforeAll(async () => {
    fx = await startRedisService(SERVICE, { failover_execution: { consistency_check: { timeout: '10s' } } });
    config = fx.config;
    t = await temporalHarness(() => config);
  });
  afterEach(async () => {
    // A failed test must not leave its runbook holding the service for the next one.
    const h = t.client.workflow.getHandle(`runbook-${SERVICE}`);
    const running = await h.describe().then(
      (d) => d.status.name === 'RUNNING',
      () => false,
    );
    if (running) await h.terminate('test cleanup');
  });
  afterAll(async () => {
    // Every history these tests wrote replays deterministically against the current code.
    await replayThenCleanUp(t, ran, 'single-writer', () => fx?.stop());
  });

  it('never has two writable primaries reachable by clients during a switchover (fence before promote)', async () => {
    const writer = startSequencedWriter({ host: '127.0.0.1', port: fx.topology.haproxy.frontendPort, prefix: 'inv', maxDurationMs: 60_000 });
    await until(() => writer.ackedCount > 100);
    let samples = 0;
    let worst = 0;
    let polling = true;
    const poller = (async () => {
      const router = routerFor(fx.service);
      while (polling) {
        const [a, b, r] = await Promise.all([roleOf(port('redis-a')), roleOf(port('redis-b')), router.read()]);
        const writable = [
          ['redis-a', a],
          ['redis-b', b],
        ].filter(([id, role]) => role === 'master' && r.detail[id as string]!.state === 'ready');
        worst = Math.max(worst, writable.length);
        samples++;
      }
    })();
    const h = await start('failover', { planned: true, actor: 'test' });
    const result = (await h.result()) as FailoverResult;
    polling = false;
    await poller;
    const report = await writer.stop();
    expect(result.outcome).toBe('switched');
    expect(samples).toBeGreaterThan(20);
    expect(worst).toBe(1);
    const audit = await auditSequencedWrites({ host: '127.0.0.1', port: port(result.target), prefix: 'inv' }, report.acked);
    expect(audit.missing).toEqual([]);
  });

  it('approval gate: waits, rejects invalid requests with a reason, proceeds when approved', async () => {
    config = withPolicy(fx, { failover_execution: { approval: { required: true, timeout: '1m', default_action: 'abort' } } });
    const before = await primaryNow();
    const h = await start('failover', { planned: true, actor: 'test', reason: 'approval path' });
    const waiting = await statusUntil(h, (s) => s.phase === 'awaiting-approval');
    expect(waiting.controls.awaitingApproval!.reason).toBe('policy requires approval');
    expect(await rejectionOf(h.executeUpdate(resumeUpdate, { args: [{ by: 'bob' }] }))).toBe('not paused (phase: awaiting-approval)');
    expect(await rejectionOf(h.executeUpdate(approveUpdate, { args: [{ who: 'bob' } as never] }))).toMatch(/unknown field "who"/);
    // Nothing moved while waiting.
    expect(await primaryNow()).toBe(before);
    expect(await h.executeUpdate(approveUpdate, { args: [{ by: 'alice', reason: 'change ticket 42' }] })).toBe('approved by alice');
    const result = (await h.result()) as FailoverResult;
    expect(result.approval).toMatchObject({ by: 'alice', outcome: 'approved' });
    expect(result.source).toBe(before);
    expect(await primaryNow()).toBe(result.target);
    expect(await rejectionOf(h.executeUpdate(abortUpdate, { args: [{ by: 'bob' }] }))).toMatch(/already completed/);
  });

  it('approval gate timeout: default "abort" changes nothing, default "proceed" switches', async () => {
    config = withPolicy(fx, { failover_execution: { approval: { required: true, timeout: '1s', default_action: 'abort' } } });
    const before = await primaryNow();
    const routingBefore = (await routerFor(fx.service).read()).routing;
    const aborted = await failureOf((await start('failover', { planned: true })).result());
    expect(aborted.type).toBe('Aborted');
    expect(aborted.message).toMatch(/approval not given within 1s; default action is abort/);
    expect((await routerFor(fx.service).read()).routing).toEqual(routingBefore);
    expect(await roleOf(port(before))).toBe('master');

    config = withPolicy(fx, { failover_execution: { approval: { required: true, timeout: '1s', default_action: 'proceed' } } });
    const result = (await (await start('failover', { planned: true })).result()) as FailoverResult;
    expect(result.approval).toMatchObject({ by: 'timeout', outcome: 'timed-out-proceed' });
    expect(result.source).toBe(before);
    expect(await primaryNow()).toBe(result.target);
  });

  it('two simultaneous failover requests: one runs, the other is told which one holds the service', async () => {
    config = withPolicy(fx, { failover_execution: { approval: { required: true, timeout: '1m' } } });
    const routingBefore = (await routerFor(fx.service).read()).routing;
    const results = await Promise.allSettled([start('failover', { planned: true }), start('failover', { planned: true })]);
    const started = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(started).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason).toBeInstanceOf(ServiceBusyError);
    expect(String(refused[0]!.reason.message)).toMatch(new RegExp(`service ${SERVICE} already has a running runbook: failover runbook-${SERVICE}`));
    const h = (started[0] as PromiseFulfilledResult<WorkflowHandle>).value;
    await statusUntil(h, (s) => s.phase === 'awaiting-approval');
    expect(await h.executeUpdate(abortUpdate, { args: [{ by: 'carol', reason: 'duplicate' }] })).toMatch(/abort requested by carol/);
    const f = await failureOf(h.result());
    expect(f.type).toBe('Aborted');
    expect((await routerFor(fx.service).read()).routing).toEqual(routingBefore);
  });

  it('rollback by hand of a finished failover restores its starting routing with no acknowledged write lost', async () => {
    config = fx.config;
    const original = await primaryNow();
    const fo = await start('failover', { planned: true });
    const foResult = (await fo.result()) as FailoverResult;
    expect(await primaryNow()).not.toBe(original);

    const writer = startSequencedWriter({ host: '127.0.0.1', port: fx.topology.haproxy.frontendPort, prefix: 'rb', maxDurationMs: 60_000 });
    await until(() => writer.ackedCount > 100);
    const rb = (await (await start('rollback', { run: fo.firstExecutionRunId, actor: 'test' })).result()) as RollbackResult;
    const n = writer.ackedCount;
    await until(() => writer.ackedCount > n + 100);
    const report = await writer.stop();
    expect(rb.restored).toEqual(foResult.routingBefore.weights);
    expect(await primaryNow()).toBe(original);
    expect(await roleOf(port(original))).toBe('master');
    const audit = await auditSequencedWrites({ host: '127.0.0.1', port: port(original), prefix: 'rb' }, report.acked);
    expect(audit.missing).toEqual([]);

    const bad = await failureOf((await start('rollback', { run: 'no-such-run' })).result());
    expect(bad.message).toMatch(/no runbook run "no-such-run" of runbook-events-bus/);
  });

  it('failback: after the old primary dies and returns, recovery resyncs it and moves traffic back', async () => {
    config = withPolicy(fx, { recovery_management: { validation_intervals: 3 }, failover_detection: { detection_interval: '200ms' } });
    const original = await primaryNow();
    const other = original === 'redis-a' ? 'redis-b' : 'redis-a';
    await fx.topology.redis[original]!.kill('SIGKILL');
    const fo = (await (await start('failover', { reason: 'primary died' })).result()) as FailoverResult;
    expect(fo.emergency).toBe(true);
    expect(fo.target).toBe(other);

    // Writes while the old primary is away must survive the failback.
    await withRedis({ host: '127.0.0.1', port: fx.topology.haproxy.frontendPort }, 1000, async (r) => {
      for (let i = 0; i < 50; i++) await r.set(`while-away:${i}`, String(i));
    });
    // It comes back empty (no persistence) and, dangerously, as a primary: recovery must make it a replica first.
    fx.topology.redis[original] = await startRedis({ port: port(original), dir: fx.dir, name: `${original}-restarted` });
    expect(await roleOf(port(original))).toBe('master');

    const rec = (await (await start('recovery', { destination: original, actor: 'test' })).result()) as RecoveryResult;
    expect(rec.outcome).toBe('failed-back');
    expect(rec.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining(['health validation', 'resync', 'lag gate', 'fence source', 'catch up', 'promote target', 'switch routing', 'validate']),
    );
    expect(await primaryNow()).toBe(original);
    expect(await roleOf(port(original))).toBe('master');
    expect(await roleOf(port(other))).toBe('slave');
    const back = await withRedis({ host: '127.0.0.1', port: port(original) }, 1000, (r) => r.mget(Array.from({ length: 50 }, (_, i) => `while-away:${i}`)));
    expect(back).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
  });
});
