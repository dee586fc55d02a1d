import net from 'node:net';
import type { WorkflowHandleWithFirstExecutionRunId as WorkflowHandle } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { routerFor } from '../../src/drivers';
import { startMutatingRunbook } from '../../src/client/start-runbook';
import type { Config } from '../../src/domain/config';
import { freePort } from '../../dev/devserver/free-port';
import { startSequencedWriter } from '../../dev/harness/redis-sequenced-writer';
import type { FailoverResult } from '../../src/workflows/failover';
import { replayThenCleanUp } from '../support/histories';
import { startRedisService, withPolicy, type RedisServiceFixture } from '../support/redis-service';
import { failureOf, rejectionOf } from '../support/runbooks';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { statusUntil, until } from '../support/wait';
import Redis from 'ioredis';
import { statusQuery } from '../../src/api/queries';
import { abortUpdate, pauseUpdate, resumeUpdate } from '../../src/workflows/controls';

const SERVICE = 'webhooks';

/** A TCP listener the test opens and closes: the service's extra validation check. */
async function switchableCheck() {
  const port = await freePort();
  let server: net.Server | undefined;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      if (server?.listening) return resolve();
      server = net
        .createServer((s) => s.end())
        .once('error', reject)
        .listen(port, '127.0.0.1', () => resolve());
    });
  const close = () => new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
  await open();
  return { port, open, close };
}

