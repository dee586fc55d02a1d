import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routerFor } from '../../src/drivers';
import { startMutatingRunbook } from '../../src/client/start-runbook';
import type { FailoverResult } from '../../src/workflows/failover';
import { eventually, startNatsService, STREAM, type NatsService } from '../support/nats-sites';
import { temporalHarness, type TemporalHarness } from '../support/temporal';

describe('failover runbook on NATS JetStream sites routed by NATS KV', () => {
  let f: NatsService;
  let t: TemporalHarness;

  beforeAll(async () => {
    f = await startNatsService('sources');
    t = await temporalHarness(() => f.config);
  });
  afterAll(async () => {
    await t?.close();
    await f?.stop();
  });

  it('planned switchover: fence the source stream, catch up, promote the backup, switch the KV routing, resync the old source; nothing acknowledged lost', async () => {
    const before = await f.publish(30);
    const h = await startMutatingRunbook(t.client, {
      taskQueue: t.taskQueue,
      type: 'failover',
      service: 'orders-stream',
      input: { to: 'nats-b', planned: true, actor: 'test' },
    });
    const result = (await h.result()) as FailoverResult;
    expect(result.outcome).toBe('switched');
    expect(result.rpo.lag).toBe(0);
    expect(result.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining(['consistency gate', 'fence source', 'catch up', 'promote target', 'switch routing', 'demote source', 'validate']),
    );
    expect((await routerFor(f.service).read()).routing.weights).toEqual({ 'nats-a': 0, 'nats-b': 100 });

    // Producers that follow the routing now publish to the backup site's stream.
    const after = await eventually(() => f.publish(10, 'backup').catch(() => undefined), 'publish to the promoted stream');
    expect(after).toEqual([31, 32, 33, 34, 35, 36, 37, 38, 39, 40]);
    expect((await (await f.jsm('backup')).streams.info(STREAM)).state.messages).toBe(before.length + after.length);
    // The old source is now a standby of the new one and catches up with everything.
    await eventually(async () => ((await (await f.jsm('source')).streams.info(STREAM)).state.messages === 40 ? true : undefined), 'old source resynced');
    console.log(`NATS switchover: ${before.length + after.length} messages, 0 lost, RTO ${result.rtoMs}ms`);
  });
});
