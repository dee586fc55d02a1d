import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../dev/devserver/free-port';
import { routerFor } from '../../src/drivers';
import { startMutatingRunbook } from '../../src/client/start-runbook';
import { startRedis } from '../../dev/devserver/local-redis';
import { detectionWorkflowId, runbookWorkflowId } from '../../src/domain/workflow-ids';
import type { Config } from '../../src/domain/config';
import type { RebalanceResult } from '../../src/workflows/rebalance';
import { startActiveActive, type ActiveActiveFixture } from '../support/active-active';
import { replayThenCleanUp } from '../support/histories';
import { failureOf } from '../support/runbooks';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { until } from '../support/wait';
import { healthQuery, redundancyQuery } from '../../src/api/queries';

const policy = {
  failover_detection: { detection_interval: '200ms', timeout: '500ms', failure_threshold: 3, recovery_threshold: 3, cooldown: '1s' },
  failover_execution: { gradual_failover: { soak: '1s' } },
  redundancy_management: { slow_start_steps: 3, max_load_factor: 2 },
};

describe('active-active redundancy on real destinations', () => {
  const fixtures = new Map<string, ActiveActiveFixture>();
  let t: TemporalHarness;
  const ran: string[] = [];
  const config = (): Config => {
    const all = [...fixtures.values()];
    return { ...all[0]!.config, services: all.map((f) => f.service) };
  };

  beforeAll(async () => {
    fixtures.set(
      'aa-three',
      await startActiveActive(
        'aa-three',
        [
          { id: 'a', zone: 'z1', weight: 100 },
          { id: 'b', zone: 'z2', weight: 100 },
          { id: 'c', zone: 'z3', weight: 50 },
        ],
        policy,
      ),
    );
    fixtures.set(
      'aa-zones',
      await startActiveActive(
        'aa-zones',
        [
          { id: 'a1', zone: 'z1', weight: 100 },
          { id: 'a2', zone: 'z1', weight: 100 },
          { id: 'b1', zone: 'z2', weight: 100 },
          { id: 'b2', zone: 'z2', weight: 100 },
        ],
        policy,
      ),
    );
    t = await temporalHarness(config);
  });
  afterAll(async () => {
    for (const name of fixtures.keys())
      await t.client.workflow
        .getHandle(detectionWorkflowId(name))
        .terminate('test done')
        .catch(() => undefined);
    await replayThenCleanUp(t, ran, 'active-active', async () => {
      for (const f of fixtures.values()) await f.stop();
    });
  });

  it('loses one of three destinations and gets it back: share moves by capacity, then slow start', async () => {
    const fx = fixtures.get('aa-three')!;
    const router = routerFor(fx.service);
    expect(fx.initial.a).toBe(fx.initial.b);
    expect(fx.initial.a).toBe(2 * fx.initial.c!);
    const det = await t.client.workflow.start('detection', {
      taskQueue: t.taskQueue,
      workflowId: detectionWorkflowId('aa-three'),
      args: [{ service: 'aa-three' }],
    });
    ran.push(det.workflowId);
    await until(async () => (await det.query(healthQuery)).watching, 10_000);

    await fx.topology.redis.c!.kill('SIGKILL');
    await until(async () => (await router.read()).routing.weights.c === 0, 30_000, 'c ejected');
    const afterLoss = (await router.read()).routing.weights;
    expect(afterLoss.a).toBeGreaterThan(0);
    expect(afterLoss.a).toBe(afterLoss.b); // equal capacities take equal shares of c's load
    const lossRun = (await t.client.workflow.getHandle(runbookWorkflowId('aa-three')).result()) as RebalanceResult;
    ran.push(runbookWorkflowId('aa-three'));
    expect(lossRun.members.find((m) => m.id === 'c')!.state).toBe('ejected');
    const loadA = lossRun.members.find((m) => m.id === 'a')!.load;
    expect(loadA).toBeCloseTo(125, 0); // 250 units of demand over a and b

    const seen: number[] = [];
    const watch = setInterval(
      () =>
        void router
          .read()
          .then((r) => seen.push(r.routing.weights.c ?? 0))
          .catch(() => undefined),
      50,
    );
    fx.topology.redis.c = await startRedis({ port: fx.topology.redis.c!.port, dir: fx.dir, name: 'c-back' });
    try {
      await until(async () => (await router.read()).routing.weights.c === fx.initial.c, 30_000, 'c back at full weight');
    } finally {
      clearInterval(watch);
    }
    expect((await router.read()).routing.weights).toEqual(fx.initial);
    // Slow start: c held an intermediate weight on the way back.
    expect(seen.some((w) => w > 0 && w < fx.initial.c!)).toBe(true);
    // One rebalance for c's loss, one for its return (a slow probe of a or b on a busy machine may add its own).
    const s = await det.query(healthQuery);
    expect(s.decisions.filter((d) => d.decision.action === 'rebalance' && d.event.destination === 'c')).toHaveLength(2);
    console.log(
      `active-active: initial ${JSON.stringify(fx.initial)}, after losing c ${JSON.stringify(afterLoss)}, slow-start weights of c seen ${JSON.stringify([...new Set(seen)])}`,
    );
  });

  it('fails over a whole zone (two destinations) in one plan', async () => {
    const fx = fixtures.get('aa-zones')!;
    const router = routerFor(fx.service);
    const before = (await router.read()).routing;
    const h = await startMutatingRunbook(t.client, {
      taskQueue: t.taskQueue,
      type: 'rebalance',
      service: 'aa-zones',
      input: { drain: { zone: 'z1' }, actor: 'test', reason: 'zone z1 network maintenance' },
    });
    ran.push(h.workflowId);
    const result = (await h.result()) as RebalanceResult;
    const after = (await router.read()).routing;
    expect(after.weights.a1).toBe(0);
    expect(after.weights.a2).toBe(0);
    expect(after.weights.b1).toBeGreaterThan(0);
    expect(after.weights.b1).toBe(after.weights.b2);
    // One routing write moved both: the generation advanced once.
    expect(after.generation).toBe(before.generation + 1);
    expect(result.steps.filter((s) => s.name === 'apply weights')).toHaveLength(1);
    console.log(`zone failover: ${JSON.stringify(before.weights)} -> ${JSON.stringify(after.weights)}`);

    const bad = await failureOf(
      startMutatingRunbook(t.client, { taskQueue: t.taskQueue, type: 'rebalance', service: 'aa-zones', input: { drain: { destinations: ['nope'] } } }).then(
        (x) => x.result(),
      ),
    );
    expect(bad.message).toMatch(/input\.drain\.destinations: no destination "nope"/);
    ran.push(runbookWorkflowId('aa-zones'));
  });
});

