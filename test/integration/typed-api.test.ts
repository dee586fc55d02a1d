import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routerFor } from '../../src/drivers';
import { replicationInfo, withRedis } from '../../src/drivers/redis-connection';
import { startRedis } from '../../dev/devserver/local-redis';
import type { Config } from '../../src/domain/config';
import { primaryOf } from '../../src/domain/routing';
import { runbookWorkflowId } from '../../src/domain/workflow-ids';
import { FailoverManager, InvalidInputError, ServiceBusyError, type Destination } from '../../src/index';
import { abortUpdate } from '../../src/workflows/controls';
import { replayThenCleanUp } from '../support/histories';
import { startRedisService, withPolicy, type RedisServiceFixture } from '../support/redis-service';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { statusUntil, until } from '../support/wait';

/**
 * The spec's four functions, as a TypeScript program calls them, against a real worker, the dev
 * server, Redis and HAProxy: redundancy verdicts, a switchover, detection of a killed primary, an
 * emergency failover, and the recovery of the node when it returns.
 */

const SERVICE = 'api-bus';
const a: Destination = { service: SERVICE, id: 'redis-a' };
const b: Destination = { service: SERVICE, id: 'redis-b' };

describe('TypeScript API: detectFailover, executeFailover, manageRecovery, manageRedundancy', () => {
  let fx: RedisServiceFixture;
  let config: Config;
  let t: TemporalHarness;
  let fm: FailoverManager;
  const routed = async () => primaryOf((await routerFor(fx.service).read()).routing);
  const role = (id: string) => withRedis({ host: '127.0.0.1', port: fx.topology.redis[id]!.port }, 1000, replicationInfo).then((i) => i.role);
  /** The input a run of the service's runbook was started with. */
  const startInput = async (runId: string) => {
    const events = (await t.client.workflow.getHandle(runbookWorkflowId(SERVICE), runId).fetchHistory()).events!;
    return defaultPayloadConverter.fromPayload<Record<string, unknown>>(events[0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!);
  };

  beforeAll(async () => {
    fx = await startRedisService(SERVICE, {
      failover_execution: { consistency_check: { timeout: '10s' } },
      recovery_management: { validation_intervals: 2 },
    });
    config = fx.config;
    t = await temporalHarness(() => config);
    // No supervisor on this task queue: reads fall back to the config the worker has.
    fm = FailoverManager.fromClient({ client: t.client, taskQueue: t.taskQueue, fallbackConfig: () => config, actor: 'api-test' });
  });

  afterAll(() => replayThenCleanUp(t, [runbookWorkflowId(SERVICE)], 'typed-api', () => fx?.stop()));

  it('manageRedundancy: the verdict at the requested level, the backups to keep, and the load distribution', async () => {
    const ok = await fm.manageRedundancy([a, b], { redundancyLevel: 1, loadDistribution: true, healthMonitoring: true });
    expect(ok.redundancyStatus).toMatchObject({ verdict: 'ok', level: 1, primary: 'redis-a', healthyBackups: 1 });
    expect(ok.redundancyStatus.health.map((h) => [h.id, h.status, h.sync.state])).toEqual([
      ['redis-a', 'up', 'primary'],
      ['redis-b', 'up', 'in-sync'],
    ]);
    expect(ok.backupDestinations).toEqual([{ service: SERVICE, id: 'redis-b', zone: 'z2', region: 'r1', tier: 0, weight: 100 }]);
    expect(ok.loadDistribution).toMatchObject({
      strategy: 'active-passive',
      current: { 'redis-a': 100, 'redis-b': 0 },
      planned: { 'redis-a': 100, 'redis-b': 0 },
      drift: false,
    });
    expect(ok.optimization.action).toBe('none');

    const two = await fm.manageRedundancy([a, b], { redundancyLevel: 2 });
    expect(two.redundancyStatus.verdict).toBe('below-level');
    expect(two.redundancyStatus.reasons).toContain('1 healthy backup(s), redundancy_level 2');

    await expect(fm.manageRedundancy([a, { service: SERVICE, id: 'redis-z' }], { redundancyLevel: 1 })).rejects.toThrow(
      /destinations\[1\]\.id: no destination "redis-z" in service api-bus \(has redis-a, redis-b\)/,
    );
    await expect(fm.manageRedundancy([a], { redundancyLevel: -1 })).rejects.toThrow(/config\.redundancyLevel: Too small/);
  });

  it('detectFailover with every destination healthy: no failover needed', async () => {
    const r = await fm.detectFailover([a, b], { failureThreshold: 2, detectionInterval: 100, timeout: 500 });
    expect(r.failoverNeeded).toBe(false);
    expect(r.failedDestinations).toEqual([]);
    expect(r.healthStatus.overall).toBe('healthy');
    expect(r.recommendations).toEqual([{ service: SERVICE, action: 'none', reasons: ['all 2 checked destination(s) healthy'] }]);
    await expect(fm.detectFailover([a], { failureThreshold: 0 })).rejects.toThrow(/config\.failureThreshold: Too small/);
    await expect(fm.detectFailover([a], { detectionInterval: 'soon' })).rejects.toThrow(
      /config\.detectionInterval: expected a duration with a unit, such as "500ms"/,
    );
  });

  it('executeFailover: a planned switchover under the lock, zero loss, the new primary active, its timing and the actor recorded', async () => {
    await expect(fm.executeFailover([b], [a], { planned: true })).rejects.toThrow(
      /failedDestinations: none of them carries the traffic of api-bus \(it is on redis-a\)/,
    );
    await expect(fm.executeFailover([a], [b], { failoverStrategy: 'active-active' })).rejects.toThrow(
      /config\.failoverStrategy: service api-bus is active-passive/,
    );
    await expect(fm.executeFailover([a], [b], { consistencyCheck: false })).rejects.toThrow(
      /config\.consistencyCheck: the policy of api-bus has consistency_check on/,
    );

    const r = await fm.executeFailover([a], [b], { planned: true, performanceMonitoring: true, reason: 'kernel upgrade on redis-a', actor: 'alice' });
    expect(r.failoverStatus).toBe('completed');
    expect(r.outcome).toBe('switched');
    expect(r.activeDestinations.map((d) => d.id)).toEqual(['redis-b']);
    expect(r.syncStatus).toMatchObject({ replicated: true, state: 'no-loss', rpo: { lag: 0 } });
    expect(r.performance.rtoMs).toBeGreaterThan(0);
    expect(r.performance.latencyMs?.['redis-b']).toBeGreaterThanOrEqual(0);
    expect(r.run.webUi).toBe(`http://127.0.0.1:8233/namespaces/default/workflows/runbook-api-bus/${r.run.runId}/history`);
    expect(await routed()).toBe('redis-b');
    expect(await role('redis-b')).toBe('master');
    expect(await startInput(r.run.runId)).toMatchObject({ planned: true, to: 'redis-b', reason: 'kernel upgrade on redis-a', actor: 'alice (via api-test)' });
  });

  it('one runbook per service: a second call while one runs is refused, naming the running one', async () => {
    config = withPolicy(fx, { failover_execution: { consistency_check: { timeout: '10s' }, approval: { required: true, timeout: '2m' } } });
    const held = await fm.trigger({ service: SERVICE, runbook: 'switchover', to: 'redis-a', reason: 'held at the approval gate' });
    await statusUntil(t.client.workflow.getHandle(runbookWorkflowId(SERVICE), held.runId), (s) => s.phase === 'awaiting-approval');
    const busy = await fm.executeFailover([b], [a], { planned: true }).catch((err: unknown) => err);
    expect(busy).toBeInstanceOf(ServiceBusyError);
    expect((busy as Error).message).toContain(`failover runbook-api-bus (run ${held.runId}`);
    await t.client.workflow.getHandle(runbookWorkflowId(SERVICE), held.runId).executeUpdate(abortUpdate, { args: [{ by: 'test', reason: 'done' }] });
    await until(
      async () => (await t.client.workflow.getHandle(runbookWorkflowId(SERVICE), held.runId).describe()).status.name !== 'RUNNING',
      15_000,
      'held switchover aborted',
    );
    config = fx.config;
    expect(await routed()).toBe('redis-b');
  });

  it('detectFailover on a killed primary: failover needed, the failed destination named, a failover to the copy recommended', async () => {
    await fx.topology.redis['redis-b']!.kill('SIGKILL');
    const r = await fm.detectFailover([a, b], { failureThreshold: 3, detectionInterval: 100, timeout: 500, healthThreshold: 0.5 });
    expect(r.failoverNeeded).toBe(true);
    expect(r.failedDestinations).toEqual([{ service: SERVICE, id: 'redis-b', zone: 'z2', region: 'r1', tier: 0, weight: 100 }]);
    expect(r.healthStatus.overall).toBe('failed');
    const down = r.healthStatus.destinations.find((d) => d.id === 'redis-b')!;
    expect(down).toMatchObject({ status: 'down', probes: 3, consecutiveFailures: 3, routed: 100 });
    expect(down.error).toMatch(/refused|reset|closed/);
    const failover = r.recommendations.find((x) => x.action === 'failover')!;
    expect(failover).toMatchObject({
      destination: 'redis-b',
      target: 'redis-a',
      verdict: 'ok',
      trigger: { service: SERVICE, runbook: 'failover', to: 'redis-a' },
    });
    expect(failover.reasons[0]).toMatch(/^redis-b is down and carries traffic \(weight 100\)/);

    const red = await fm.manageRedundancy([a, b], { redundancyLevel: 1 });
    expect(red.redundancyStatus.verdict).toBe('below-level');
  });

  it('executeFailover with the source down: the emergency path, traffic on the backup, the loss unknown', async () => {
    const r = await fm.executeFailover([b], [a], { reason: 'redis-b died' });
    expect(r.failoverStatus).toBe('completed');
    expect(r.activeDestinations.map((d) => d.id)).toEqual(['redis-a']);
    expect(r.syncStatus.state).toBe('unknown-loss');
    expect(await routed()).toBe('redis-a');
    expect(await role('redis-a')).toBe('master');
  });

  it('manageRecovery: nothing starts for a node still down or when not asked to; a returned node is resynced and given its traffic back', async () => {
    const still = await fm.manageRecovery([b], { recoveryStrategy: 'failback', healthMonitoring: true });
    expect(still.recoveryStatus).toBe('not-recovered');
    expect(still.performance.attempts).toEqual([expect.objectContaining({ id: 'redis-b', outcome: 'still-down' })]);
    await expect(fm.manageRecovery([a], {})).rejects.toThrow(/failedDestinations\[0\]: redis-a already carries the traffic of api-bus/);

    // Back empty, as after a disk loss: it must be resynced from redis-a before it takes traffic.
    fx.topology.redis['redis-b'] = await startRedis({ port: fx.topology.redis['redis-b']!.port, dir: fx.dir, name: 'redis-b-back' });
    const pending = await fm.manageRecovery([b], { automaticRecovery: false });
    expect(pending.recoveryStatus).toBe('pending');
    expect(pending.performance.attempts[0]!.run).toBeUndefined();

    const r = await fm.manageRecovery([b], { recoveryStrategy: 'failback', healthMonitoring: true, performanceValidation: true, reason: 'redis-b replaced' });
    expect(r.recoveryStatus).toBe('recovered');
    expect(r.recoveredDestinations.map((d) => d.id)).toEqual(['redis-b']);
    expect(r.performance.attempts[0]).toMatchObject({ id: 'redis-b', outcome: 'failed-back' });
    expect(r.performance.attempts[0]!.latencyMs).toBeGreaterThanOrEqual(0);
    expect(await routed()).toBe('redis-b');
    expect(await role('redis-b')).toBe('master');
    expect(r.healthStatus.destinations.map((d) => [d.id, d.status])).toEqual([
      ['redis-a', 'up'],
      ['redis-b', 'up'],
    ]);
    expect(await startInput(r.performance.attempts[0]!.run!.runId)).toMatchObject({ destination: 'redis-b', failback: true, actor: 'api-test' });
  });

  it('bad references are refused naming the field before anything starts', async () => {
    const before = await t.client.workflow.getHandle(runbookWorkflowId(SERVICE)).describe();
    const err = await fm.executeFailover([{ service: 'nope', id: 'x' }], [], {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/failedDestinations\[0\]\.service: no service "nope" in the config \(has api-bus\)/);
    await expect(fm.executeFailover([a, a], [], {})).rejects.toThrow(/failedDestinations\[1\]: api-bus\/redis-a is listed twice/);
    await expect(fm.executeFailover([{ service: SERVICE } as Destination], [], {})).rejects.toThrow(
      /failedDestinations\[0\]\.id: Invalid input: expected string/,
    );
    expect((await t.client.workflow.getHandle(runbookWorkflowId(SERVICE)).describe()).runId).toBe(before.runId);
  });
});
