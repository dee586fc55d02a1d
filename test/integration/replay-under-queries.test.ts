import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMutatingRunbook } from '../../src/client/start-runbook';
import type { Config } from '../../src/domain/config';
import { runbookWorkflowId } from '../../src/domain/workflow-ids';
import { replayAndRecord } from '../support/histories';
import { startRedisService, withPolicy, type RedisServiceFixture } from '../support/redis-service';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { statusUntil } from '../support/wait';

/**
 * People watch runbooks: the Web UI polls their metadata (current details), `status --watch` and
 * `start --wait` poll `status`. A runbook watched that closely, paused, approved and resumed must
 * still write a history that replays (a worker restart would otherwise leave it stuck). Details
 * that changed outside step boundaries once broke this under load; this keeps it from coming back.
 */
const SERVICE = 'watched-bus';

describe('runbooks watched by queries while they run still replay', () => {
  let fx: RedisServiceFixture;
  let config: Config;
  let t: TemporalHarness;
  beforeAll(async () => {
    fx = await startRedisService(SERVICE, { failover_execution: { consistency_check: { timeout: '10s' } } });
    config = withPolicy(fx, { failover_execution: { approval: { required: true, timeout: '5m' } } });
    t = await temporalHarness(() => config);
  });
  afterAll(async () => {
    await t?.close();
    await fx?.stop();
  });

  for (let round = 0; round < 3; round++) {
    it(`switchover ${round + 1}: status and metadata queried without pause, paused, approved, resumed`, async () => {
      const to = round % 2 === 0 ? 'redis-b' : 'redis-a';
      const handle = (await startMutatingRunbook(t.client, { taskQueue: t.taskQueue, type: 'failover', service: SERVICE, input: { to, planned: true, actor: 'test' } })) as WorkflowHandle;
      let stop = false;
      const watching = (async () => {
        while (!stop) await Promise.all([handle.query('status').catch(() => undefined), handle.query('__temporal_workflow_metadata').catch(() => undefined)]);
      })();
      await statusUntil(handle, (s) => s.phase === 'awaiting-approval', 20_000);
      await handle.executeUpdate('pause', { args: [{ by: 'carol' }] });
      await handle.executeUpdate('approve', { args: [{ by: 'bob' }] });
      await new Promise((r) => setTimeout(r, 300));
      await handle.executeUpdate('resume', { args: [{ by: 'carol' }] });
      await handle.result();
      stop = true;
      await watching;
      expect(await replayAndRecord(t.client, [runbookWorkflowId(SERVICE)], 'watched', { record: round === 0 })).toBeGreaterThan(0);
    });
  }
});