describe('redundancy runbook', () => {
  let fx: ActiveActiveFixture;
  let t: TemporalHarness;
  let webhookHits: unknown[] = [];
  let server: http.Server;

  beforeAll(async () => {
    const port = await freePort();
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        webhookHits.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    fx = await startActiveActive(
      'aa-red',
      [
        { id: 'p', zone: 'z1', weight: 100 },
        { id: 'q', zone: 'z2', weight: 100 },
      ],
      {
        ...policy,
        redundancy_management: {
          ...policy.redundancy_management,
          redundancy_level: 1,
          check_interval: '300ms',
          alert_webhook: `http://127.0.0.1:${port}/hook`,
        },
      },
    );
    t = await temporalHarness(() => fx.config);
  });
  afterAll(async () => {
    await t?.client.workflow
      .getHandle('redundancy-aa-red')
      .terminate('test done')
      .catch(() => undefined);
    await t?.close();
    await fx?.stop();
    server?.close();
  });

  it('reports redundancy per scope and raises an alert (webhook) when a service drops below its level', async () => {
    webhookHits = [];
    const h = await t.client.workflow.start('redundancy', { taskQueue: t.taskQueue, workflowId: 'redundancy-aa-red', args: [{ service: 'aa-red' }] });
    await until(async () => (await h.query(redundancyQuery)).assessment?.verdict === 'ok', 15_000, 'ok verdict');
    await fx.topology.redis.q!.kill('SIGKILL');
    await until(async () => (await h.query(redundancyQuery)).assessment?.verdict === 'below-level', 15_000, 'below-level verdict');
    await until(() => webhookHits.length > 0, 10_000, 'webhook called');
    await until(async () => (await h.query(redundancyQuery)).events.some((e) => e.action === 'alert raised'), 10_000, 'alert recorded');
    expect(webhookHits[0]).toMatchObject({ alert: 'redundancy-below-level', service: 'aa-red', healthyBackups: 0, required: 1 });
    const s = await h.query(redundancyQuery);
    expect(s.events.map((e) => e.to)).toEqual(['ok', 'below-level']);
    expect(s.events[1]!.action).toBe('alert raised');
    expect(s.assessment?.byZone).toEqual([
      { key: 'z1', healthy: ['p'], total: 1 },
      { key: 'z2', healthy: [], total: 1 },
    ]);
  });
});
