import { randomUUID } from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { validateConfig, type Config } from '../../src/domain/config';
import { detectionWorkflowId } from '../../src/domain/workflow-ids';
import { receiverAuthFromEnv } from '../../src/triggers/alert-auth';
import { createAlertReceiver, type AlertReceiver } from '../../src/triggers/alert-receiver';
import { alertSignals, alertmanagerBody, grafanaBody, hmacHex, postRaw, workflowExists } from '../support/alertmanager';
import { testLogger } from '../support/temporal';

const tcpDestination = (id: string) => ({ id, zone: 'z1', region: 'r1', probe: { type: 'tcp', host: '127.0.0.1', port: 1 } });

describe('alert receiver hardening: replays, alert caps, reading before authentication, rate limits, what it reveals', () => {
  const tag = randomUUID().slice(0, 8);
  const SIGNED = `signed-${tag}`;
  const CAPPED = `capped-${tag}`;
  const TOKEN = `tok-${randomUUID()}`;
  const SECRET = `hmac-${randomUUID()}`;
  const METRICS_TOKEN = `metrics-${randomUUID()}`;
  const taskQueue = `no-worker-${randomUUID()}`;
  const env = { RECEIVER_TOKEN: TOKEN, RECEIVER_HMAC: SECRET, RECEIVER_METRICS: METRICS_TOKEN };
  let connection: Connection;
  let client: Client;
  let config: Config;
  const receivers: AlertReceiver[] = [];
  let base: string;

  const receiverConfig = (receiver: Record<string, unknown>) =>
    validateConfig({
      services: [SIGNED, CAPPED].map((name) => ({
        name,
        router: { type: 'file', path: path.join(os.tmpdir(), `${name}.json`) },
        destinations: [tcpDestination('dest-a')],
      })),
      alerting: {
        receiver: { token_env: 'RECEIVER_TOKEN', hmac_secret_env: 'RECEIVER_HMAC', hmac_header: 'X-Grafana-Alerting-Signature', ...receiver },
        routes: [{ match: {}, service_label: 'service', destination_label: 'destination', means: 'down' }],
      },
    });
  const start = async (cfg: Config, c: Client = client) => {
    const r = createAlertReceiver({
      alerting: cfg.alerting!,
      services: cfg.services,
      client: c,
      taskQueue,
      auth: receiverAuthFromEnv(cfg.alerting!.receiver, env),
      logger: testLogger,
    });
    receivers.push(r);
    return r.listen('127.0.0.1:0');
  };
  const signedHeaders = (body: string, ts = String(Math.floor(Date.now() / 1000))) => ({
    'x-grafana-alerting-signature': `sha256=${hmacHex(SECRET, body, ts)}`,
    'x-signature-timestamp': ts,
  });

  beforeAll(async () => {
    fs.mkdirSync(os.tmpdir(), { recursive: true });
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection, namespace: 'default' });
    config = receiverConfig({ body_limit: 16 * 1024 * 1024, metrics_token_env: 'RECEIVER_METRICS' });
    base = await start(config);
  });
  afterAll(async () => {
    for (const name of [SIGNED, CAPPED])
      await client?.workflow
        .getHandle(detectionWorkflowId(name))
        .terminate('test cleanup')
        .catch(() => undefined);
    for (const r of receivers) await r.close();
    await connection?.close();
  });

  it('refuses a replayed signed webhook, and a signature without a signed timestamp', async () => {
    const body = JSON.stringify(grafanaBody([{ labels: { alertname: 'Down', service: SIGNED, destination: 'dest-a' } }]));
    const headers = signedHeaders(body);
    const first = await postRaw(`${base}/alerts/grafana`, body, headers);
    expect(first.status).toBe(200);
    expect(first.body.signalled).toBe(1);
    // The same bytes sent again inside the window: refused, not acknowledged as a duplicate.
    const replayed = await postRaw(`${base}/alerts/grafana`, body, headers);
    expect({ status: replayed.status, error: replayed.body.error }).toEqual({ status: 409, error: 'replayed request' });
    // Signed without a timestamp: could be replayed at any later time, so refused.
    const untimed = await postRaw(`${base}/alerts/grafana`, body, { 'x-grafana-alerting-signature': `sha256=${hmacHex(SECRET, body)}` });
    expect(untimed.status).toBe(401);
    expect(untimed.body.reason).toMatch(/x-signature-timestamp header: expected the signed unix timestamp in seconds \(required with HMAC\)/);
    expect(await alertSignals(client, detectionWorkflowId(SIGNED))).toHaveLength(1);
  });

  it('refuses a request of 20,000 alerts with 413 naming the cap, signalling nothing', async () => {
    const alerts = Array.from({ length: 20_000 }, (_, i) => ({ labels: { service: CAPPED, n: String(i) }, fingerprint: `c-${tag}-${i}` }));
    const res = await postRaw(`${base}/alerts/alertmanager`, JSON.stringify(alertmanagerBody(alerts)), { authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(413);
    expect(res.body.reason).toBe('20000 alerts in one request; the limit is 1000 (alerting.receiver.max_alerts_per_request)');
    expect(await workflowExists(client, detectionWorkflowId(CAPPED))).toBe(false);
  });

  it('answers an unauthenticated request before reading its body', async () => {
    // Declares 15 MiB (under the limit) and sends only the first KiB: the answer must not wait for the rest.
    const { hostname, port } = new URL(base);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: hostname,
          port,
          path: '/alerts/alertmanager',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': 15 * 1024 * 1024 },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => (req.destroy(), resolve({ status: res.statusCode ?? 0, body: text })));
        },
      );
      req.on('error', reject);
      req.write('x'.repeat(1024));
      const timer = setTimeout(() => (req.destroy(), reject(new Error('no answer while the body was still owed'))), 10_000);
      req.on('response', () => clearTimeout(timer));
    });
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body).reason).toMatch(/^missing credentials/);
  });

  it('limits requests per sending address', async () => {
    const limited = await start(receiverConfig({ rate_limit: { per_second: 0.1, burst: 3 } }));
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await postRaw(`${limited}/alerts/alertmanager`, '{}')).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const res = await postRaw(`${limited}/alerts/alertmanager`, '{}', { authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(429);
    expect(res.body.reason).toMatch(/alerting\.receiver\.rate_limit/);
  });

  it('keeps /metrics behind its token and /readyz free of addresses and error texts', async () => {
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('failover_alert_receiver_requests_total');

    const dead = await Connection.connect({ address: '127.0.0.1:1', connectTimeout: 500 }).catch(() => undefined);
    const lazy = dead ?? Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500 });
    const broken = await start(receiverConfig({}), new Client({ connection: lazy, namespace: 'default' }));
    const ready = await fetch(`${broken}/readyz`);
    const text = await ready.text();
    expect(ready.status).toBe(503);
    expect(JSON.parse(text)).toEqual({ status: 'not ready', reason: 'Temporal not reachable' });
    expect(text).not.toContain('127.0.0.1:1');
    await receivers.pop()!.close();
    await lazy.close();
  });
});
