import { describe, expect, it } from 'vitest';
import { routerFor } from '../../src/drivers';
import { statusMatches } from '../../src/drivers/probes/http';
import { compare } from '../../src/drivers/probes/prometheus';
import { FileRouter } from '../../src/drivers/routers/file';
import { WebhookRouter } from '../../src/drivers/routers/http-webhook';
import { parseConfigText } from '../../src/config-file';
import { configProblems } from '../support/config-problems';

/** One service with the given router and probe, written as YAML flow maps. */
const config = (router: string, probe: string) => `
services:
  - name: hooks
    router: ${router}
    destinations:
      - id: hook-a
        zone: a
        region: r
        probe: ${probe}
`;
const fileRouter = '{ type: file, path: /var/lib/failover-manager/hooks.json }';
const tcpProbe = '{ type: tcp, host: 127.0.0.1, port: 8080 }';

const problems = configProblems;

const probePath = 'services[0].destinations[0].probe';

describe('http probe config', () => {
  it('fills defaults: GET, any 2xx, no TLS options', () => {
    const probe = parseConfigText(config(fileRouter, '{ type: http, url: "https://hooks.example/health" }')).services[0]!.destinations[0]!.probe;
    expect(probe).toEqual({ type: 'http', url: 'https://hooks.example/health', method: 'GET', expect_status: ['2xx'], auth_header: 'Authorization' });
  });

  it('takes every option, and a single expected status as a list', () => {
    const probe = parseConfigText(
      config(
        fileRouter,
        `{ type: http, url: "https://10.0.0.5:8443/health", method: POST, headers: { X-Check: deep }, body: "{}", expect_status: 204,
           expect_body: ok, expect_body_regex: "^ok", max_latency: 250ms, auth_header: X-Token, auth_env: HOOK_TOKEN,
           tls: { ca_file: /etc/ssl/hooks-ca.pem, server_name: hooks.internal } }`,
      ),
    ).services[0]!.destinations[0]!.probe;
    expect(probe).toMatchObject({
      method: 'POST',
      expect_status: [204],
      max_latency: '250ms',
      tls: { ca_file: '/etc/ssl/hooks-ca.pem', server_name: 'hooks.internal', insecure_skip_verify: false },
    });
  });

  it('names each bad field with its value and what was expected', () => {
    expect(problems(config(fileRouter, '{ type: http, url: "ftp://hooks.example/x" }'))).toEqual([
      `${probePath}.url: expected an http:// or https:// URL (got "ftp://hooks.example/x")`,
    ]);
    expect(
      problems(config(fileRouter, '{ type: http, url: "http://h/x", expect_status: [200, "399-200", abc, 700], expect_body_regex: "(", max_latency: fast }')),
    ).toEqual([
      `${probePath}.expect_status[1]: expected a status code (200), a class ("2xx") or a range ("200-399") (got "399-200")`,
      `${probePath}.expect_status[2]: expected a status code (200), a class ("2xx") or a range ("200-399") (got "abc")`,
      `${probePath}.expect_status[3]: expected a status code (200), a class ("2xx") or a range ("200-399") (got 700)`,
      `${probePath}.expect_body_regex: expected a valid JavaScript regular expression (got "(")`,
      `${probePath}.max_latency: expected a duration with a unit, such as "500ms", "30s" or "5m" (got "fast")`,
    ]);
    expect(
      problems(config(fileRouter, '{ type: http, url: "http://h/x", method: DELETE, auth_env: my-token, tls: { insecure_skip_verify: "yes", ca: x } }')),
    ).toEqual([
      `${probePath}.method: Invalid option: expected one of "GET"|"HEAD"|"POST"|"PUT"|"PATCH"|"OPTIONS" (got "DELETE")`,
      `${probePath}.tls.insecure_skip_verify: Invalid input: expected boolean, received string (got "yes")`,
      `${probePath}.tls.ca: unknown key; did you mean "ca_file"?`,
      `${probePath}.auth_env: expected the name of an environment variable (capitals, digits, "_", e.g. REDIS_PASSWORD), never the secret itself`,
    ]);
  });

  it('matches statuses by code, class and range', () => {
    expect(statusMatches(204, ['2xx'])).toBe(true);
    expect(statusMatches(301, ['2xx'])).toBe(false);
    expect(statusMatches(301, [200, '300-399'])).toBe(true);
    expect(statusMatches(404, [200, '300-399'])).toBe(false);
    expect(statusMatches(418, ['418'])).toBe(true);
  });
});

