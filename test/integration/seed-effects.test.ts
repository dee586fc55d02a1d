import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../src/activities';
import { freePort } from '../../dev/devserver/free-port';
import { startPrometheus, type LocalPrometheus } from '../../dev/devserver/local-prometheus';
import { validateConfig, type Config } from '../../src/domain/config';
import { runbookWorkflowId } from '../../src/domain/workflow-ids';
import { approveUpdate } from '../../src/workflows/controls';
import type { FailoverResult } from '../../src/workflows/failover';
import { replayThenCleanUp } from '../support/histories';
import { startHttpServer, type LocalHttpServer } from '../support/http-servers';
import { startRedisService, withPolicy, type RedisServiceFixture } from '../support/redis-service';
import { failureOf } from '../support/runbooks';
import { temporalHarness, testLogger, type TemporalHarness } from '../support/temporal';
import { until } from '../support/wait';
import { statusQuery } from '../../src/api/queries';

/** The two seed keys the README documented before they did anything: performance.max_failover_time and quality.max_error_rate; and performance_validation. */
describe('max_failover_time, performance_validation (real Temporal, Redis, HAProxy)', () => {
  let fx: RedisServiceFixture;
  let t: TemporalHarness;
  let config: Config;
  let hook: LocalHttpServer;
  const alerts: { alert: string; service: string; summary: string; resolved?: boolean; phase?: string }[] = [];
  const ran: string[] = [];

  beforeAll(async () => {
    hook = await startHttpServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        alerts.push(JSON.parse(body));
        res.writeHead(200).end();
      });
    });
    fx = await startRedisService('rto-bus', {
      notifications: { webhook: `${hook.url}/alerts` },
      failover_execution: { consistency_check: { timeout: '10s' } },
    });
    config = fx.config;
    t = await temporalHarness(() => config);
    ran.push(runbookWorkflowId('rto-bus'));
  });
  afterAll(async () => {
    await replayThenCleanUp(t, ran, 'seed-effects', async () => {
      await fx?.stop();
      await hook?.close();
    });
  });

  it('a failover that has not moved traffic within max_failover_time raises an alert at that moment and is marked in its status and result', async () => {
    config = withPolicy(fx, {
      failover_execution: { approval: { required: true, timeout: '2m', default_action: 'abort' } },
      performance: { max_failover_time: '1s' },
    });
    const handle = await t.client.workflow.start('failover', {
      taskQueue: t.taskQueue,
      workflowId: runbookWorkflowId('rto-bus'),
      args: [{ service: 'rto-bus', to: 'redis-b', planned: true, actor: 'tester' }],
    });
    // Held at the approval gate, so the objective passes whatever the machine's speed; the alerts say when.
    await until(
      () => alerts.some((a) => a.alert === 'FailoverTimeExceeded') && alerts.some((a) => a.alert === 'FailoverApprovalRequired'),
      20_000,
      'both alerts',
    );
    const alert = alerts.find((a) => a.alert === 'FailoverTimeExceeded')!;
    expect(alert).toMatchObject({ service: 'rto-bus' });
    expect(alert.summary).toMatch(
      /^switchover of rto-bus \(redis-a → redis-b\) has not moved traffic within performance\.max_failover_time 1s \(phase [a-z-]+, step [a-z ]+\)$/,
    );
    await new Promise((r) => setTimeout(r, 500));
    const overdue = await handle.query(statusQuery);
    expect(overdue.phase).toBe('awaiting-approval');
    expect(overdue.objective).toEqual({ maxFailoverTime: '1s', exceeded: true });
    expect(overdue.steps.find((s) => s.name === 'max_failover_time exceeded')).toMatchObject({ outcome: 'failed', numbers: { maxMs: 1000 } });

    await handle.executeUpdate(approveUpdate, { args: [{ by: 'tester' }] });
    const result = (await handle.result()) as FailoverResult;
    expect(result.outcome).toBe('switched');
    expect(result.objective).toEqual({ maxFailoverTime: '1s', exceeded: true, trafficMoved: true });
    expect(result.rtoMs).toBeGreaterThan(1000);
    expect(result.steps.map((s) => s.name)).toContain('max_failover_time exceeded');
  });

  it('one that moves traffic within it is marked as met and raises nothing', async () => {
    config = withPolicy(fx, { performance: { max_failover_time: '60s' } });
    const before = alerts.length;
    const result = (await t.client.workflow.execute('failover', {
      taskQueue: t.taskQueue,
      workflowId: runbookWorkflowId('rto-bus'),
      args: [{ service: 'rto-bus', to: 'redis-a', planned: true, actor: 'tester' }],
    })) as FailoverResult;
    expect(result.outcome).toBe('switched');
    expect(result.objective).toEqual({ maxFailoverTime: '60s', exceeded: false, trafficMoved: true });
    expect(result.rtoMs).toBeLessThan(60_000);
    expect(result.steps.map((s) => s.name)).not.toContain('max_failover_time exceeded');
    expect(alerts.slice(before).filter((a) => a.alert === 'FailoverTimeExceeded')).toEqual([]);
  });

  it('performance_validation: a returning destination must also answer within quality.max_latency before it is restored', async () => {
    // Two webhook endpoints behind the file router; hook-b answers, but in 150 ms.
    const fast = await startHttpServer((_req, res) => res.writeHead(200).end('ok'));
    const slow = await startHttpServer((_req, res) => void setTimeout(() => res.writeHead(200).end('ok'), 150));
    try {
      const hooks = (performanceValidation: boolean) =>
        validateConfig({
          failover_manager: {
            quality: { max_latency: '20ms' },
            recovery_management: { performance_validation: performanceValidation, validation_intervals: 2 },
            failover_detection: { detection_interval: '100ms' },
          },
          services: [
            {
              name: 'slow-hooks',
              router: { type: 'file', path: path.join(fx.dir, 'slow-hooks.json') },
              destinations: [
                { id: 'hook-a', zone: 'z1', region: 'r1', probe: { type: 'http', url: `${fast.url}/health` } },
                { id: 'hook-b', zone: 'z2', region: 'r1', probe: { type: 'http', url: `${slow.url}/health` } },
              ],
            },
          ],
        });
      ran.push(runbookWorkflowId('slow-hooks'));
      const recovery = (n: number) =>
        t.client.workflow.execute('recovery', {
          taskQueue: t.taskQueue,
          workflowId: runbookWorkflowId('slow-hooks'),
          args: [{ service: 'slow-hooks', destination: 'hook-b', failback: false, actor: `tester ${n}` }],
        });
      config = hooks(true);
      const refused = await failureOf(recovery(1));
      expect(refused.type).toBe('NotHealthy');
      expect(refused.message).toMatch(
        /^hook-b is not healthy yet: probe 1\/2 answered in \d+ms, slower than quality\.max_latency 20ms \(performance_validation\)$/,
      );
      // The same slow answers pass when only being up is checked.
      config = hooks(false);
      expect(await recovery(2)).toMatchObject({ outcome: 'standby-restored' });
    } finally {
      await fast.close();
      await slow.close();
    }
  });
});

