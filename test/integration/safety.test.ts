import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkflowHandle } from '@temporalio/client';
import { routerFor } from '../../src/activities/drivers';
import type { Config } from '../../src/domain/config';
import { primaryOf } from '../../src/domain/routing';
import { detectionWorkflowId, runbookWorkflowId } from '../../src/domain/workflow-ids';
import type { DetectionStatus } from '../../src/workflows/detection';
import type { FailoverResult } from '../../src/workflows/failover';
import type { RunbookStatus } from '../../src/workflows/runbook-frame';
import { replayThenCleanUp } from '../support/histories';
import { startRedisService, withPolicy, type RedisServiceFixture } from '../support/redis-service';
import { failureOf } from '../support/runbooks';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { statusUntil, until } from '../support/wait';

/**
 * The safety rules, where review and real stacks found holes: the per-service lock whatever id a
 * runbook is started under, and inputs that must never wedge a workflow. Real Redis behind HAProxy.
 */

describe('safety rules', () => {
  let fx: RedisServiceFixture;
  let config: Config;
  let t: TemporalHarness;
  const ran: string[] = [];
  const routed = async () => primaryOf((await routerFor(fx.service).read()).routing);

  beforeAll(async () => {
    fx = await startRedisService('safe-bus', { failover_execution: { consistency_check: { timeout: '5s' } } });
    config = fx.config;
    t = await temporalHarness(() => config);
  });
  afterAll(async () => {
    await replayThenCleanUp(t, ran, 'safety', () => fx?.stop());
  });

  it('the per-service lock holds for a runbook started under any id: it runs as runbook-<service>, and a second one is refused naming it', async () => {
    config = withPolicy(fx, { failover_execution: { approval: { required: true, timeout: '2m' } } });
    const first = await t.client.workflow.start('failover', { taskQueue: t.taskQueue, workflowId: 'from-the-web-ui-1', args: [{ service: 'safe-bus', planned: true, actor: 'ui' }] });
    ran.push(first.workflowId, runbookWorkflowId('safe-bus'));
    const lock = t.client.workflow.getHandle(runbookWorkflowId('safe-bus')) as WorkflowHandle;
    await statusUntil(lock, (s: RunbookStatus) => s.phase === 'awaiting-approval');

    const second = await t.client.workflow.start('recovery', { taskQueue: t.taskQueue, workflowId: 'from-the-cli-2', args: [{ service: 'safe-bus', destination: 'redis-b', failback: false }] });
    ran.push(second.workflowId);
    const refused = await failureOf(second.result());
    expect(refused.type).toBe('ServiceBusy');
    expect(refused.message).toBe('service safe-bus already has a running runbook (runbook-safe-bus); a recovery takes the per-service lock by running as runbook-safe-bus, so nothing was started');

    await lock.executeUpdate('approve', { args: [{ by: 'alice' }] });
    const result = (await first.result()) as FailoverResult;
    expect(result).toMatchObject({ outcome: 'switched', target: 'redis-b', approval: { by: 'alice', outcome: 'approved' } });
    expect(await routed()).toBe('redis-b');
    config = fx.config;
  });

  it('inputs that used to wedge detection or a consistency check end the run at once, naming the field', async () => {
    const det = await t.client.workflow.start('detection', { taskQueue: t.taskQueue, workflowId: 'det-wedge', args: [{ service: 'safe-bus', carried: {} }] });
    ran.push(det.workflowId);
    const bad = await failureOf(det.result());
    expect(bad.type).toBe('InvalidInput');
    expect(bad.message).toMatch(/input\.carried\.health: /);

    const check = await t.client.workflow.start('consistencyCheck', {
      taskQueue: t.taskQueue, workflowId: 'check-wedge', args: [{ service: 'safe-bus', source: 'redis-b', target: 'redis-a', timeout: 'banana' }],
    });
    ran.push(check.workflowId);
    const banana = await failureOf(check.result());
    expect(banana.message).toMatch(/input\.timeout: expected a duration with a unit/);

    // A cooldown carried from the future (a clock gone wrong, a hand-made input) is dropped, not kept forever.
    const carried = { health: {}, lastFailoverFrom: { 'redis-a': 8.64e15 }, failedOver: [], decisions: [], seenAlerts: [] };
    const future = await t.client.workflow.start('detection', { taskQueue: t.taskQueue, workflowId: detectionWorkflowId('safe-bus'), args: [{ service: 'safe-bus', carried }] });
    ran.push(future.workflowId);
    await until(async () => (await future.query<DetectionStatus>('health')).watching, 10_000, 'detection watching');
    expect((await future.query<DetectionStatus>('health')).lastFailoverFrom).toEqual({});
    await future.terminate('test done');
  });
});
