import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { routerFor } from '../../src/drivers';
import { replicationInfo, withRedis } from '../../src/drivers/redis-connection';
import { auditSequencedWrites, startSequencedWriter } from '../../dev/harness/redis-sequenced-writer';
import { startRedisService, type RedisServiceFixture } from '../support/redis-service';
import { failureOf, runFailover } from '../support/runbooks';
import { temporalHarness, testLogger, type TemporalHarness } from '../support/temporal';

const role = (port: number) => withRedis({ host: '127.0.0.1', port }, 1000, replicationInfo).then((i) => i.role);
const portOf = (fx: RedisServiceFixture, id: string) => fx.topology.redis[id]!.port;

describe('failover runbook: Redis primary/replica behind HAProxy', () => {
  let fx: RedisServiceFixture;
  let t: TemporalHarness;

  beforeAll(async () => {
    fx = await startRedisService('orders-bus', { failover_execution: { consistency_check: { timeout: '10s' } } });
    t = await temporalHarness(() => fx.config);
  });
  afterAll(async () => {
    await t?.close();
    await fx?.stop();
  });

  it('rejects bad runbook input naming the field, and changes nothing', async () => {
    const router = routerFor(fx.service);
    const before = await router.read();
    await (async () => {
      const wrongType = await failureOf(runFailover(t.client, t.taskQueue, { service: 'orders-bus', to: 42 as unknown as string }));
      expect(wrongType.type).toBe('InvalidInput');
      expect(wrongType.message).toMatch(/input\.to: .*expected string.*42/);

      const unknownDest = await failureOf(runFailover(t.client, t.taskQueue, { service: 'orders-bus', to: 'redis-z' }));
      expect(unknownDest.message).toMatch(/input\.to: no destination "redis-z" in service orders-bus \(has redis-a, redis-b\)/);

      const unknownService = await failureOf(runFailover(t.client, t.taskQueue, { service: 'payments', to: 'redis-b' }));
      expect(unknownService.type).toBe('UnknownService');
      expect(unknownService.message).toMatch(/unknown service "payments"; configured services: orders-bus/);

      const extraField = await failoverExtra(t);
      expect(extraField.message).toMatch(/input\.sevrice: unknown key/);

      const toSelf = await failureOf(runFailover(t.client, t.taskQueue, { service: 'orders-bus', to: 'redis-a' }));
      expect(toSelf.message).toMatch(/input\.to: "redis-a" already carries the traffic/);
    })();
    expect(await router.read()).toEqual(before);
    expect(await role(portOf(fx, 'redis-a'))).toBe('master');
    expect(await role(portOf(fx, 'redis-b'))).toBe('slave');
  });

  it('planned switchover under a stream of sequenced writes loses no acknowledged write', async () => {
    const entry = fx.topology.haproxy.frontendPort;
    const writer = startSequencedWriter({ host: '127.0.0.1', port: entry, prefix: 'seq-planned', maxDurationMs: 60_000 });
    await until(() => writer.ackedCount >= 200);
    const result = await runFailover(t.client, t.taskQueue, { service: 'orders-bus', to: 'redis-b', planned: true, actor: 'test' });
    const ackedAtSwitch = writer.ackedCount;
    await until(() => writer.ackedCount >= ackedAtSwitch + 200); // writes flow again, now to redis-b
    const report = await writer.stop();

    expect(result.source).toBe('redis-a');
    expect(result.target).toBe('redis-b');
    expect(result.rpo.lag).toBe(0);
    expect(result.steps.map((s) => s.name)).toEqual([
      'read routing',
      'probe destinations',
      'plan',
      'target check',
      'consistency gate',
      'switch section',
      'fence source',
      'catch up',
      'promote target',
      'switch routing',
      'cut old sessions',
      'demote source',
      'validate',
      'done',
    ]);
    expect(result.steps.every((s) => s.outcome === 'ok')).toBe(true);

    const audit = await auditSequencedWrites({ host: '127.0.0.1', port: portOf(fx, 'redis-b'), prefix: 'seq-planned' }, report.acked);
    expect(audit.acked).toBeGreaterThan(400);
    expect(audit.missing).toEqual([]);
    expect(audit.reordered).toBe(0);
    console.log(
      `planned switchover: ${audit.acked} acked writes, 0 lost, ${audit.duplicates.length} duplicated by retries, 0 reordered, ${report.errors} client errors, longest gap ${report.longestGapMs}ms, RTO ${result.rtoMs}ms`,
    );

    const routing = await routerFor(fx.service).read();
    expect(routing.routing.weights).toEqual({ 'redis-a': 0, 'redis-b': 100 });
    expect(routing.detail['redis-a']!.state).toBe('maint');
    expect(routing.routing.generation).toBe(result.routingAfter.generation);
    expect(await role(portOf(fx, 'redis-b'))).toBe('master');
    expect(await role(portOf(fx, 'redis-a'))).toBe('slave');
  });

  it('primary killed with SIGKILL: an unplanned failover moves traffic and writes succeed again', async () => {
    // After the previous test redis-b is primary and redis-a its replica.
    const entry = fx.topology.haproxy.frontendPort;
    const writer = startSequencedWriter({ host: '127.0.0.1', port: entry, prefix: 'seq-crash', maxDurationMs: 60_000 });
    await until(() => writer.ackedCount >= 100);
    await fx.topology.redis['redis-b']!.kill('SIGKILL');
    const ackedBeforeFailover = writer.ackedCount;

    const result = await runFailover(t.client, t.taskQueue, { service: 'orders-bus', reason: 'primary down', actor: 'test' });
    expect(result.emergency).toBe(true);
    expect(result.target).toBe('redis-a');
    expect(result.rpo.lag).toBeNull();
    expect(result.steps.find((s) => s.name === 'fence source')!.outcome).toBe('skipped');

    await until(() => writer.ackedCount >= ackedBeforeFailover + 100);
    const report = await writer.stop();
    expect(await role(portOf(fx, 'redis-a'))).toBe('master');
    const routing = await routerFor(fx.service).read();
    expect(routing.routing.weights).toEqual({ 'redis-a': 100, 'redis-b': 0 });
    // Writes acknowledged after the switch are all on the new primary.
    const afterSwitch = report.acked.filter((n) => n > ackedBeforeFailover + 5);
    const audit = await auditSequencedWrites({ host: '127.0.0.1', port: portOf(fx, 'redis-a'), prefix: 'seq-crash' }, afterSwitch);
    expect(audit.missing).toEqual([]);
    console.log(`unplanned failover: RTO ${result.rtoMs}ms, ${report.errors} client errors, longest gap ${report.longestGapMs}ms`);
  });

  it('activities report the state they see (probe of a dead destination)', async () => {
    const acts = createActivities({ config: () => fx.config, logger: testLogger });
    const probe = await acts.probe(fx.service, 'redis-b');
    expect(probe.up).toBe(false);
    expect(['refused', 'reset']).toContain(probe.failure);
  });
});

async function failoverExtra(t: TemporalHarness) {
  return failureOf(runFailover(t.client, t.taskQueue, { sevrice: 'orders-bus' } as never));
}

async function until(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
