import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/domain/validation';
import { validateConfig, type Config } from '../../src/domain/config';
import { authenticate, preAuthenticate, receiverAuthFromEnv, type ReceiverAuth } from '../../src/triggers/alert-auth';
import { AlertDeduper } from '../../src/triggers/alert-dedupe';
import { AlertRouter, toEvidence } from '../../src/triggers/alert-mapping';
import { PayloadError, labelsFingerprint, parseAlertmanager, parseGrafana, parseJson, type IncomingAlert } from '../../src/triggers/alert-payloads';
import { ConcurrencyLimiter } from '../../src/triggers/concurrency-limiter';

const dest = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  zone: 'z',
  region: 'r',
  probe: { type: 'tcp', host: '127.0.0.1', port: 1 },
  ...extra,
});
const service = (name: string, destinations = [dest('redis-a'), dest('redis-b', { router_server: 'srv-b' })]) => ({
  name,
  router: { type: 'file', path: `/tmp/${name}.json` },
  destinations,
});

function configWith(alerting: unknown): Config {
  return validateConfig({ services: [service('orders-bus'), service('audit-bus')], alerting });
}

function problemsOf(alerting: unknown): string[] {
  try {
    configWith(alerting);
  } catch (err) {
    if (err instanceof InvalidInputError) return err.problems;
    throw err;
  }
  throw new Error('expected the config to be refused');
}

function problemsOfPayload(parse: () => unknown): string[] {
  try {
    parse();
  } catch (err) {
    if (err instanceof PayloadError) return err.problems;
    throw err;
  }
  throw new Error('expected the payload to be refused');
}

const auth = { receiver: { token_env: 'T' } };

describe('alerting config', () => {
  it('is optional, and fills defaults when present: auth named, default routes by the service/destination labels', () => {
    expect(validateConfig({ services: [service('orders-bus')] }).alerting).toBeUndefined();
    const a = configWith(auth).alerting!;
    expect(a.receiver).toMatchObject({
      listen: '127.0.0.1:9095',
      body_limit: 1048576,
      dedupe_window: '10m',
      hmac_header: 'X-Signature',
      allow_unauthenticated: false,
    });
    // The default route names the service and destination, but means nothing until a route says what it means.
    expect(a.routes).toEqual([{ match: {}, service_label: 'service', destination_label: 'destination', means: 'ignore' }]);
  });

  it('names each bad field', () => {
    expect(problemsOf({})).toEqual([
      expect.stringMatching(/^alerting\.receiver\.token_env: expected "token_env" and\/or "hmac_secret_env" \(or allow_unauthenticated: true\)/),
    ]);
    expect(
      problemsOf({
        ...auth,
        routes: [
          { match: { alertname: { regex: 'Redis(' } }, service: 'orders-bus' },
          { match: { 'bad-label': 'x' }, service: 'orders-bus' },
          { service: 'no-such-bus' },
          { match: {}, service: 'orders-bus', service_label: 'service' },
          { match: { team: 42 }, service: 'orders-bus' },
        ],
      }),
    ).toEqual([
      'alerting.routes[0].match.alertname.regex: expected a valid JavaScript regular expression (got "Redis(")',
      'alerting.routes[1].match.bad-label: expected a label name (letters, digits, "_"; not starting with a digit) (got "bad-label")',
      'alerting.routes[3].service: expected exactly one of "service" or "service_label" (got "orders-bus")',
      'alerting.routes[4].match.team: expected a label value (exact match) or {regex: "..."} (got 42)',
    ]);
    expect(problemsOf({ ...auth, routes: [{ service: 'no-such-bus' }] })).toEqual([
      'alerting.routes[0].service: expected a configured service (orders-bus, audit-bus) (got "no-such-bus")',
    ]);
    expect(problemsOf({ receiver: { token_env: 'T', listen: '9095', body_limit: 10 } })).toEqual([
      'alerting.receiver.listen: expected "host:port" (got "9095")',
      'alerting.receiver.body_limit: Too small: expected number to be >=1024 (got 10)',
    ]);
  });
});

