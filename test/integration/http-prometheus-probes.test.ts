import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProbe, type ProbeResult } from '../../src/drivers/probes';
import { probeHttp } from '../../src/drivers/probes/http';
import { probePrometheus } from '../../src/drivers/probes/prometheus';
import { freePort } from '../../dev/devserver/free-port';
import { startPrometheus, type LocalPrometheus } from '../../dev/devserver/local-prometheus';
import { httpProbeSchema, prometheusProbeSchema } from '../../src/domain/config';
import { selfSignedCert, startHttpServer, startMetricsTarget, type LocalHttpServer, type MetricsTarget, type SelfSignedCert } from '../support/http-servers';

const http = (cfg: Record<string, unknown>) => httpProbeSchema.parse({ type: 'http', ...cfg });
const prom = (cfg: Record<string, unknown>) => prometheusProbeSchema.parse({ type: 'prometheus', ...cfg });

/** Probes until `accept` holds or the bounded number of attempts is used up; returns the last result. */
async function probeUntil(probe: () => Promise<ProbeResult>, accept: (r: ProbeResult) => boolean, attempts = 60, pauseMs = 250): Promise<ProbeResult> {
  let last = await probe();
  for (let i = 1; i < attempts && !accept(last); i++) {
    await new Promise((r) => setTimeout(r, pauseMs));
    last = await probe();
  }
  return last;
}

describe('HTTP probe against a local server', () => {
  let server: LocalHttpServer;
  beforeAll(async () => {
    server = await startHttpServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/health') return res.writeHead(200, { 'content-type': 'text/plain' }).end('status: ok, build 1.2.3');
      if (url.pathname === '/unavailable') return res.writeHead(503).end('maintenance');
      if (url.pathname === '/slow') {
        setTimeout(() => res.writeHead(200).end('ok'), Number(url.searchParams.get('ms')));
        return;
      }
      if (url.pathname === '/reset') return req.socket.destroy();
      if (url.pathname === '/big') return res.writeHead(200).end(`${'x'.repeat(200_000)}needle`);
      if (url.pathname === '/echo-auth') return res.writeHead(req.headers['x-probe-token'] === 's3cret' ? 200 : 401).end();
      if (url.pathname === '/method') return res.writeHead(req.method === 'POST' ? 201 : 405).end();
      res.writeHead(404).end();
    });
  });
  afterAll(() => server?.close());

  it('is up on an expected status and reports latency', async () => {
    const r = await probeHttp(http({ url: `${server.url}/health` }), 2000);
    expect(r).toMatchObject({ up: true });
    expect(r.error).toBeUndefined();
    expect(r.latencyMs).toBeGreaterThan(0);
  });

  it('is down on an unexpected status, naming the status and what was expected', async () => {
    const r = await probeHttp(http({ url: `${server.url}/unavailable` }), 2000);
    expect(r).toMatchObject({ up: false, failure: 'error', error: 'answered 503, expected 2xx' });
    expect((await probeHttp(http({ url: `${server.url}/nothing-here`, expect_status: [200, 204] }), 2000)).error).toBe('answered 404, expected 200, 204');
  });

  it('takes status lists, classes and ranges', async () => {
    expect((await probeHttp(http({ url: `${server.url}/unavailable`, expect_status: '500-599' }), 2000)).up).toBe(true);
    expect((await probeHttp(http({ url: `${server.url}/unavailable`, expect_status: [200, '5xx'] }), 2000)).up).toBe(true);
    expect((await probeHttp(http({ url: `${server.url}/health`, expect_status: 204 }), 2000)).up).toBe(false);
  });

  it('sends the configured method', async () => {
    expect((await probeHttp(http({ url: `${server.url}/method`, method: 'POST', body: '{}', expect_status: 201 }), 2000)).up).toBe(true);
    expect((await probeHttp(http({ url: `${server.url}/method`, expect_status: 201 }), 2000)).error).toBe('answered 405, expected 201');
  });

  it('matches the body by substring and by regular expression', async () => {
    expect((await probeHttp(http({ url: `${server.url}/health`, expect_body: 'status: ok' }), 2000)).up).toBe(true);
    const miss = await probeHttp(http({ url: `${server.url}/health`, expect_body: 'status: degraded' }), 2000);
    expect(miss).toMatchObject({ up: false, failure: 'error', error: 'body does not contain "status: degraded"' });
    expect((await probeHttp(http({ url: `${server.url}/health`, expect_body_regex: 'build \\d+\\.\\d+' }), 2000)).up).toBe(true);
    const noMatch = await probeHttp(http({ url: `${server.url}/health`, expect_body_regex: '^build' }), 2000);
    expect(noMatch.error).toBe('body does not match /^build/');
  });

  it('reads at most the first 64 KiB of a body, and says so when a match fails', async () => {
    const r = await probeHttp(http({ url: `${server.url}/big`, expect_body: 'needle' }), 2000);
    expect(r).toMatchObject({ up: false, failure: 'error', error: 'body does not contain "needle" (first 65536 bytes read)' });
    expect((await probeHttp(http({ url: `${server.url}/big`, expect_body: 'xxxx' }), 2000)).up).toBe(true);
  });

  it('counts an answer slower than max_latency as down, with a clear error', async () => {
    const slow = await probeHttp(http({ url: `${server.url}/slow?ms=400`, max_latency: '100ms' }), 3000);
    expect(slow.up).toBe(false);
    expect(slow.failure).toBe('error');
    expect(slow.error).toMatch(/^answered in \d+ms, slower than max_latency 100ms$/);
    expect(slow.latencyMs).toBeGreaterThanOrEqual(400);
    expect((await probeHttp(http({ url: `${server.url}/health`, max_latency: '5s' }), 3000)).up).toBe(true);
  });

  it('classifies network failures: timeout, refused, reset', async () => {
    const timeout = await probeHttp(http({ url: `${server.url}/slow?ms=3000` }), 300);
    expect(timeout).toMatchObject({ up: false, failure: 'timeout' });
    expect(timeout.error).toMatch(/no complete answer within 300ms/);

    const closedPort = await freePort();
    const refused = await probeHttp(http({ url: `http://127.0.0.1:${closedPort}/health` }), 2000);
    expect(refused).toMatchObject({ up: false, failure: 'refused' });

    const reset = await probeHttp(http({ url: `${server.url}/reset` }), 2000);
    expect(reset).toMatchObject({ up: false, failure: 'reset' });
  });

  it('sends the auth header from the named environment variable', async () => {
    const cfg = http({ url: `${server.url}/echo-auth`, auth_header: 'X-Probe-Token', auth_env: 'FM_TEST_PROBE_TOKEN' });
    delete process.env.FM_TEST_PROBE_TOKEN;
    expect(await probeHttp(cfg, 2000)).toMatchObject({ up: false, failure: 'error', error: 'environment variable FM_TEST_PROBE_TOKEN (auth_env) is not set' });
    process.env.FM_TEST_PROBE_TOKEN = 'wrong';
    expect((await probeHttp(cfg, 2000)).error).toBe('answered 401, expected 2xx');
    process.env.FM_TEST_PROBE_TOKEN = 's3cret';
    expect((await probeHttp(cfg, 2000)).up).toBe(true);
    delete process.env.FM_TEST_PROBE_TOKEN;
  });

  it('is reached through runProbe for type http', async () => {
    expect((await runProbe(http({ url: `${server.url}/health` }), 2000)).up).toBe(true);
  });
});

