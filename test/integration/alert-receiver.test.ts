import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { routerFor } from '../../src/drivers';
import { freePort } from '../../dev/devserver/free-port';
import { listAlerts, postAlerts, startAlertmanager, type LocalAlertmanager } from '../../dev/devserver/local-alertmanager';
import { validateConfig, type Config } from '../../src/domain/config';
import { primaryOf } from '../../src/domain/routing';
import { runbookKindKey, serviceKey, triggerKey } from '../../src/domain/search-attributes';
import { detectionWorkflowId, runbookWorkflowId } from '../../src/domain/workflow-ids';
import { receiverAuthFromEnv } from '../../src/triggers/alert-auth';
import { labelsFingerprint } from '../../src/triggers/alert-payloads';
import { createAlertReceiver, type AlertReceiver } from '../../src/triggers/alert-receiver';
import type { DetectionStatus } from '../../src/api/status';
import type { FailoverResult } from '../../src/workflows/failover';
import { alertSignals, alertmanagerBody, grafanaBody, hmacHex, postRaw, workflowExists, type PostResult } from '../support/alertmanager';
import { startRedisService, type RedisServiceFixture } from '../support/redis-service';
import { temporalHarness, testLogger, type TemporalHarness } from '../support/temporal';
import { until } from '../support/wait';
import { runEntry } from '../support/entry-process';
import { healthQuery } from '../../src/api/queries';

const tcpDestination = (id: string) => ({ id, zone: 'z1', region: 'r1', probe: { type: 'tcp', host: '127.0.0.1', port: 1 } });

describe('alert receiver with a real Alertmanager, detection and a Redis service behind HAProxy', () => {
  const SERVICE = 'alert-bus';
  const TOKEN = `am-${randomUUID()}`;
  let fx: RedisServiceFixture;
  let config: Config;
  let t: TemporalHarness;
  let receiver: AlertReceiver;
  let am: LocalAlertmanager;
  const primaryNow = async () => primaryOf((await routerFor(fx.service).read()).routing);

  beforeAll(async () => {
    fx = await startRedisService(SERVICE, { failover_execution: { consistency_check: { timeout: '10s' } } });
    config = validateConfig({
      ...fx.config,
      alerting: {
        receiver: { token_env: 'AM_WEBHOOK_TOKEN' },
        routes: [
          { match: { team: 'messaging', alertname: { regex: 'Redis(Down|Unreachable)' } }, service: SERVICE, destination_label: 'destination', means: 'down' },
        ],
      },
    });
    t = await temporalHarness(() => config);
    receiver = createAlertReceiver({
      alerting: config.alerting!,
      services: config.services,
      client: t.client,
      taskQueue: t.taskQueue,
      auth: receiverAuthFromEnv(config.alerting!.receiver, { AM_WEBHOOK_TOKEN: TOKEN }),
      logger: testLogger,
    });
    const url = await receiver.listen('127.0.0.1:0');
    am = await startAlertmanager({
      port: await freePort(),
      dir: path.join(fx.dir, 'alertmanager'),
      webhook: { url: `${url}/alerts/alertmanager`, bearerToken: TOKEN, sendResolved: true },
    });
  });
  afterAll(async () => {
    for (const id of [detectionWorkflowId(SERVICE), runbookWorkflowId(SERVICE)]) {
      const h = t?.client.workflow.getHandle(id);
      if (
        h &&
        (await h.describe().then(
          (d) => d.status.name === 'RUNNING',
          () => false,
        ))
      )
        await h.terminate('test cleanup');
    }
    await am?.stop();
    await receiver?.close();
    await t?.close();
    await fx?.stop();
  });

  it('a firing alert on the primary starts detection, which runs a failover to completion; the resolution lifts the alert', async () => {
    expect(await primaryNow()).toBe('redis-a');
    const alert = {
      labels: { alertname: 'RedisDown', team: 'messaging', destination: 'redis-a', severity: 'critical' },
      annotations: { summary: 'redis-a does not answer' },
    };
    await postAlerts(am, [alert]);

    const detection = t.client.workflow.getHandle(detectionWorkflowId(SERVICE));
    await until(() => workflowExists(t.client, detection.workflowId), 20_000, 'detection started by the alert');
    const desc = await detection.describe();
    expect(desc.type).toBe('detection');
    expect(desc.typedSearchAttributes.get(serviceKey)).toBe(SERVICE);
    expect(desc.typedSearchAttributes.get(triggerKey)).toBe('alert');
    expect(desc.typedSearchAttributes.get(runbookKindKey)).toBe('detection');

    const [held] = await listAlerts(am);
    const fingerprint = held!.fingerprint;
    let health: DetectionStatus | undefined;
    await until(
      async () => {
        health = await detection.query(healthQuery).catch(() => undefined);
        return !!health?.decisions.some((d) => d.decision.action === 'failover');
      },
      30_000,
      'detection decided a failover',
    );
    expect(health!.health['redis-a']!.alerts).toContain(fingerprint);
    expect(health!.seenAlerts).toContain(`${fingerprint}:firing`);
    const decision = health!.decisions.find((d) => d.decision.action === 'failover')!;
    expect(decision.event).toMatchObject({ destination: 'redis-a', kind: 'down' });
    expect(decision.event.reason).toContain('RedisDown: redis-a does not answer');
    expect(decision.runbook).toBe(runbookWorkflowId(SERVICE));

    const failover = t.client.workflow.getHandle(runbookWorkflowId(SERVICE));
    const result = (await failover.result()) as FailoverResult;
    expect(result.outcome).toBe('switched');
    expect(result.source).toBe('redis-a');
    expect(result.target).toBe('redis-b');
    expect(await primaryNow()).toBe('redis-b');
    expect((await failover.describe()).typedSearchAttributes.get(triggerKey)).toBe('detection');

    // Alertmanager sends the resolution (send_resolved) once the alert ends.
    await postAlerts(am, [{ ...alert, endsAt: new Date(Date.now() - 1000).toISOString() }]);
    await until(
      async () => {
        const h = await detection.query(healthQuery);
        return h.seenAlerts.includes(`${fingerprint}:resolved`) && h.health['redis-a']!.alerts.length === 0;
      },
      30_000,
      'resolution applied',
    );

    // The workflow can show the signal before the receiver has counted its own answer.
    await until(() => receiver.stats().alerts.signalled >= 2, 10_000, 'the receiver to count both signals');
    const stats = receiver.stats();
    expect(stats.alerts.signalled).toBe(2);
    expect(stats.alerts.failed).toBe(0);
    expect(stats.requests['/alerts/alertmanager 200']).toBeGreaterThanOrEqual(2);
    const signals = await alertSignals(t.client, detection.workflowId);
    expect(signals.map((s) => [s.fingerprint, s.status, s.destination])).toEqual([
      [fingerprint, 'firing', 'redis-a'],
      [fingerprint, 'resolved', 'redis-a'],
    ]);
  });
});