describe('mapping alert labels to a service and destination', () => {
  const routerFor = (routes: unknown) => {
    const c = configWith({ ...auth, ...(routes ? { routes } : {}) });
    return new AlertRouter(c.alerting!.routes, c.services);
  };

  it('by default reads the service and destination labels', () => {
    const r = routerFor(undefined);
    expect(r.route({ alertname: 'X', service: 'orders-bus', destination: 'redis-a' })).toEqual({
      matched: true,
      service: 'orders-bus',
      destination: 'redis-a',
      route: 0,
      means: 'ignore',
    });
    expect(r.route({ service: 'orders-bus' })).toEqual({ matched: true, service: 'orders-bus', route: 0, means: 'ignore' });
    // The router's server name is accepted for the destination too (HAProxy server names often appear in alerts).
    expect(r.route({ service: 'orders-bus', destination: 'srv-b' })).toMatchObject({ matched: true, destination: 'redis-b' });
    expect(r.route({ alertname: 'X' })).toEqual({ matched: false, reason: 'no route matches the labels {alertname="X"}' });
    expect(r.route({ service: 'billing' })).toEqual({
      matched: false,
      route: 0,
      reason: 'routes[0]: label service="billing" names no configured service (orders-bus, audit-bus)',
    });
    expect(r.route({ service: 'orders-bus', destination: 'redis-z' })).toEqual({
      matched: false,
      route: 0,
      reason: 'routes[0]: label destination="redis-z" is no destination of orders-bus (redis-a, redis-b)',
    });
  });

  it('matches exact values and anchored regexes, a missing label as "", first match wins', () => {
    const r = routerFor([
      { match: { team: 'payments', alertname: { regex: 'Redis(Down|Unreachable)' } }, service: 'orders-bus', destination_label: 'instance_name' },
      { match: { team: 'payments', env: '' }, service: 'audit-bus' },
      { match: { team: { regex: 'pay.*' } }, service_label: 'bus' },
    ]);
    expect(r.route({ team: 'payments', alertname: 'RedisDown', instance_name: 'redis-b' })).toMatchObject({
      matched: true,
      service: 'orders-bus',
      destination: 'redis-b',
      route: 0,
    });
    // Anchored: "RedisDownSoon" is not "RedisDown"; env is missing, so it equals "".
    expect(r.route({ team: 'payments', alertname: 'RedisDownSoon' })).toMatchObject({ matched: true, service: 'audit-bus', route: 1 });
    expect(r.route({ team: 'payments', alertname: 'X', env: 'prod', bus: 'orders-bus' })).toMatchObject({ matched: true, service: 'orders-bus', route: 2 });
    // A service_label route does not take alerts without that label.
    expect(r.route({ team: 'payments', env: 'prod' })).toMatchObject({ matched: false, reason: expect.stringContaining('no route matches') });
    expect(r.route({ team: 'ops', bus: 'orders-bus' })).toMatchObject({ matched: false });
  });

  it('turns an alert into detection evidence', () => {
    const alert: IncomingAlert = {
      source: 'alertmanager',
      status: 'firing',
      fingerprint: 'abc123',
      labels: { alertname: 'RedisDown' },
      annotations: { summary: 'redis-a does not answer', description: 'longer' },
      startsAt: '2026-01-01T00:00:00Z',
    };
    expect(toEvidence(alert, 'redis-a')).toEqual({
      fingerprint: 'abc123',
      status: 'firing',
      destination: 'redis-a',
      summary: 'RedisDown: redis-a does not answer',
      source: 'alertmanager RedisDown',
      startsAt: '2026-01-01T00:00:00Z',
      means: 'down',
    });
    expect(toEvidence({ ...alert, status: 'resolved', labels: { job: 'redis' }, annotations: {} }, undefined)).toEqual({
      fingerprint: 'abc123',
      status: 'resolved',
      summary: '{job="redis"}',
      source: 'alertmanager',
      startsAt: '2026-01-01T00:00:00Z',
      means: 'down',
    });
    expect(toEvidence({ ...alert, annotations: { summary: 'x'.repeat(5000) } }, undefined).summary).toHaveLength(1000);
  });
});

