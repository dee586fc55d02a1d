import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { runtimeSet } from '../../src/drivers/routers/haproxy-runtime';
import { replicationInfo, withRedis } from '../../src/drivers/redis-connection';
import { routerFor } from '../../src/drivers';
import { freePort } from '../../dev/devserver/free-port';
import { startRedis, type LocalRedis } from '../../dev/devserver/local-redis';
import { startProcess, waitForPort, type LocalProcess } from '../../dev/devserver/processes';
import { validateConfig, type Config } from '../../src/domain/config';
import { primaryOf } from '../../src/domain/routing';
import { runbookWorkflowId } from '../../src/domain/workflow-ids';
import { auditSequencedWrites, startSequencedWriter } from '../../dev/harness/redis-sequenced-writer';
import type { FailoverResult } from '../../src/workflows/failover';
import { replayThenCleanUp } from '../support/histories';
import { failureOf } from '../support/runbooks';
import { temporalHarness, testLogger, type TemporalHarness } from '../support/temporal';
import { until } from '../support/wait';

/** The sample configs users are told to copy, run byte for byte (addresses come from the environment). */
const ROLE_CHECK = path.resolve(__dirname, '..', '..', 'docs', 'haproxy', 'redis-role-check.cfg');
const DECLARED = path.resolve(__dirname, '..', '..', 'docs', 'haproxy', 'redis.cfg');

interface Haproxy extends LocalProcess {
  admin: string;
  frontend: number;
}

async function startPublishedHaproxy(file: string, dir: string, redisA: number, redisB: number): Promise<Haproxy> {
  const [admin, frontend] = [await freePort(), await freePort()];
  const env = {
    ...process.env,
    ADMIN: `127.0.0.1:${admin}`,
    FRONTEND: `127.0.0.1:${frontend}`,
    REDIS_A: `127.0.0.1:${redisA}`,
    REDIS_B: `127.0.0.1:${redisB}`,
  };
  const proc = startProcess(`haproxy-${path.basename(file)}`, 'haproxy', ['-db', '-f', file], path.join(dir, `${path.basename(file)}.log`), env);
  await waitForPort(admin, proc);
  await waitForPort(frontend, proc);
  return { ...proc, admin: `127.0.0.1:${admin}`, frontend };
}

function configFor(name: string, h: Haproxy, a: LocalRedis, b: LocalRedis): Config {
  return validateConfig({
    failover_manager: { failover_detection: { timeout: '1s' }, failover_execution: { consistency_check: { timeout: '10s' } } },
    services: [
      {
        name,
        router: { type: 'haproxy', address: h.admin, backend: 'orders' },
        entrypoint: { type: 'redis', host: '127.0.0.1', port: h.frontend },
        destinations: [
          { id: 'redis-a', zone: 'z1', region: 'r1', probe: { type: 'redis', host: '127.0.0.1', port: a.port }, replication: { type: 'redis' } },
          { id: 'redis-b', zone: 'z2', region: 'r1', probe: { type: 'redis', host: '127.0.0.1', port: b.port }, replication: { type: 'redis' } },
        ],
      },
    ],
  });
}

const roleOf = (port: number) => withRedis({ host: '127.0.0.1', port }, 1000, replicationInfo).then((i) => i.role);