describe('HTTPS probe with a self-signed certificate', () => {
  let dir: string;
  let cert: SelfSignedCert;
  let server: LocalHttpServer;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-https-'));
    cert = selfSignedCert(dir, 'orders.fm.test');
    server = await startHttpServer((_req, res) => res.writeHead(200).end('ok'), cert);
  });
  afterAll(async () => {
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rejects an untrusted certificate as a TLS error', async () => {
    const r = await probeHttp(http({ url: `${server.url}/` }), 2000);
    expect(r).toMatchObject({ up: false, failure: 'error' });
    expect(r.error).toMatch(/^TLS: self[- ]signed certificate/);
  });

  it('trusts the certificate from ca_file, checking the name given as server_name', async () => {
    const trusted = await probeHttp(http({ url: `${server.url}/`, tls: { ca_file: cert.certFile, server_name: 'orders.fm.test' } }), 2000);
    expect(trusted).toMatchObject({ up: true });

    const wrongName = await probeHttp(http({ url: `${server.url}/`, tls: { ca_file: cert.certFile } }), 2000);
    expect(wrongName).toMatchObject({ up: false, failure: 'error' });
    expect(wrongName.error).toMatch(/^TLS: .*(IP: 127\.0\.0\.1 is not in the cert's list|ERR_TLS_CERT_ALTNAME_INVALID)/);

    const otherName = await probeHttp(http({ url: `${server.url}/`, tls: { ca_file: cert.certFile, server_name: 'payments.fm.test' } }), 2000);
    expect(otherName.error).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('accepts any certificate with insecure_skip_verify', async () => {
    expect(await probeHttp(http({ url: `${server.url}/`, tls: { insecure_skip_verify: true } }), 2000)).toMatchObject({ up: true });
  });

  it('reports an unreadable ca_file', async () => {
    const r = await probeHttp(http({ url: `${server.url}/`, tls: { ca_file: path.join(dir, 'missing.pem') } }), 2000);
    expect(r).toMatchObject({ up: false, failure: 'error' });
    expect(r.error).toMatch(/^cannot read tls\.ca_file .*missing\.pem: ENOENT/);
  });
});

describe('Prometheus probe against a real Prometheus', () => {
  let dir: string;
  let target: MetricsTarget;
  let prometheus: LocalPrometheus;
  const metric = 'fm_test_queue_depth';

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-prometheus-'));
    target = await startMetricsTarget(metric, 5);
    prometheus = await startPrometheus({ port: await freePort(), dir, targets: [{ job: 'queue', address: target.address }], scrapeInterval: '1s' });
  });
  afterAll(async () => {
    await prometheus?.stop();
    await target?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('flips its verdict when the scraped metric crosses the threshold', async () => {
    const cfg = prom({ url: prometheus.url, query: `${metric}{job="queue"}`, op: '<', threshold: 100 });
    const healthy = await probeUntil(
      () => probePrometheus(cfg, 2000),
      (r) => r.value === 5,
    );
    expect(healthy).toMatchObject({ up: true, value: 5 });
    expect(healthy.error).toBeUndefined();

    target.set(500);
    const unhealthy = await probeUntil(
      () => probePrometheus(cfg, 2000),
      (r) => r.value === 500,
    );
    expect(unhealthy).toMatchObject({ up: false, failure: 'error', value: 500 });
    expect(unhealthy.error).toBe(`query "${metric}{job=\\"queue\\"}" on ${prometheus.url}/: value 500 is not < 100`);

    target.set(7);
    const recovered = await probeUntil(
      () => runProbe(cfg, 2000),
      (r) => r.value === 7,
    );
    expect(recovered).toMatchObject({ up: true, value: 7 });
  });

  it('compares with every operator', async () => {
    const at = (op: string, threshold: number) => probePrometheus(prom({ url: prometheus.url, query: 'vector(10)', op, threshold }), 2000).then((r) => r.up);
    expect([await at('>', 9), await at('>', 10), await at('>=', 10), await at('<', 11), await at('<=', 9)]).toEqual([true, false, true, true, false]);
    expect([await at('==', 10), await at('==', 10.5), await at('!=', 10)]).toEqual([true, false, false]);
    const scalar = await probePrometheus(prom({ url: prometheus.url, query: '2 * 21', op: '==', threshold: 42 }), 2000);
    expect(scalar).toMatchObject({ up: true, value: 42 });
  });

  it('treats an empty result as down by default, or up when on_empty says so', async () => {
    const absent = { url: prometheus.url, query: 'fm_no_such_metric', op: '>', threshold: 0 };
    const down = await probePrometheus(prom(absent), 2000);
    expect(down).toMatchObject({ up: false, failure: 'error' });
    expect(down.error).toMatch(/returned no sample \(metric absent or target not scraped\); on_empty is "down"$/);
    expect(down.value).toBeUndefined();
    expect(await probePrometheus(prom({ ...absent, on_empty: 'up' }), 2000)).toMatchObject({ up: true });
  });

  it('refuses an ambiguous result with several series', async () => {
    const r = await probePrometheus(
      prom({ url: prometheus.url, query: 'label_replace(vector(1), "x", "a", "", "") or label_replace(vector(2), "x", "b", "", "")', op: '>', threshold: 0 }),
      2000,
    );
    expect(r).toMatchObject({ up: false, failure: 'error' });
    expect(r.error).toMatch(/returned 2 series .*expected one: aggregate with sum\(\), max\(\) or min\(\)$/);
  });

  it('reports a bad query with the error Prometheus gives', async () => {
    const r = await probePrometheus(prom({ url: prometheus.url, query: 'sum(', op: '>', threshold: 0 }), 2000);
    expect(r).toMatchObject({ up: false, failure: 'error' });
    expect(r.error).toMatch(/Prometheus answered bad_data: .*parse error/);
  });

  it('classifies an unreachable Prometheus as a network failure', async () => {
    const r = await probePrometheus(prom({ url: `http://127.0.0.1:${await freePort()}`, query: 'up', op: '==', threshold: 1 }), 1000);
    expect(r).toMatchObject({ up: false, failure: 'refused' });
    expect(r.error).toMatch(/^query "up" on http:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED/);
  });
});