describe('parsing webhook payloads', () => {
  const amAlert = {
    status: 'firing',
    labels: { alertname: 'A', service: 'orders-bus' },
    annotations: { summary: 's' },
    startsAt: '2026-01-01T00:00:00Z',
    endsAt: '0001-01-01T00:00:00Z',
    generatorURL: '',
    fingerprint: 'f1',
  };
  const amBody = {
    version: '4',
    groupKey: 'g',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'r',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://am',
    alerts: [amAlert],
  };

  it('reads Alertmanager version 4, ignoring fields it does not use', () => {
    const alerts = parseAlertmanager(
      parseJson(JSON.stringify({ ...amBody, alerts: [amAlert, { ...amAlert, status: 'resolved', fingerprint: 'f2', extra: 1 }] })),
    );
    expect(alerts).toEqual([
      { source: 'alertmanager', status: 'firing', fingerprint: 'f1', labels: amAlert.labels, annotations: { summary: 's' }, startsAt: '2026-01-01T00:00:00Z' },
      {
        source: 'alertmanager',
        status: 'resolved',
        fingerprint: 'f2',
        labels: amAlert.labels,
        annotations: { summary: 's' },
        startsAt: '2026-01-01T00:00:00Z',
      },
    ]);
  });

  it('refuses malformed Alertmanager payloads naming the field', () => {
    expect(problemsOfPayload(() => parseAlertmanager({ ...amBody, version: '3' }))).toEqual([
      'body.version: expected "4" (the Alertmanager webhook payload version) (got "3")',
    ]);
    expect(problemsOfPayload(() => parseAlertmanager({ ...amBody, alerts: [{ ...amAlert, labels: { a: 1 } }] }))).toEqual([
      expect.stringMatching(/^body\.alerts\[0\]\.labels\.a: .*expected string.* \(got 1\)$/),
    ]);
    expect(problemsOfPayload(() => parseAlertmanager({ ...amBody, alerts: [{ ...amAlert, fingerprint: '' }] }))).toEqual([
      expect.stringMatching(/^body\.alerts\[0\]\.fingerprint: Too small/),
    ]);
    expect(problemsOfPayload(() => parseAlertmanager({ ...amBody, alerts: [] }))).toEqual(['body.alerts: expected at least one alert (got [])']);
    expect(problemsOfPayload(() => parseAlertmanager([1, 2]))).toEqual([expect.stringMatching(/^body: .*expected object/)]);
    expect(problemsOfPayload(() => parseJson(''))).toEqual(['body: expected a JSON object (the body is empty)']);
    expect(problemsOfPayload(() => parseJson('{"a":'))).toEqual([expect.stringMatching(/^body: expected JSON \(/)]);
  });

  it('drops keys that could reach a prototype', () => {
    const parsed = parseJson('{"labels": {"__proto__": {"polluted": "yes"}, "a": "b"}}') as { labels: Record<string, unknown> };
    expect(Object.keys(parsed.labels)).toEqual(['a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reads Grafana payloads; without a fingerprint the labels give a stable one', () => {
    const grafana = {
      receiver: 'wh',
      status: 'firing',
      orgId: 1,
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'High', zone: 'us-1', service: 'orders-bus' },
          annotations: {},
          startsAt: '2026-01-01T00:00:00+02:00',
          fingerprint: 'c6eadffa33fcdf37',
          values: { B: 1 },
        },
        { status: 'resolved', labels: { service: 'orders-bus', zone: 'us-1', alertname: 'High' }, annotations: {}, valueString: '[ x ]' },
      ],
    };
    const [a, b] = parseGrafana(grafana);
    expect(a).toMatchObject({ source: 'grafana', fingerprint: 'c6eadffa33fcdf37', status: 'firing' });
    expect(b!.fingerprint).toBe(labelsFingerprint({ alertname: 'High', service: 'orders-bus', zone: 'us-1' }));
    expect(b!.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(labelsFingerprint({ a: 'b' })).not.toBe(labelsFingerprint({ a: 'c' }));
    expect(labelsFingerprint({ ab: 'c' })).not.toBe(labelsFingerprint({ a: 'bc' }));
    expect(problemsOfPayload(() => parseGrafana({ ...grafana, alerts: [{ labels: {} }] }))).toEqual([
      expect.stringMatching(/^body\.alerts\[0\]\.status: Invalid option/),
    ]);
  });
});

describe('authentication', () => {
  const body = Buffer.from('{"version":"4"}');
  const hmac = (secret: string, data: string) => createHmac('sha256', secret).update(data).digest('hex');
  const settings = (cfg: Record<string, unknown>, env: Record<string, string>): ReceiverAuth =>
    receiverAuthFromEnv(configWith({ receiver: cfg }).alerting!.receiver, env);

  it('fails at start naming each secret variable that is unset or empty', () => {
    expect(() => settings({ token_env: 'TOK', hmac_secret_env: 'SIG' }, { TOK: '' })).toThrow(
      /TOK: expected the secret named by alerting\.receiver\.token_env \(it is unset or empty\)\n {2}- SIG: expected the secret named by alerting\.receiver\.hmac_secret_env/,
    );
  });

  it('checks a bearer token', () => {
    const a = settings({ token_env: 'TOK' }, { TOK: 's3cret' });
    expect(authenticate(a, { authorization: 'Bearer s3cret' }, body, 0)).toEqual({ ok: true, via: 'token' });
    expect(authenticate(a, { authorization: 'bearer s3cret' }, body, 0)).toEqual({ ok: true, via: 'token' });
    expect(authenticate(a, { authorization: 'Bearer s3cre' }, body, 0)).toEqual({ ok: false, reason: 'bearer token does not match' });
    expect(authenticate(a, { authorization: 'Basic czNjcmV0' }, body, 0)).toEqual({ ok: false, reason: 'Authorization header: expected "Bearer <token>"' });
    expect(authenticate(a, {}, body, 0)).toEqual({ ok: false, reason: 'missing credentials: expected Authorization: Bearer <token>' });
  });

  it('checks an HMAC-SHA256 signature of a fresh signed timestamp and the raw body', () => {
    const a = settings({ hmac_secret_env: 'SIG' }, { SIG: 'k' });
    const now = 1_800_000_000_000;
    const ts = String(now / 1000 - 30);
    const sig = (data: string) => ({ 'x-signature': `sha256=${hmac('k', data)}`, 'x-signature-timestamp': ts });
    expect(authenticate(a, sig(`${ts}:${body}`), body, now)).toMatchObject({
      ok: true,
      via: 'hmac',
      signature: hmac('k', `${ts}:${body}`),
      signedAtMs: now - 30_000,
    });
    expect(authenticate(a, { ...sig(`${ts}:${body}`), 'x-signature': hmac('k', `${ts}:${body}`).toUpperCase() }, body, now)).toMatchObject({
      ok: true,
      via: 'hmac',
    });
    expect(authenticate(a, sig(`${ts}:${body} `), body, now)).toEqual({ ok: false, reason: 'x-signature signature does not match the body' });
    expect(authenticate(a, { ...sig(''), 'x-signature': 'sha256=abc' }, body, now)).toEqual({
      ok: false,
      reason: 'x-signature header: expected "sha256=<64 hex digits>"',
    });
    // A signature of the body alone, with no timestamp, is refused: it could be replayed at any time.
    expect(authenticate(a, { 'x-signature': `sha256=${hmac('k', body.toString())}` }, body, now)).toEqual({
      ok: false,
      reason: 'x-signature-timestamp header: expected the signed unix timestamp in seconds (required with HMAC)',
    });
    // A token sent where only HMAC is configured proves nothing.
    expect(authenticate(a, { authorization: 'Bearer k' }, body, now)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^missing credentials: expected x-signature: /),
    });

    const t = settings(
      { hmac_secret_env: 'SIG', hmac_header: 'X-Grafana-Alerting-Signature', hmac_timestamp_header: 'X-Ts', hmac_max_skew: '1m' },
      { SIG: 'k' },
    );
    const signed = { 'x-grafana-alerting-signature': hmac('k', `${ts}:${body}`), 'x-ts': ts };
    expect(authenticate(t, signed, body, now)).toMatchObject({ ok: true, via: 'hmac' });
    expect(authenticate(t, signed, body, now + 60_000)).toEqual({ ok: false, reason: 'x-ts header: timestamp is 90s away from now (allowed 60s)' });
    expect(authenticate(t, { ...signed, 'x-ts': String(now / 1000) }, body, now)).toEqual({
      ok: false,
      reason: 'x-grafana-alerting-signature signature does not match the body',
    });
    expect(authenticate(t, { 'x-grafana-alerting-signature': signed['x-grafana-alerting-signature'] }, body, now)).toEqual({
      ok: false,
      reason: 'x-ts header: expected the signed unix timestamp in seconds (required with HMAC)',
    });
  });

  it('with both configured, takes either where the sender cannot sign, a signature where it can, and refuses any wrong credential', () => {
    const a = settings({ token_env: 'TOK', hmac_secret_env: 'SIG' }, { TOK: 't', SIG: 'k' });
    const signed = { 'x-signature': `sha256=${hmac('k', `100:${body}`)}`, 'x-signature-timestamp': '100' };
    const now = 100_000;
    expect(authenticate(a, { authorization: 'Bearer t' }, body, now)).toMatchObject({ ok: true, via: 'token' });
    expect(authenticate(a, signed, body, now)).toMatchObject({ ok: true, via: 'hmac' });
    expect(authenticate(a, { authorization: 'Bearer t', ...signed }, body, now)).toMatchObject({ ok: true, via: 'hmac' });
    expect(authenticate(a, { authorization: 'Bearer wrong', ...signed }, body, now)).toEqual({ ok: false, reason: 'bearer token does not match' });
    expect(authenticate(a, { authorization: 'Bearer t', ...signed, 'x-signature': `sha256=${'0'.repeat(64)}` }, body, now)).toMatchObject({ ok: false });
    expect(authenticate(a, {}, body, now)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^missing credentials: expected Authorization: Bearer <token> or x-signature: /),
    });
    // Where a signature is required (Grafana), a bearer token alone is not enough.
    const grafana = { hmacRequired: true };
    expect(authenticate(a, { authorization: 'Bearer t' }, body, now, grafana)).toEqual({
      ok: false,
      reason: 'missing signature: this endpoint takes requests signed with x-signature and x-signature-timestamp only',
    });
    expect(authenticate(a, signed, body, now, grafana)).toMatchObject({ ok: true, via: 'hmac' });
  });

  it('checks what it can before the body is read', () => {
    const a = settings({ token_env: 'TOK', hmac_secret_env: 'SIG' }, { TOK: 't', SIG: 'k' });
    expect(preAuthenticate(a, {}, 0)).toMatchObject({ ok: false, reason: expect.stringMatching(/^missing credentials/) });
    expect(preAuthenticate(a, { authorization: 'Bearer nope' }, 0)).toEqual({ ok: false, reason: 'bearer token does not match' });
    expect(preAuthenticate(a, { 'x-signature': `sha256=${'a'.repeat(64)}`, 'x-signature-timestamp': '1' }, 3_600_000)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/timestamp is 3599s away/),
    });
    // A well-formed, fresh signature passes the header check; the body decides later.
    expect(preAuthenticate(a, { 'x-signature': `sha256=${'a'.repeat(64)}`, 'x-signature-timestamp': '1' }, 1000)).toMatchObject({ ok: true });
  });

  it('is open only when explicitly allowed', () => {
    expect(authenticate(settings({ allow_unauthenticated: true }, {}), {}, body, 0)).toEqual({ ok: true, via: 'none' });
  });
});

