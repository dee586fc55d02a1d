import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routerFor } from '../../src/drivers';
import type { Config } from '../../src/domain/config';
import { primaryOf } from '../../src/domain/routing';
import { detectionWorkflowId, runbookWorkflowId } from '../../src/domain/workflow-ids';
import { auditSequencedWrites, startSequencedWriter } from '../../dev/harness/redis-sequenced-writer';
import { replayThenCleanUp } from '../support/histories';
import { startRedisService, type RedisServiceFixture } from '../support/redis-service';
import { startForwarder, type TcpForwarder } from '../support/tcp-forwarder';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { until } from '../support/wait';
import { healthQuery } from '../../src/api/queries';

/**
 * Vantage points and certain evidence, on real Redis behind HAProxy. Each observer probes redis-a
 * through its own TCP forwarder — its own network path — so the test can cut or slow one path
 * without touching redis-a.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const detection = { detection_interval: '200ms', timeout: '400ms', failure_threshold: 3, recovery_threshold: 3, cooldown: '1m' };
const routed = async (fx: RedisServiceFixture) => primaryOf((await routerFor(fx.service).read()).routing);
const health = (t: TemporalHarness, name: string) => t.client.workflow.getHandle(detectionWorkflowId(name)).query(healthQuery);

async function watch(t: TemporalHarness, name: string, ran: string[]) {
  const h = await t.client.workflow.start('detection', { taskQueue: t.taskQueue, workflowId: detectionWorkflowId(name), args: [{ service: name }] });
  ran.push(h.workflowId, runbookWorkflowId(name));
  await until(async () => (await health(t, name)).watching, 10_000, `${name} watched`);
  await sleep(1500); // every observer has a full, clean window
}

describe('two observers that must agree (quorum 2)', () => {
  let fx: RedisServiceFixture;
  let t: TemporalHarness;
  const paths: TcpForwarder[] = [];
  const ran: string[] = [];

  beforeAll(async () => {
    fx = await startRedisService('obs-quorum', { failover_detection: { ...detection, observers: ['o1', 'o2'], quorum: 2 } });
    const a = fx.topology.redis['redis-a']!.port;
    for (let i = 0; i < 2; i++) paths.push(await startForwarder(a));
    const route = (f: TcpForwarder) => ({ [`127.0.0.1:${a}`]: `127.0.0.1:${f.port}` });
    t = await temporalHarness((): Config => fx.config, {
      observers: [
        { zone: 'o1', routes: route(paths[0]!) },
        { zone: 'o2', routes: route(paths[1]!) },
      ],
    });
  });
  afterAll(async () => {
    await t?.client.workflow
      .getHandle(detectionWorkflowId('obs-quorum'))
      .terminate('test done')
      .catch(() => undefined);
    await replayThenCleanUp(t, ran, 'observers', async () => {
      for (const p of paths) await p.close();
      await fx?.stop();
    });
  });

  it('one observer losing its path to a healthy primary fails nothing over, and the decision says why; both seeing it down does', async () => {
    await watch(t, 'obs-quorum', ran);
    await paths[0]!.cut();
    await until(
      async () => (await health(t, 'obs-quorum')).decisions.some((d) => /not confirmed/.test(d.decision.reason)),
      10_000,
      'unconfirmed down recorded',
    );
    await sleep(1500);
    const h = await health(t, 'obs-quorum');
    const note = h.decisions.find((d) => /not confirmed/.test(d.decision.reason))!;
    expect(note.decision.action).toBe('none');
    expect(note.decision.reason).toMatch(/redis-a down for o1 .*o1: down, o2: up; quorum 2/);
    expect(note.votes).toEqual({ o1: 'down', o2: 'up' });
    expect(h.health['redis-a']!.status).toBe('up');
    expect(await routed(fx)).toBe('redis-a');
    expect(h.decisions.some((d) => d.decision.action === 'failover')).toBe(false);

    await paths[0]!.restore();
    await sleep(1000);
    await fx.topology.redis['redis-a']!.kill('SIGKILL');
    await until(async () => (await routed(fx)) === 'redis-b', 30_000, 'failover once both observers see redis-a down');
    const failover = (await health(t, 'obs-quorum')).decisions.find((d) => d.decision.action === 'failover')!;
    expect(failover.votes).toEqual({ o1: 'down', o2: 'down' });
    expect(failover.event.reason).toMatch(/o1: down, o2: down; quorum 2/);
  });
});

describe('intelligent detection: one probe when the evidence is certain, the full threshold otherwise', () => {
  const fixtures: RedisServiceFixture[] = [];
  const paths = new Map<string, TcpForwarder>();
  let t: TemporalHarness;
  const ran: string[] = [];

  beforeAll(async () => {
    const policy = { failover_detection: { ...detection, detection_interval: '500ms', intelligent_detection: true } };
    for (const name of ['smart-kill', 'smart-slow', 'smart-flap']) fixtures.push(await startRedisService(name, policy));
    // Slow and flapping redis-a are seen through a forwarder; redis-b replicates from redis-a directly.
    const routes: Record<string, string> = {};
    for (const fx of fixtures.slice(1)) {
      const a = fx.topology.redis['redis-a']!.port;
      const f = await startForwarder(a);
      paths.set(fx.service.name, f);
      routes[`127.0.0.1:${a}`] = `127.0.0.1:${f.port}`;
    }
    t = await temporalHarness((): Config => ({ ...fixtures[0]!.config, services: fixtures.map((f) => f.service) }), { observer: { routes } });
  });
  afterAll(async () => {
    for (const name of ['smart-kill', 'smart-slow', 'smart-flap'])
      await t?.client.workflow
        .getHandle(detectionWorkflowId(name))
        .terminate('test done')
        .catch(() => undefined);
    await replayThenCleanUp(t, ran, 'intelligent', async () => {
      for (const p of paths.values()) await p.close();
      for (const fx of fixtures) await fx.stop();
    });
  });

  it('SIGKILL of the primary: down after one failed probe, with the evidence recorded, and nothing acknowledged before the last observation lost', async () => {
    const fx = fixtures[0]!;
    await watch(t, 'smart-kill', ran);
    const writer = startSequencedWriter({ host: '127.0.0.1', port: fx.topology.haproxy.frontendPort, prefix: 'smart', maxDurationMs: 60_000 });
    await until(() => writer.ackedCount > 300);
    const killedAt = Date.now();
    await fx.topology.redis['redis-a']!.kill('SIGKILL');
    await until(async () => (await routed(fx)) === 'redis-b', 30_000, 'traffic on redis-b');
    const report = await writer.stop();
    const decision = (await health(t, 'smart-kill')).decisions.find((d) => d.decision.action === 'failover')!;
    expect(decision.event.reason).toMatch(
      /^certainly gone after [12] failed probe\(s\) \(threshold 3 not needed\): port refused .*redis-b report their link to redis-a down; the entrypoint fails too/,
    );
    const before = report.acked.filter((_, i) => report.ackedAt[i]! <= killedAt - 1000);
    const audit = await auditSequencedWrites({ host: '127.0.0.1', port: fx.topology.redis['redis-b']!.port, prefix: 'smart' }, before);
    expect(audit.missing).toEqual([]);
    console.log(`intelligent detection: decided ${new Date(decision.at).getTime() - killedAt}ms after the kill (${decision.event.reason.split(':')[0]})`);
  });

  it('a primary that only answers slowly waits for the full threshold', async () => {
    await watch(t, 'smart-slow', ran);
    paths.get('smart-slow')!.delayMs = 1000; // past the 400ms probe timeout
    await until(
      async () => (await health(t, 'smart-slow')).decisions.some((d) => d.event.destination === 'redis-a' && d.event.kind === 'down'),
      15_000,
      'slow primary called down',
    );
    const down = (await health(t, 'smart-slow')).decisions.find((d) => d.event.destination === 'redis-a' && d.event.kind === 'down')!;
    expect(down.event.reason).toMatch(/^3 consecutive failed probes \(threshold 3\); last timeout/);
    paths.get('smart-slow')!.delayMs = 0;
  });

  it('a flapping path (refused, then answering) never makes a fast decision', async () => {
    await watch(t, 'smart-flap', ran);
    const f = paths.get('smart-flap')!;
    for (let i = 0; i < 6; i++) {
      await f.cut();
      await sleep(600);
      await f.restore();
      await sleep(1200);
    }
    const h = await health(t, 'smart-flap');
    expect(h.decisions.filter((d) => /certainly gone/.test(d.event.reason))).toEqual([]);
    expect(h.decisions.filter((d) => d.decision.action === 'failover')).toEqual([]);
    expect(await routed(fixtures[2]!)).toBe('redis-a');
  });
});