describe('the published HAProxy configs for Redis (docs/haproxy), against real HAProxy and Redis', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-haproxy-docs-'));
  let a: LocalRedis;
  let b: LocalRedis;
  let roleCheck: Haproxy;
  let config: Config;
  let t: TemporalHarness;
  const procs: { stop(): Promise<void> }[] = [];
  const readRouting = (c: Config) => {
    const act = createActivities({ config: () => c, logger: testLogger });
    return new MockActivityEnvironment().run(act.readRouting, c.services[0]!) as ReturnType<typeof act.readRouting>;
  };

  beforeAll(async () => {
    // redis-b is the primary, redis-a its replica: the opposite of name order.
    b = await startRedis({ port: await freePort(), dir, name: 'redis-b' });
    a = await startRedis({ port: await freePort(), dir, name: 'redis-a', replicaOfPort: b.port });
    procs.push(a, b);
    await until(async () => (await withRedis({ host: '127.0.0.1', port: a.port }, 1000, replicationInfo)).linkUp === true, 10_000, 'replica link');
    roleCheck = await startPublishedHaproxy(ROLE_CHECK, dir, a.port, b.port);
    procs.push(roleCheck);
    config = configFor('roles-bus', roleCheck, a, b);
    // HAProxy's role:master check has marked redis-a down and redis-b up.
    await until(
      async () => {
        const d = (await routerFor(config.services[0]!).read()).detail;
        return d['redis-a']!.up === false && d['redis-b']!.up === true;
      },
      15_000,
      'HAProxy role check settled',
    );
    t = await temporalHarness(() => config);
  });
  afterAll(async () => {
    await replayThenCleanUp(t, [runbookWorkflowId('roles-bus')], 'haproxy-configs', () => Promise.all(procs.map((p) => p.stop())));
  });

  it('manager-declared variant: the standby starts in maintenance and the weighted server is the primary', async () => {
    // Declared by hand here: the server listed first (weighted) is the real primary, b's redis-server.
    const declared = await startPublishedHaproxy(DECLARED, dir, b.port, a.port);
    procs.push(declared);
    const c = configFor('declared-bus', declared, b, a);
    const r = await readRouting(c);
    expect(r.routing.weights).toEqual({ 'redis-a': 100, 'redis-b': 0 });
    expect(r.detail['redis-b']!.state).toBe('maint');
    expect(primaryOf(r.routing)).toBe('redis-a');
    await declared.stop();
  });

  it('role-checking variant: equal weights, and the primary is the destination whose role says so, not the first by name', async () => {
    const r = await readRouting(config);
    expect(r.routing.weights).toEqual({ 'redis-a': 1, 'redis-b': 1 });
    expect(r.routing.primary).toBe('redis-b');
    expect(primaryOf(r.routing)).toBe('redis-b');
  });

  it('a planned switchover works through it with writes flowing, nothing acknowledged lost', async () => {
    const writer = startSequencedWriter({ host: '127.0.0.1', port: roleCheck.frontend, prefix: 'roles', maxDurationMs: 60_000 });
    await until(() => writer.ackedCount > 100, 10_000, 'writes through HAProxy');
    const result = (await t.client.workflow.execute('failover', {
      taskQueue: t.taskQueue,
      workflowId: runbookWorkflowId('roles-bus'),
      args: [{ service: 'roles-bus', planned: true, actor: 'tester' }],
    })) as FailoverResult;
    const report = await writer.stop();
    expect(result).toMatchObject({ outcome: 'switched', source: 'redis-b', target: 'redis-a' });
    expect(result.routingBefore).toEqual({ generation: 0, weights: { 'redis-a': 1, 'redis-b': 1 }, primary: 'redis-b' });
    expect(result.routingAfter.weights).toEqual({ 'redis-a': 100, 'redis-b': 0 });
    expect([await roleOf(a.port), await roleOf(b.port)]).toEqual(['master', 'slave']);
    const audit = await auditSequencedWrites({ host: '127.0.0.1', port: a.port, prefix: 'roles' }, report.acked);
    expect(report.acked.length).toBeGreaterThan(100);
    expect(audit.missing).toEqual([]);
  });

  it('refuses, naming both sides, when HAProxy and the roles disagree or two destinations claim the primary role', async () => {
    // Back to the published state (both ready at equal weight), as after a HAProxy reload; redis-a is now the primary.
    for (const s of ['redis-a', 'redis-b']) {
      await runtimeSet({ address: roleCheck.admin }, `set server orders/${s} weight 1`);
      await runtimeSet({ address: roleCheck.admin }, `set server orders/${s} state ready`);
    }
    await until(async () => (await routerFor(config.services[0]!).read()).detail['redis-a']!.up === true, 15_000, 'redis-a up in HAProxy');
    expect((await readRouting(config)).routing.primary).toBe('redis-a');

    // HAProxy's check state says redis-b (forced here; its next checks put it right within seconds).
    await runtimeSet({ address: roleCheck.admin }, 'set server orders/redis-a health down');
    await runtimeSet({ address: roleCheck.admin }, 'set server orders/redis-b health up');
    await expect(readRouting(config)).rejects.toThrow(
      'roles-bus: HAProxy backend orders sends the traffic to redis-b (its health check sees redis-a down), but redis-a reports role primary (redis-a reports primary, redis-b reports replica); router and roles disagree, refusing to act until they agree',
    );

    // Two writers: redis-b promoted by hand.
    await withRedis({ host: '127.0.0.1', port: b.port }, 1000, (r) => r.replicaof('NO', 'ONE'));
    await until(async () => (await routerFor(config.services[0]!).read()).detail['redis-b']!.up === true, 15_000, 'both up in HAProxy');
    const twoWriters =
      /^roles-bus: HAProxy backend orders gives redis-a, redis-b the same weight 1, and redis-a and redis-b both report role primary: two writers/;
    await expect(readRouting(config)).rejects.toThrow(twoWriters);
    // A runbook refuses the same way, before changing anything.
    const refused = await failureOf(
      t.client.workflow.execute('failover', {
        taskQueue: t.taskQueue,
        workflowId: runbookWorkflowId('roles-bus'),
        args: [{ service: 'roles-bus', actor: 'tester' }],
      }),
    );
    expect(refused.type).toBe('AmbiguousPrimary');
    expect(refused.message).toMatch(twoWriters);
    expect((await routerFor(config.services[0]!).read()).routing.weights).toEqual({ 'redis-a': 1, 'redis-b': 1 });
  });
});