describe('gradual failover between independent destinations (two queues behind HAProxy)', () => {
  let fx: RedisServiceFixture;
  let config: Config;
  let t: TemporalHarness;
  let check: Awaited<ReturnType<typeof switchableCheck>>;
  const ran: string[] = [];

  const routing = async () => (await routerFor(fx.service).read()).routing;
  const start = async (input: Record<string, unknown>): Promise<WorkflowHandle> => {
    const h = await startMutatingRunbook(t.client, { taskQueue: t.taskQueue, type: 'failover', service: SERVICE, input });
    ran.push(h.workflowId);
    return h;
  };
  /** Back to everything on redis-a, for the next test. */
  const reset = async () => {
    const r = await routing();
    if (r.weights['redis-a'] !== 100 || r.weights['redis-b'] !== 0) await routerFor(fx.service).apply({ 'redis-a': 100, 'redis-b': 0 }, r.generation);
  };

  beforeAll(async () => {
    check = await switchableCheck();
    fx = await startRedisService(
      SERVICE,
      { failover_execution: { gradual_failover: { steps: [25, 50, 100], soak: '700ms' } } },
      { replicated: false, validation: [{ type: 'tcp', host: '127.0.0.1', port: check.port }] },
    );
    config = fx.config;
    t = await temporalHarness(() => config);
  });
  afterEach(async () => {
    const h = t.client.workflow.getHandle(`runbook-${SERVICE}`);
    if (
      await h.describe().then(
        (d) => d.status.name === 'RUNNING',
        () => false,
      )
    )
      await h.terminate('test cleanup');
    await check.open().catch(() => undefined);
    config = fx.config;
    await reset();
  });
  afterAll(async () => {
    await replayThenCleanUp(t, ran, 'gradual', async () => {
      await check?.close();
      await fx?.stop();
    });
  });

  it('shifts weight 25/50/100 with soak and validation, under write load, losing no acknowledged write', async () => {
    const writer = startSequencedWriter({
      host: '127.0.0.1',
      port: fx.topology.haproxy.frontendPort,
      prefix: 'ramp',
      maxDurationMs: 60_000,
      reconnectEvery: 10,
    });
    await until(() => writer.ackedCount > 100);
    const seen = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        seen.add(JSON.stringify((await routing()).weights));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const result = (await (await start({ to: 'redis-b', actor: 'test' })).result()) as FailoverResult;
    watching = false;
    await watcher;
    const n = writer.ackedCount;
    await until(() => writer.ackedCount > n + 100);
    const report = await writer.stop();

    expect(result.outcome).toBe('switched');
    expect(result.steps.map((s) => s.name)).toEqual([
      'read routing',
      'probe destinations',
      'plan',
      'shift 25%',
      'validate 25%',
      'shift 50%',
      'validate 50%',
      'shift 100%',
      'validate 100%',
      'cut old sessions',
      'done',
    ]);
    expect(result.routingAfter.weights).toEqual({ 'redis-a': 0, 'redis-b': 100 });
    // The router went through each step.
    expect(seen).toContain(JSON.stringify({ 'redis-a': 75, 'redis-b': 25 }));
    expect(seen).toContain(JSON.stringify({ 'redis-a': 50, 'redis-b': 50 }));
    // Each acknowledged message is on the destination that acknowledged it: none missing, none doubled.
    const [a, b] = [new Redis(fx.topology.redis['redis-a']!.port), new Redis(fx.topology.redis['redis-b']!.port)];
    const keys = report.acked.map((i) => `ramp:${i}`);
    const [onA, onB] = await Promise.all([a.mget(keys), b.mget(keys)]);
    a.disconnect();
    b.disconnect();
    const missing = report.acked.filter((_, i) => onA[i] === null && onB[i] === null);
    expect(missing).toEqual([]);
    expect(onA.filter((v) => v !== null).length).toBeGreaterThan(0);
    expect(onB.filter((v) => v !== null).length).toBeGreaterThan(0);
    console.log(
      `gradual failover: ${report.acked.length} acked writes (${onA.filter(Boolean).length} on a, ${onB.filter(Boolean).length} on b), 0 lost, RTO ${result.rtoMs}ms`,
    );
  });

  it('validation failure mid-ramp rolls back to the original routing', async () => {
    const before = await routing();
    const h = await start({ to: 'redis-b' });
    // Fail the check as soon as 25 % is live: validation at 25 % (or 50 % at the latest) sees it.
    await statusUntil(h, (s) => s.routingCurrent?.weights['redis-b'] === 25);
    await check.close(); // the error-rate style check now fails
    const f = await failureOf(h.result());
    expect(f.type).toBe('RolledBack');
    expect(f.message).toMatch(/validation failed at (25|50)%: .*tcp check failed/);
    const after = await routing();
    expect(after.weights).toEqual(before.weights);
    expect(after.generation).toBeGreaterThan(before.generation);
    const names = (await h.query(statusQuery)).steps.map((s) => s.name);
    expect(names).toContain('rolled back');
  });

  it('abort mid-ramp rolls back; pause holds the ramp until resume', async () => {
    // A soak long enough that the pause surely lands inside the first one, even on a busy machine.
    config = withPolicy(fx, { failover_execution: { gradual_failover: { steps: [25, 50, 100], soak: '3s' } } });
    const before = await routing();
    const h = await start({ to: 'redis-b' });
    await statusUntil(h, (s) => s.routingCurrent?.weights['redis-b'] === 25);
    expect(await h.executeUpdate(pauseUpdate, { args: [{ by: 'dana' }] })).toMatch(/paused by dana/);
    expect(await rejectionOf(h.executeUpdate(pauseUpdate, { args: [{ by: 'erin' }] }))).toBe('already paused by dana');
    await new Promise((r) => setTimeout(r, 4000)); // longer than the soak: a paused ramp must not move
    const held = await h.query(statusQuery);
    expect(held.controls.paused).toBe(true);
    expect(held.routingCurrent?.weights['redis-b']).toBe(25);
    expect(await h.executeUpdate(resumeUpdate, { args: [{ by: 'dana' }] })).toBe('resumed by dana');
    await statusUntil(h, (s) => (s.routingCurrent?.weights['redis-b'] ?? 0) >= 50);
    expect(await h.executeUpdate(abortUpdate, { args: [{ by: 'dana', reason: 'customer complaints' }] })).toMatch(/abort requested by dana/);
    const f = await failureOf(h.result());
    expect(f.type).toBe('RolledBack');
    expect(f.message).toMatch(/aborted by dana: customer complaints/);
    expect((await routing()).weights).toEqual(before.weights);
  });

  it('a cancellation request from the UI mid-ramp still restores the starting routing', async () => {
    const before = await routing();
    const h = await start({ to: 'redis-b' });
    await statusUntil(h, (s) => s.routingCurrent?.weights['redis-b'] === 25);
    await h.cancel();
    const f = await failureOf(h.result());
    expect(f.type).toBe('RolledBack');
    expect((await routing()).weights).toEqual(before.weights);
  });
});