/**
 * Straight to the receiver, with no worker on its task queue: detection workflows are started and
 * signalled but never run, so every delivered alert stays visible as a signal in one run's history.
 */
describe('alert receiver under load and against bad requests', () => {
  const tag = randomUUID().slice(0, 8);
  const TOKEN = `tok-${randomUUID()}`;
  const SECRET = `hmac-${randomUUID()}`;
  const BURST_SERVICES = Array.from({ length: 10 }, (_, i) => `burst-${tag}-${i}`);
  const GUARD = `guard-${tag}`;
  const GRAFANA = `grafana-${tag}`;
  const BODY_LIMIT = 64 * 1024;
  let client: Client;
  let connection: Connection;
  let receiver: AlertReceiver;
  let base: string;
  const taskQueue = `no-worker-${randomUUID()}`;
  const amUrl = () => `${base}/alerts/alertmanager`;
  const grafanaUrl = () => `${base}/alerts/grafana`;
  const bearer = { authorization: `Bearer ${TOKEN}` };
  const signed = (body: string) => {
    const ts = String(Math.floor(Date.now() / 1000));
    return { 'x-grafana-alerting-signature': hmacHex(SECRET, body, ts), 'x-grafana-alerting-timestamp': ts };
  };

  beforeAll(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-alerts-'));
    const config = validateConfig({
      services: [...BURST_SERVICES, GUARD, GRAFANA].map((name) => ({
        name,
        router: { type: 'file', path: path.join(dir, `${name}.json`) },
        destinations: [tcpDestination('dest-a'), tcpDestination('dest-b')],
      })),
      alerting: {
        receiver: {
          token_env: 'RECEIVER_TOKEN',
          hmac_secret_env: 'RECEIVER_HMAC',
          hmac_header: 'X-Grafana-Alerting-Signature',
          hmac_timestamp_header: 'X-Grafana-Alerting-Timestamp',
          body_limit: BODY_LIMIT,
          // One sender floods on purpose here; the per-source limit has its own test.
          rate_limit: { per_second: 1_000_000, burst: 1_000_000 },
        },
        // The `service` and `destination` labels name them; every alert here means down.
        routes: [{ match: {}, service_label: 'service', destination_label: 'destination', means: 'down' }],
      },
    });
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection, namespace: 'default' });
    receiver = createAlertReceiver({
      alerting: config.alerting!,
      services: config.services,
      client,
      taskQueue,
      auth: receiverAuthFromEnv(config.alerting!.receiver, { RECEIVER_TOKEN: TOKEN, RECEIVER_HMAC: SECRET }),
      logger: testLogger,
    });
    base = await receiver.listen('127.0.0.1:0');
  });
  afterAll(async () => {
    for (const name of [...BURST_SERVICES, GUARD, GRAFANA]) {
      await client?.workflow
        .getHandle(detectionWorkflowId(name))
        .terminate('test cleanup')
        .catch(() => undefined);
    }
    await receiver?.close();
    await connection?.close();
  });

  it('takes a burst of 3000 alerts over 10 services: every one answered 2xx and counted, one detection workflow per service, none lost', async () => {
    const alertsFor = (i: number) => ({
      labels: { alertname: 'QueueDown', service: BURST_SERVICES[i % BURST_SERVICES.length]!, destination: i % 2 ? 'dest-a' : 'dest-b', n: String(i) },
      annotations: { summary: `alert ${i}` },
      fingerprint: `burst-${tag}-${i}`,
    });
    // 2000 single-alert deliveries and 100 grouped ones of 10 alerts, as Alertmanager groups them.
    const bodies: string[] = [];
    for (let i = 0; i < 2000; i++) bodies.push(JSON.stringify(alertmanagerBody([alertsFor(i)])));
    for (let g = 0; g < 100; g++) bodies.push(JSON.stringify(alertmanagerBody(Array.from({ length: 10 }, (_, k) => alertsFor(2000 + g * 10 + k)))));

    const results: PostResult[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < bodies.length) results.push(await postRaw(amUrl(), bodies[next++]!, bearer));
      }),
    );
    const elapsedMs = performance.now() - started;
    const latencies = results.map((r) => r.ms).sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)]!;
    console.log(
      `alert burst: 3000 alerts in ${results.length} requests over ${BURST_SERVICES.length} services in ${Math.round(elapsedMs)}ms ` +
        `= ${Math.round(3000 / (elapsedMs / 1000))} alerts/s; request latency p50 ${pct(50).toFixed(1)}ms p99 ${pct(99).toFixed(1)}ms max ${latencies.at(-1)!.toFixed(1)}ms`,
    );

    expect(results.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.body.reason}`)).toEqual([]);
    expect(results.reduce((n, r) => n + (r.body.signalled ?? 0), 0)).toBe(3000);
    expect(receiver.stats().alerts).toMatchObject({ signalled: 3000, failed: 0, unmatched: 0 });

    // A redelivery of the first 300 is acknowledged and counted as duplicates, not sent again.
    const again = await Promise.all(bodies.slice(0, 300).map((b) => postRaw(amUrl(), b, bearer)));
    expect(again.every((r) => r.status === 200 && r.body.duplicates === 1)).toBe(true);
    expect(receiver.stats().alerts.duplicate).toBe(300);

    for (const [i, name] of BURST_SERVICES.entries()) {
      const expected = Array.from({ length: 3000 }, (_, n) => n)
        .filter((n) => n % BURST_SERVICES.length === i)
        .map((n) => `burst-${tag}-${n}`)
        .sort();
      const signals = await alertSignals(client, detectionWorkflowId(name));
      expect(signals.map((s) => s.fingerprint).sort()).toEqual(expected);
      let runs = 0;
      await until(
        async () => {
          runs = 0;
          for await (const _ of client.workflow.list({ query: `WorkflowId = '${detectionWorkflowId(name)}'` })) runs++;
          return runs > 0;
        },
        20_000,
        `visibility of ${name}`,
      );
      expect(runs).toBe(1);
    }
    // Bounded by count; the time is the dev server's (SQLite) signal throughput on a shared machine.
  }, 300_000);

  it('accepts a Grafana webhook signed with HMAC over timestamp and body, fingerprinting alerts by their labels', async () => {
    const labels = { alertname: 'HighLatency', service: GRAFANA, destination: 'dest-b' };
    const body = JSON.stringify(grafanaBody([{ labels, annotations: { summary: 'p99 above 2s' } }]));
    const ts = String(Math.floor(Date.now() / 1000));
    const res = await postRaw(grafanaUrl(), body, { 'x-grafana-alerting-signature': hmacHex(SECRET, body, ts), 'x-grafana-alerting-timestamp': ts });
    expect(res.status).toBe(200);
    expect(res.body.signalled).toBe(1);
    const [signal] = await alertSignals(client, detectionWorkflowId(GRAFANA));
    expect(signal).toMatchObject({ fingerprint: labelsFingerprint(labels), status: 'firing', destination: 'dest-b', summary: 'HighLatency: p99 above 2s' });
  });

  it('refuses unauthenticated, malformed and oversized requests with a reason, starting nothing', async () => {
    const valid = JSON.stringify(alertmanagerBody([{ labels: { alertname: 'Down', service: GUARD }, fingerprint: `guard-${tag}` }]));
    const ts = String(Math.floor(Date.now() / 1000));
    const cases: Array<[string, () => Promise<PostResult>, number, RegExp]> = [
      ['no credentials', () => postRaw(amUrl(), valid), 401, /missing credentials/],
      ['wrong token', () => postRaw(amUrl(), valid, { authorization: 'Bearer not-the-token' }), 401, /bearer token does not match/],
      ['not a bearer', () => postRaw(amUrl(), valid, { authorization: `Basic ${TOKEN}` }), 401, /expected "Bearer <token>"/],
      [
        'HMAC with another secret',
        () => postRaw(grafanaUrl(), valid, { 'x-grafana-alerting-signature': hmacHex('other', valid, ts), 'x-grafana-alerting-timestamp': ts }),
        401,
        /signature does not match/,
      ],
      [
        'HMAC of another body',
        () =>
          postRaw(grafanaUrl(), valid, { 'x-grafana-alerting-signature': `sha256=${hmacHex(SECRET, `${valid} `, ts)}`, 'x-grafana-alerting-timestamp': ts }),
        401,
        /signature does not match/,
      ],
      [
        'stale timestamp (replay)',
        () => {
          const old = String(Math.floor(Date.now() / 1000) - 3600);
          return postRaw(grafanaUrl(), valid, { 'x-grafana-alerting-signature': hmacHex(SECRET, valid, old), 'x-grafana-alerting-timestamp': old });
        },
        401,
        /timestamp is 36\d\ds away from now \(allowed 300s\)/,
      ],
      [
        'right token, wrong signature',
        () => postRaw(amUrl(), valid, { ...bearer, 'x-grafana-alerting-signature': 'sha256=' + '0'.repeat(64), 'x-grafana-alerting-timestamp': ts }),
        401,
        /signature does not match/,
      ],
      [
        'bad alert status',
        () => postRaw(amUrl(), JSON.stringify(alertmanagerBody([{ status: 'burning' as 'firing', labels: { service: GUARD } }])), bearer),
        400,
        /^body\.alerts\[0\]\.status: .*"firing"\|"resolved" \(got "burning"\)/,
      ],
      [
        'wrong payload version',
        () => postRaw(amUrl(), JSON.stringify({ ...alertmanagerBody([{ labels: { service: GUARD } }]), version: '3' }), bearer),
        400,
        /^body\.version: expected "4"/,
      ],
      ['missing fingerprint', () => postRaw(amUrl(), valid.replace(/,"fingerprint":"[^"]*"/, ''), bearer), 400, /^body\.alerts\[0\]\.fingerprint: /],
      ['not JSON', () => postRaw(amUrl(), '{"version": "4", alerts: [', bearer), 400, /^body: expected JSON/],
      [
        'no alerts',
        () => postRaw(grafanaUrl(), JSON.stringify({ ...grafanaBody([]), alerts: [] }), signed(JSON.stringify({ ...grafanaBody([]), alerts: [] }))),
        400,
        /^body\.alerts: expected at least one alert/,
      ],
      [
        'Grafana endpoint with a bearer token only',
        () => postRaw(grafanaUrl(), valid, bearer),
        401,
        /^missing signature: this endpoint takes requests signed with/,
      ],
      [
        'oversized body',
        () => {
          const big = alertmanagerBody([{ labels: { service: GUARD, padding: 'x'.repeat(BODY_LIMIT) }, fingerprint: `guard-${tag}` }]);
          return postRaw(amUrl(), JSON.stringify(big), bearer);
        },
        413,
        /larger than the limit of 65536 bytes/,
      ],
    ];
    for (const [what, send, status, reason] of cases) {
      const res = await send();
      expect({ what, status: res.status, reason: res.body.reason }).toEqual({ what, status, reason: expect.stringMatching(reason) });
      expect(await workflowExists(client, detectionWorkflowId(GUARD)), `${what} started detection`).toBe(false);
    }

    // Alerts no route takes are acknowledged and counted, not errors.
    const before = receiver.stats().alerts.unmatched;
    const unmatched = await postRaw(
      amUrl(),
      JSON.stringify(
        alertmanagerBody([
          { labels: { alertname: 'Down', service: 'no-such-service' } },
          { labels: { alertname: 'Down', service: GUARD, destination: 'dest-z' } },
        ]),
      ),
      bearer,
    );
    expect(unmatched.status).toBe(200);
    expect(unmatched.body.unmatched).toBe(2);
    expect(JSON.stringify(unmatched.body.alerts)).toContain('label service=\\"no-such-service\\" names no configured service');
    expect(JSON.stringify(unmatched.body.alerts)).toContain(`label destination=\\"dest-z\\" is no destination of ${GUARD}`);
    expect(receiver.stats().alerts.unmatched).toBe(before + 2);
    expect(await workflowExists(client, detectionWorkflowId(GUARD))).toBe(false);

    // The same delivery, authenticated, does start it: the refusals above were not for another reason.
    const ok = await postRaw(amUrl(), valid, bearer);
    expect(ok.status).toBe(200);
    expect(await workflowExists(client, detectionWorkflowId(GUARD))).toBe(true);

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/failover_alert_receiver_requests_total\{endpoint="\/alerts\/alertmanager",code="401"\} [1-9]/);
    expect(metrics).toMatch(/failover_alert_receiver_alerts_total\{source="alertmanager",outcome="unmatched"\} [1-9]/);
  });
});

describe('alert receiver process (npm run alerts)', () => {
  const run = (env: Record<string, string>, onOutput?: (out: string, child: ChildProcess) => void) => runEntry('src/triggers/main.ts', env, onOutput);
  const tag = randomUUID().slice(0, 8);
  const name = `proc-${tag}`;
  let file: string;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fm-alerts-proc-')), 'failover.yaml');
    fs.writeFileSync(
      file,
      [
        'services:',
        `  - name: ${name}`,
        `    router: { type: file, path: ${JSON.stringify(path.join(path.dirname(file), 'routing.json'))} }`,
        '    destinations:',
        '      - { id: dest-a, zone: z1, region: r1, probe: { type: tcp, host: 127.0.0.1, port: 1 } }',
        'alerting:',
        '  receiver:',
        `    listen: 127.0.0.1:${port}`,
        '    token_env: PROC_ALERT_TOKEN',
        '  routes:',
        '    - { match: { alertname: Down }, service_label: service, destination_label: destination, means: down }',
        '',
      ].join('\n'),
    );
  });

  it('refuses to start without the secret the config names, connecting to nothing', async () => {
    const { code, out } = await run({ FAILOVER_CONFIG: file, TEMPORAL_ADDRESS: '127.0.0.1:1', PROC_ALERT_TOKEN: '' });
    // Bad input, as a bad config: exit 2 like the CLI and the worker.
    expect(code).toBe(2);
    expect(out).toContain('PROC_ALERT_TOKEN: expected the secret named by alerting.receiver.token_env (it is unset or empty)');
    expect(out).not.toMatch(/cannot reach Temporal|alert receiver started/);
  });

  it('serves webhooks against the dev server and stops cleanly on SIGTERM', async () => {
    const taskQueue = `no-worker-${randomUUID()}`;
    const seen: Record<string, unknown> = {};
    let sent = false;
    const { code, out } = await run(
      { FAILOVER_CONFIG: file, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: taskQueue, PROC_ALERT_TOKEN: 'proc-token' },
      (text, child) => {
        if (sent || !text.includes('"msg":"alert receiver started"')) return;
        sent = true;
        void (async () => {
          const base = `http://127.0.0.1:${port}`;
          seen.healthz = (await fetch(`${base}/healthz`)).status;
          seen.readyz = (await fetch(`${base}/readyz`)).status;
          const body = JSON.stringify(alertmanagerBody([{ labels: { alertname: 'Down', service: name, destination: 'dest-a' }, fingerprint: `proc-${tag}` }]));
          seen.post = (await postRaw(`${base}/alerts/alertmanager`, body, { authorization: 'Bearer proc-token' })).status;
        })().finally(() => child.kill('SIGTERM'));
      },
    );
    expect(seen).toEqual({ healthz: 200, readyz: 200, post: 200 });
    expect(out).toContain('"msg":"alert signalled"');
    expect(out).toContain('"msg":"alert receiver stopped"');
    expect(code).toBe(0);
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    try {
      const client = new Client({ connection, namespace: 'default' });
      const signals = await alertSignals(client, detectionWorkflowId(name));
      expect(signals).toEqual([expect.objectContaining({ fingerprint: `proc-${tag}`, status: 'firing', destination: 'dest-a' })]);
      await client.workflow.getHandle(detectionWorkflowId(name)).terminate('test cleanup');
    } finally {
      await connection.close();
    }
  });
});