describe('prometheus probe config', () => {
  it('accepts a query with an operator and threshold; empty results are down by default', () => {
    const probe = parseConfigText(
      config(fileRouter, '{ type: prometheus, url: "http://prometheus:9090", query: "sum(rate(errors[1m]))", op: "<", threshold: 0.01 }'),
    ).services[0]!.destinations[0]!.probe;
    expect(probe).toEqual({
      type: 'prometheus',
      url: 'http://prometheus:9090',
      query: 'sum(rate(errors[1m]))',
      op: '<',
      threshold: 0.01,
      on_empty: 'down',
      auth_header: 'Authorization',
    });
  });

  it('names each bad field', () => {
    expect(problems(config(fileRouter, '{ type: prometheus, url: "http://p:9090", query: "", op: "=>", on_empty: maybe }'))).toEqual([
      `${probePath}.query: Too small: expected string to have >=1 characters (got "")`,
      `${probePath}.op: Invalid option: expected one of ">"|"<"|">="|"<="|"=="|"!=" (got "=>")`,
      `${probePath}.on_empty: Invalid option: expected one of "down"|"up" (got "maybe")`,
      `${probePath}.threshold: expected a number, or error_rate: true`,
    ]);
    expect(problems(config(fileRouter, '{ type: prometheus, url: "http://p:9090", query: up, op: "==", threshold: "1", tresh: 1 }'))).toEqual([
      `${probePath}.threshold: Invalid input: expected number, received string (got "1")`,
      expect.stringMatching(/^services\[0\]\.destinations\[0\]\.probe\.tresh: unknown key/),
    ]);
  });

  it('takes error_rate: true (bounded by quality.max_error_rate) instead of op and threshold, under validation only', () => {
    expect(problems(config(fileRouter, '{ type: prometheus, url: "http://p:9090", query: up, error_rate: true, op: "<", threshold: 1 }'))).toEqual([
      `${probePath}.error_rate: expected either error_rate: true (bounded by quality.max_error_rate) or op and threshold, not both (got true)`,
      `${probePath}.error_rate: expected op and threshold: error_rate probes belong under the service's validation (got true)`,
    ]);
    const ok = config(fileRouter, '{ type: tcp, host: h, port: 1 }').replace(
      '    destinations:',
      '    validation:\n      - { type: prometheus, url: "http://p:9090", query: "sum(rate(errors[1m])) / sum(rate(requests[1m]))", error_rate: true }\n    destinations:',
    );
    const v = parseConfigText(ok).services[0]!.validation[0]!;
    expect(v).toMatchObject({ type: 'prometheus', error_rate: true });
  });

  it('compares with each operator', () => {
    expect([compare(2, '>', 1), compare(1, '>', 1), compare(1, '>=', 1), compare(1, '<', 2), compare(2, '<=', 1)]).toEqual([true, false, true, true, false]);
    expect([compare(1, '==', 1), compare(1, '!=', 1), compare(Number.NaN, '!=', 1), compare(Number.NaN, '<', 1)]).toEqual([true, false, true, false]);
  });
});

describe('file and http-webhook router config', () => {
  it('builds a FileRouter for type file', () => {
    const service = parseConfigText(config(fileRouter, tcpProbe)).services[0]!;
    expect(service.router).toEqual({ type: 'file', path: '/var/lib/failover-manager/hooks.json' });
    expect(routerFor(service)).toBeInstanceOf(FileRouter);
  });

  it('builds a WebhookRouter for type http-webhook, with defaults', () => {
    const service = parseConfigText(config('{ type: http-webhook, url: "https://router.internal/routing/hooks" }', tcpProbe)).services[0]!;
    expect(service.router).toEqual({ type: 'http-webhook', url: 'https://router.internal/routing/hooks', auth_header: 'Authorization', timeout: '5s' });
    expect(routerFor(service)).toBeInstanceOf(WebhookRouter);
  });

  it('names each bad field', () => {
    expect(problems(config('{ type: file, path: "" }', tcpProbe))).toEqual([
      'services[0].router.path: Too small: expected string to have >=1 characters (got "")',
    ]);
    expect(problems(config('{ type: file }', tcpProbe))).toEqual(['services[0].router.path: Invalid input: expected string, received undefined']);
    expect(
      problems(
        config(
          '{ type: http-webhook, url: "http://r/x", read_url: nope, auth_header: "Bad Header", auth_env: 1TOKEN, timeout: soon, secret: hunter2 }',
          tcpProbe,
        ),
      ),
    ).toEqual([
      'services[0].router.read_url: expected an http:// or https:// URL (got "nope")',
      'services[0].router.auth_header: expected an HTTP header name (got "Bad Header")',
      'services[0].router.auth_env: expected the name of an environment variable (capitals, digits, "_", e.g. REDIS_PASSWORD), never the secret itself',
      'services[0].router.timeout: expected a duration with a unit, such as "500ms", "30s" or "5m" (got "soon")',
      expect.stringMatching(/^services\[0\]\.router\.secret: unknown key/),
    ]);
    expect(problems(config('{ type: webhook, url: "http://r/x" }', tcpProbe))[0]).toMatch(
      /^services\[0\]\.router\.type: Invalid discriminator value\. Expected 'haproxy' \| .*'file' \| 'http-webhook'.* \(got "webhook"\)$/,
    );
  });
});