describe('quality.max_error_rate bounds error-rate validation probes (real Prometheus)', () => {
  let prom: LocalPrometheus;
  let target: LocalHttpServer;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-error-rate-'));

  beforeAll(async () => {
    prom = await startPrometheus({ port: await freePort(), dir, targets: [] });
    target = await startHttpServer((_req, res) => res.writeHead(200).end('ok'));
  });
  afterAll(async () => {
    await prom?.stop();
    await target?.close();
  });

  const configWith = (maxErrorRate: number, ratio: number): Config =>
    validateConfig({
      failover_manager: { quality: { max_error_rate: maxErrorRate } },
      services: [
        {
          name: 'hooks',
          router: { type: 'file', path: path.join(dir, 'routing.json') },
          // The query stands for sum(rate(errors[1m])) / sum(rate(requests[1m])): its value is the ratio.
          validation: [{ type: 'prometheus', url: prom.url, query: `vector(${ratio})`, error_rate: true }],
          destinations: [{ id: 'hook-a', zone: 'z', region: 'r', probe: { type: 'http', url: `${target.url}/health` } }],
        },
      ],
    });

  it('passes at or below the bound and fails above it, naming both numbers', async () => {
    const validate = async (maxErrorRate: number, ratio: number) => {
      const config = configWith(maxErrorRate, ratio);
      const act = createActivities({ config: () => config, logger: testLogger });
      return (await new MockActivityEnvironment().run(act.validateStep, config.services[0]!, 'hook-a', false)) as Awaited<ReturnType<typeof act.validateStep>>;
    };
    const ok = await validate(0.05, 0.02);
    expect(ok.ok).toBe(true);
    expect(ok.checks.find((c) => c.name === 'validation[0]')).toEqual({
      name: 'validation[0]',
      ok: true,
      detail: 'error rate 0.02 (max_error_rate 0.05) passed',
    });
    const bad = await validate(0.01, 0.02);
    expect(bad.ok).toBe(false);
    expect(bad.detail).toMatch(
      /^error rate 0\.02 \(max_error_rate 0\.01\) failed: query "vector\(0\.02\)" on http:\/\/127\.0\.0\.1:\d+\/: value 0\.02 is not <= 0\.01 \(quality\.max_error_rate\)$/,
    );
  });
});
