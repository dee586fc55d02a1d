import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { envHeaders } from '../../src/drivers/probes/http';
import { parseConfigText } from '../../src/config-file';
import { REDACT } from '../../src/security/redact';
import { configProblems } from '../support/config-problems';

const withProbe = (probe: string, extra = '') => `
services:
  - name: orders-bus
    router: { type: file, path: /tmp/routing.json }
    destinations:
      - id: redis-a
        zone: a
        region: r
        probe: ${probe}
${extra}`;

describe('secrets in config', () => {
  it('refuses a password pasted into password_env without echoing it', () => {
    for (const pasted of ['Hunter2!pw', 'hunter2', 'correct horse battery staple']) {
      const problems = configProblems(withProbe(`{ type: redis, host: 127.0.0.1, port: 6379, password_env: ${JSON.stringify(pasted)} }`));
      expect(problems).toEqual([expect.stringMatching(/^services\[0\]\.destinations\[0\]\.probe\.password_env: expected the name of an environment variable/)]);
      expect(problems.join('\n')).not.toContain(pasted);
    }
    const ok = parseConfigText(withProbe('{ type: redis, host: 127.0.0.1, port: 6379, password_env: REDIS_A_PASSWORD }'));
    expect(ok.services[0]!.destinations[0]!.probe).toMatchObject({ password_env: 'REDIS_A_PASSWORD' });
  });

  it('takes credential headers from the environment only', () => {
    const literal = configProblems(withProbe('{ type: http, url: "http://h/health", headers: { Authorization: "Bearer abc.def" } }'));
    expect(literal).toEqual([
      expect.stringMatching(/^services\[0\]\.destinations\[0\]\.probe\.headers\.Authorization: expected no credential in the config text; .*headers_env/),
    ]);
    expect(literal.join('\n')).not.toContain('abc.def');
    // A credential under an innocent name is caught by its shape.
    const shaped = configProblems(withProbe('{ type: http, url: "http://h/health", headers: { X-Custom: "Basic dXNlcjpwYXNz" } }'));
    expect(shaped).toEqual([expect.stringMatching(/probe\.headers\.X-Custom: expected no credential/)]);
    expect(shaped.join('\n')).not.toContain('dXNlcjpwYXNz');
    const ok = parseConfigText(withProbe('{ type: http, url: "http://h/health", headers: { X-Check: deep }, headers_env: { X-Api-Key: PROBE_API_KEY } }'));
    expect(ok.services[0]!.destinations[0]!.probe).toMatchObject({ headers: { 'X-Check': 'deep' }, headers_env: { 'X-Api-Key': 'PROBE_API_KEY' } });
  });

  it('resolves headers_env at probe time and names the variable when it is unset', () => {
    process.env.FM_UNIT_PROBE_KEY = 'k-123';
    try {
      expect(envHeaders({ 'X-Api-Key': 'FM_UNIT_PROBE_KEY' })).toEqual({ 'X-Api-Key': 'k-123' });
    } finally {
      delete process.env.FM_UNIT_PROBE_KEY;
    }
    expect(() => envHeaders({ 'X-Api-Key': 'FM_UNIT_PROBE_KEY' })).toThrow('environment variable FM_UNIT_PROBE_KEY (headers_env.X-Api-Key) is not set');
  });

  it('refuses credentials in URLs without echoing them', () => {
    const probe = configProblems(withProbe('{ type: http, url: "https://admin:s3cretpw@h.example/health" }'));
    expect(probe).toEqual([expect.stringMatching(/^services\[0\]\.destinations\[0\]\.probe\.url: expected no credentials in the URL/)]);
    expect(probe.join('\n')).not.toContain('s3cretpw');
    const webhook = configProblems(
      withProbe('{ type: tcp, host: h, port: 1 }', 'failover_manager:\n  notifications: { webhook: "https://tok3n@hooks.example/x" }'),
    );
    expect(webhook).toEqual([expect.stringMatching(/^failover_manager\.notifications\.webhook: expected no credentials in the URL/)]);
    expect(webhook.join('\n')).not.toContain('tok3n');
  });

  it('never echoes the value of a secret-looking key, even in another kind of error', () => {
    const problems = configProblems(withProbe('{ type: http, url: "http://h/x", auth_env: "my-t0ken-value" }'));
    expect(problems).toEqual([expect.stringMatching(/probe\.auth_env: expected the name of an environment variable/)]);
    expect(problems.join('\n')).not.toContain('my-t0ken-value');
  });
});

describe('log redaction', () => {
  it('replaces known secret paths in log lines', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
    const log = pino({ redact: REDACT }, sink);
    log.info({ req: { headers: { authorization: 'Bearer tok-1', 'x-signature': 'sha256=abc1' } }, password: 'pw-2', alert: { token: 'tok-3' } }, 'request');
    log.info({ headers: { cookie: 'sid=c-4', accept: 'text/plain' } }, 'probe');
    const text = lines.join('');
    for (const secret of ['tok-1', 'abc1', 'pw-2', 'tok-3', 'c-4']) expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
    expect(text).toContain('text/plain');
  });
});