describe('receiver-side deduplication and concurrency', () => {
  it('drops a repeated alert state within the window, and forgets it after', async () => {
    let now = 0;
    const d = new AlertDeduper(1000, 100, () => now);
    const sent: string[] = [];
    const send = (what: string) => async () => void sent.push(what);
    expect(await d.run('svc|fp', 'firing', send('1'))).toBe('delivered');
    expect(await d.run('svc|fp', 'firing', send('2'))).toBe('duplicate');
    expect(await d.run('svc|other', 'firing', send('3'))).toBe('delivered');
    expect(await d.run('svc|fp', 'resolved', send('4'))).toBe('delivered');
    // Fired again after resolving: a new state, delivered even within the window.
    expect(await d.run('svc|fp', 'firing', send('5'))).toBe('delivered');
    now = 1000;
    expect(await d.run('svc|other', 'firing', send('6'))).toBe('delivered');
    expect(sent).toEqual(['1', '3', '4', '5', '6']);
  });

  it('shares a delivery under way and does not remember a failed one', async () => {
    const d = new AlertDeduper(60_000);
    let release!: () => void;
    let calls = 0;
    const slow = () => {
      calls++;
      return new Promise<void>((r) => (release = r));
    };
    const first = d.run('s|fp', 'firing', slow);
    const second = d.run('s|fp', 'firing', slow);
    release();
    expect(await Promise.all([first, second])).toEqual(['delivered', 'duplicate']);
    expect(calls).toBe(1);
    await expect(d.run('s|bad', 'firing', () => Promise.reject(new Error('temporal down')))).rejects.toThrow('temporal down');
    expect(await d.run('s|bad', 'firing', async () => undefined)).toBe('delivered');
  });

  it('keeps its memory bounded', async () => {
    const d = new AlertDeduper(60_000, 50);
    for (let i = 0; i < 200; i++) await d.run(`s|${i}`, 'firing', async () => undefined);
    expect(d.size).toBe(50);
    expect(await d.run('s|199', 'firing', async () => undefined)).toBe('duplicate');
    expect(await d.run('s|0', 'firing', async () => undefined)).toBe('delivered');
  });

  it('runs at most the configured number of calls at once', async () => {
    const limiter = new ConcurrencyLimiter(3);
    let active = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limiter
          .run(async () => {
            active++;
            peak = Math.max(peak, active);
            await new Promise((r) => setTimeout(r, 1 + (i % 3)));
            active--;
            if (i === 7) throw new Error('one fails');
            return i;
          })
          .catch((e: Error) => e.message),
      ),
    );
    expect(peak).toBe(3);
    expect(results[7]).toBe('one fails');
    expect(results.filter((r) => typeof r === 'number')).toHaveLength(19);
    expect(limiter.pending).toBe(0);
  });
});
