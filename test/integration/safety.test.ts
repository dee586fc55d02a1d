import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicationInfo, withRedis } from '../../src/drivers/redis-connection';
import { startRedis } from '../../dev/devserver/local-redis';
import { auditSequencedWrites, startSequencedWriter } from '../../dev/harness/redis-sequenced-writer';
import type { RebalanceResult } from '../../src/workflows/rebalance';
import type { WorkflowHandle } from '@temporalio/client';
import { routerFor } from '../../src/drivers';
import type { Config } from '../../src/domain/config';
import { primaryOf } from '../../src/domain/routing';
import { detectionWorkflowId, runbookWorkflowId } from '../../src/domain/workflow-ids';
import type { RunbookStatus } from '../../src/api/status';
import type { FailoverResult } from '../../src/workflows/failover';
import { replayThenCleanUp } from '../support/histories';
import { startRedisService, withPolicy, type RedisServiceFixture } from '../support/redis-service';
import { failureOf } from '../support/runbooks';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { statusUntil, until } from '../support/wait';
import { healthQuery, statusQuery } from '../../src/api/queries';
import { approveUpdate, pauseUpdate, resumeUpdate } from '../../src/workflows/controls';

/**
 * The safety rules, where review and real stacks found holes: the per-service lock whatever id a
 * runbook is started under, and inputs that must never wedge a workflow. Real Redis behind HAProxy.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('safety rules', () => {
  let fx: RedisServiceFixture;
  let config: Config;
  let t: TemporalHarness;
  const ran: string[] = [];
  const routed = async () => primaryOf((await routerFor(fx.service).read()).routing);

  let reload: RedisServiceFixture | undefined;
  let acl: RedisServiceFixture | undefined;
  const policy = {
    failover_execution: { consistency_check: { timeout: '5s' } },
    failover_detection: { detection_interval: '200ms', timeout: '500ms', router_check_interval: '500ms' },
  };

  beforeAll(async () => {
    fx = await startRedisService('safe-bus', policy);
    config = fx.config;
    const extra = () => [reload, acl].flatMap((f) => (f ? [f.service] : []));
    t = await temporalHarness(() => ({ ...config, services: [config.services[0]!, ...extra()] }));
  });
  afterAll(async () => {
    for (const service of ['safe-reload', 'safe-acl'])
      await t?.client.workflow
        .getHandle(detectionWorkflowId(service))
        .terminate('test done')
        .catch(() => undefined);
    await replayThenCleanUp(t, ran, 'safety', async () => {
      await fx?.stop();
      await reload?.stop();
      await acl?.stop();
    });
  });

  /** Detection on `f`, writes flowing through its HAProxy, then its primary SIGKILLed and failed over to redis-b. */
  async function emergencyFailover(f: RedisServiceFixture, prefix: string) {
    const name = f.service.name;
    const det = await t.client.workflow.start('detection', { taskQueue: t.taskQueue, workflowId: detectionWorkflowId(name), args: [{ service: name }] });
    ran.push(det.workflowId, runbookWorkflowId(name));
    await until(async () => (await det.query(healthQuery)).watching, 10_000, 'watching');
    // Paced: unpaced, a slow run (retried fences) reached the writer's 100,000-message cap and writes stopped.
    const writer = startSequencedWriter({ host: '127.0.0.1', port: f.topology.haproxy.frontendPort, prefix, maxDurationMs: 90_000, intervalMs: 1 });
    await until(() => writer.ackedCount > 200);
    await f.topology.redis['redis-a']!.kill('SIGKILL');
    await until(async () => primaryOf((await routerFor(f.service).read()).routing) === 'redis-b', 30_000, 'failed over to redis-b');
    return { det, writer, afterFailover: writer.ackedCount };
  }

  it('the per-service lock holds for a runbook started under any id: it runs as runbook-<service>, and a second one is refused naming it', async () => {
    config = withPolicy(fx, { failover_execution: { approval: { required: true, timeout: '2m' } } });
    const first = await t.client.workflow.start('failover', {
      taskQueue: t.taskQueue,
      workflowId: 'from-the-web-ui-1',
      args: [{ service: 'safe-bus', planned: true, actor: 'ui' }],
    });
    ran.push(first.workflowId, runbookWorkflowId('safe-bus'));
    const lock = t.client.workflow.getHandle(runbookWorkflowId('safe-bus')) as WorkflowHandle;
    await statusUntil(lock, (s: RunbookStatus) => s.phase === 'awaiting-approval');

    const second = await t.client.workflow.start('recovery', {
      taskQueue: t.taskQueue,
      workflowId: 'from-the-cli-2',
      args: [{ service: 'safe-bus', destination: 'redis-b', failback: false }],
    });
    ran.push(second.workflowId);
    const refused = await failureOf(second.result());
    expect(refused.type).toBe('ServiceBusy');
    expect(refused.message).toBe(
      'service safe-bus already has a running runbook (runbook-safe-bus); a recovery takes the per-service lock by running as runbook-safe-bus, so nothing was started',
    );

    await lock.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
    const result = (await first.result()) as FailoverResult;
    expect(result).toMatchObject({ outcome: 'switched', target: 'redis-b', approval: { by: 'alice', outcome: 'approved' } });
    expect(await routed()).toBe('redis-b');
    config = fx.config;
  });

  it('a pause asked during the switch section holds after it; no acknowledged write is lost', async () => {
    const writer = startSequencedWriter({ host: '127.0.0.1', port: fx.topology.haproxy.frontendPort, prefix: 'pause', maxDurationMs: 60_000 });
    await until(() => writer.ackedCount > 200);
    const from = (await routed())!;
    const to = from === 'redis-a' ? 'redis-b' : 'redis-a';
    // A slow replica (stopped and continued every few hundred ms) makes the fenced catch-up take a while.
    let slow = true;
    const replica = fx.topology.redis[to]!;
    const slowing = (async () => {
      while (slow) {
        replica.child.kill('SIGSTOP');
        await sleep(250);
        replica.child.kill('SIGCONT');
        await sleep(60);
      }
    })();
    const h = await t.client.workflow.start('failover', {
      taskQueue: t.taskQueue,
      workflowId: runbookWorkflowId('safe-bus'),
      args: [{ service: 'safe-bus', to, planned: true }],
    });
    await statusUntil(h as WorkflowHandle, (st: RunbookStatus) => st.step === 'switch section', 20_000);
    const answer = await h.executeUpdate(pauseUpdate, { args: [{ by: 'carol' }] });
    expect(answer).toMatch(/paused by carol/);
    slow = false;
    await slowing;
    replica.child.kill('SIGCONT');
    // The section ran to its end; the runbook holds after it until resumed.
    const held = await statusUntil(h as WorkflowHandle, (st: RunbookStatus) => st.steps.some((x) => x.name === 'demote source' && x.outcome === 'ok'), 20_000);
    expect(held.controls.paused).toBe(true);
    await sleep(1500);
    const still = await h.query(statusQuery);
    expect(still.steps.map((x) => x.name)).not.toContain('validate');
    await h.executeUpdate(resumeUpdate, { args: [{ by: 'carol' }] });
    const result = (await h.result()) as FailoverResult;
    expect(result).toMatchObject({ outcome: 'switched', target: to, rpo: { lag: 0 } });
    const acked = writer.ackedCount;
    await until(() => writer.ackedCount > acked + 100, 10_000, 'writes flowing to the new primary');
    const report = await writer.stop();
    const audit = await auditSequencedWrites({ host: '127.0.0.1', port: fx.topology.redis[to]!.port, prefix: 'pause' }, report.acked);
    expect(audit.missing).toEqual([]);
  });

  it('draining a single-writer primary (rebalance with drain) goes through the fenced switchover: writes go on, none lost', async () => {
    const writer = startSequencedWriter({ host: '127.0.0.1', port: fx.topology.haproxy.frontendPort, prefix: 'drain', maxDurationMs: 60_000 });
    await until(() => writer.ackedCount > 200);
    const from = (await routed())!;
    const to = from === 'redis-a' ? 'redis-b' : 'redis-a';
    const h = await t.client.workflow.start('rebalance', {
      taskQueue: t.taskQueue,
      workflowId: runbookWorkflowId('safe-bus'),
      args: [{ service: 'safe-bus', drain: { destinations: [from] }, actor: 'dave' }],
    });
    // Draining the primary of two leaves no backup: that takes a person's approval.
    const waiting = await statusUntil(h as WorkflowHandle, (st: RunbookStatus) => st.phase === 'awaiting-approval', 20_000);
    expect(waiting.controls.awaitingApproval?.reason).toMatch(/backups: 1 → 0/);
    await h.executeUpdate(approveUpdate, { args: [{ by: 'erin' }] });
    const result = (await h.result()) as RebalanceResult;
    expect(result.routingAfter.weights).toMatchObject({ [from]: 0 });
    expect(result.steps.map((x) => x.name)).toEqual(
      expect.arrayContaining(['switch section', 'fence source', 'catch up', 'promote target', 'switch routing', 'demote source', 'validate']),
    );
    const acked = writer.ackedCount;
    await until(() => writer.ackedCount > acked + 200, 15_000, 'writes go on after the drain');
    const report = await writer.stop();
    expect((await withRedis({ host: '127.0.0.1', port: fx.topology.redis[to]!.port }, 1000, replicationInfo)).role).toBe('master');
    const audit = await auditSequencedWrites({ host: '127.0.0.1', port: fx.topology.redis[to]!.port, prefix: 'drain' }, report.acked);
    expect(audit.missing).toEqual([]);
  });

  it('after an emergency failover the old primary returns writable and HAProxy reloads from its file: the stray is fenced and resynced, the routing put back, no acknowledged write lost', async () => {
    reload = await startRedisService('safe-reload', policy);
    const fx2 = reload;
    const { det, writer, afterFailover } = await emergencyFailover(fx2, 'reload');
    const primary = async () => primaryOf((await routerFor(fx2.service).read()).routing);

    // redis-a comes back empty and writable: fenced on sight, then resynced as a replica of redis-b.
    fx2.topology.redis['redis-a'] = await startRedis({ port: fx2.topology.redis['redis-a']!.port, dir: fx2.dir, name: 'redis-a-back' });
    // While the failover runbook still owns the switch (validating), the fence waits for it and is
    // tried again every 5 s, whatever event of redis-a comes meanwhile (its recovery must not start first).
    const fencedWithPause = async () =>
      (await det.query(healthQuery)).decisions.some(
        (d) => d.decision.action === 'fence' && d.event.destination === 'redis-a' && /CLIENT PAUSE \d+ WRITE/.test(d.note ?? ''),
      );
    await until(fencedWithPause, 45_000, 'stray fenced').catch(async (err: Error) => {
      const decisions = (await det.query(healthQuery)).decisions.slice(-8);
      const runs = await t.client.workflow
        .getHandle(runbookWorkflowId('safe-reload'))
        .describe()
        .then((d) => d.status.name);
      console.log('stray not fenced:', JSON.stringify({ runbook: runs, decisions }));
      throw err;
    });
    // Nothing was started for the stray before its writes were paused (a resync would leave it writable meanwhile).
    const decided = (await det.query(healthQuery)).decisions;
    const seen = decided.findIndex((d) => d.event.destination === 'redis-a' && d.event.kind === 'writable');
    const paused = decided.findIndex((d) => d.decision.action === 'fence' && /CLIENT PAUSE \d+ WRITE/.test(d.note ?? ''));
    const before = decided.slice(seen, paused).filter((d) => d.event.destination === 'redis-a' && !['fence', 'none'].includes(d.decision.action));
    expect(before.map((d) => `${d.event.kind} → ${d.decision.action}`)).toEqual([]);
    const fences = decided.filter((d) => d.decision.action === 'fence');
    for (const deferred of fences.slice(0, -1)) expect(deferred.note).toMatch(/owns the switch|CLIENT PAUSE/);
    await until(
      async () =>
        (await withRedis({ host: '127.0.0.1', port: fx2.topology.redis['redis-a']!.port }, 1000, replicationInfo).catch(() => undefined))?.role === 'slave',
      20_000,
      'redis-a resynced',
    );

    // A reload puts HAProxy back to its file: redis-a routed again, the generation gone. Detection puts it back.
    // (Detection may have put it back before this test reads the router: the decision names what it found.)
    fx2.topology.haproxy = await fx2.topology.haproxy.reload();
    await until(async () => (await det.query(healthQuery)).decisions.some((d) => d.decision.action === 'reassert'), 20_000, 'drift seen');
    await until(async () => (await primary()) === 'redis-b', 20_000, 'routing reasserted');
    const h = await det.query(healthQuery);
    const reasserted = h.decisions.find((d) => d.decision.action === 'reassert')!;
    expect(reasserted.event.reason).toMatch(/the router has redis-a=100 redis-b=0 \(generation 0\), the decided routing is redis-a=0 redis-b=100/);
    const acked = writer.ackedCount;
    await until(() => writer.ackedCount > acked + 200, 20_000, 'writes flowing after the reassert');
    const report = await writer.stop();
    const since = report.acked.filter((n) => n > afterFailover);
    const audit = await auditSequencedWrites({ host: '127.0.0.1', port: fx2.topology.redis['redis-b']!.port, prefix: 'reload' }, since);
    expect(audit.missing).toEqual([]);
  });

  it('a returning writable primary that refuses CLIENT PAUSE (its ACL): detection goes on, says so, and resyncs it; no acknowledged write lost', async () => {
    acl = await startRedisService('safe-acl', policy);
    const fx3 = acl;
    const { det, writer, afterFailover } = await emergencyFailover(fx3, 'acl');

    // Back empty and writable, with an ACL that forbids CLIENT PAUSE (everything else allowed).
    const denyPause = ['--user', 'default', 'on', 'nopass', '~*', '&*', '+@all', '-client|pause'];
    fx3.topology.redis['redis-a'] = await startRedis({ port: fx3.topology.redis['redis-a']!.port, dir: fx3.dir, name: 'redis-a-acl', args: denyPause });
    const refused = async () =>
      (await det.query(healthQuery)).decisions.some((d) => d.decision.action === 'fence' && /not fenced: .*NOPERM/.test(d.note ?? ''));
    await until(refused, 45_000, 'fence refused and recorded');
    await until(
      async () =>
        (await withRedis({ host: '127.0.0.1', port: fx3.topology.redis['redis-a']!.port }, 1000, replicationInfo).catch(() => undefined))?.role === 'slave',
      30_000,
      'redis-a resynced all the same',
    );
    expect((await det.describe()).status.name).toBe('RUNNING');
    const acked = writer.ackedCount;
    await until(() => writer.ackedCount > acked + 200, 20_000, 'writes flowing after the resync');
    const report = await writer.stop();
    const audit = await auditSequencedWrites(
      { host: '127.0.0.1', port: fx3.topology.redis['redis-b']!.port, prefix: 'acl' },
      report.acked.filter((n) => n > afterFailover),
    );
    expect(audit.missing).toEqual([]);
  });

  it('inputs that used to wedge detection or a consistency check end the run at once, naming the field', async () => {
    const det = await t.client.workflow.start('detection', { taskQueue: t.taskQueue, workflowId: 'det-wedge', args: [{ service: 'safe-bus', carried: {} }] });
    ran.push(det.workflowId);
    const bad = await failureOf(det.result());
    expect(bad.type).toBe('InvalidInput');
    expect(bad.message).toMatch(/input\.carried\.health: /);

    const check = await t.client.workflow.start('consistencyCheck', {
      taskQueue: t.taskQueue,
      workflowId: 'check-wedge',
      args: [{ service: 'safe-bus', source: 'redis-b', target: 'redis-a', timeout: 'banana' }],
    });
    ran.push(check.workflowId);
    const banana = await failureOf(check.result());
    expect(banana.message).toMatch(/input\.timeout: expected a duration with a unit/);

    // A cooldown carried from the future (a clock gone wrong, a hand-made input) is dropped, not kept forever.
    const carried = { health: {}, lastFailoverFrom: { 'redis-a': 8.64e15 }, failedOver: [], decisions: [], seenAlerts: [] };
    const future = await t.client.workflow.start('detection', {
      taskQueue: t.taskQueue,
      workflowId: detectionWorkflowId('safe-bus'),
      args: [{ service: 'safe-bus', carried }],
    });
    ran.push(future.workflowId);
    await until(async () => (await future.query(healthQuery)).watching, 10_000, 'detection watching');
    expect((await future.query(healthQuery)).lastFailoverFrom).toEqual({});
    await future.terminate('test done');
  });
});
