import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { HttpProbeConfig, TlsConfig } from '../../domain/config';
import { durationToMs } from '../../domain/duration';
import { classifyError, type ProbeResult } from './types';

/** How much of a response body is read: enough for a health page, bounded so a huge answer cannot hurt the worker. */
export const MAX_BODY_BYTES = 64 * 1024;

export interface HttpCall {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  tls?: TlsConfig | undefined;
  /** Deadline for the whole exchange: connect, TLS, headers and body. */
  timeoutMs: number;
}

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body was longer than MAX_BODY_BYTES and was cut. */
  truncated: boolean;
}

class HttpTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
}

/** Certificate problems, named so an operator sees "TLS" rather than an OpenSSL code alone. */
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS|ERR_SSL|EPROTO/;

/**
 * One HTTP(S) exchange on a fresh connection (no keep-alive pool: a probe must see the destination as a
 * new client would). Node's http/https rather than fetch, because fetch cannot take a per-call CA or
 * server name without an extra dependency and hides the socket error codes that classify failures.
 */
export async function httpRequest(call: HttpCall): Promise<HttpAnswer> {
  const url = new URL(call.url);
  const secure = url.protocol === 'https:';
  const tls = call.tls;
  let ca: Buffer | undefined;
  if (secure && tls?.ca_file) {
    try {
      ca = await fs.readFile(tls.ca_file);
    } catch (err) {
      throw new Error(`cannot read tls.ca_file ${tls.ca_file}: ${(err as Error).message}`);
    }
  }
  const options: https.RequestOptions = {
    method: call.method,
    headers: { 'user-agent': 'failover-manager', ...call.headers },
    agent: false,
    ...(secure
      ? {
          ...(ca ? { ca } : {}),
          rejectUnauthorized: !tls?.insecure_skip_verify,
          ...(tls?.server_name ? { servername: tls.server_name } : {}),
        }
      : {}),
  };
  return new Promise<HttpAnswer>((resolve, reject) => {
    const req = (secure ? https : http).request(url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      const finish = () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), truncated });
      };
      res.on('data', (chunk: Buffer) => {
        if (truncated) return;
        const room = MAX_BODY_BYTES - size;
        if (chunk.length >= room) {
          chunks.push(chunk.subarray(0, room));
          size += room;
          truncated = chunk.length > room;
          if (truncated) {
            finish();
            res.destroy();
          }
          return;
        }
        chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => {
        if (!truncated) finish();
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        if (!truncated) reject(err);
      });
    });
    const timer = setTimeout(() => {
      const err = new HttpTimeoutError(`${call.method} ${redact(url)} timed out: no complete answer within ${call.timeoutMs}ms`);
      reject(err);
      req.destroy(err);
    }, call.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code && TLS_CODES.test(err.code)) {
        const tlsErr = new Error(`TLS: ${err.message} (${err.code})`);
        reject(Object.assign(tlsErr, { code: err.code }));
      } else reject(err);
    });
    req.end(call.body);
  });
}

/** The URL without credentials or query, for error messages. */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** `auth_header: <value of $auth_env>`, or nothing; throws naming the variable (never its value) when it is unset. */
export function authHeaders(cfg: { auth_header: string; auth_env?: string | undefined }, field = 'auth_env'): Record<string, string> {
  if (!cfg.auth_env) return {};
  const value = process.env[cfg.auth_env];
  if (value === undefined || value === '') throw new Error(`environment variable ${cfg.auth_env} (${field}) is not set`);
  return { [cfg.auth_header]: value };
}

/** Headers whose values are read from environment variables now (header name → variable name). */
export function envHeaders(fromEnv: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [header, env] of Object.entries(fromEnv ?? {})) {
    const value = process.env[env];
    if (value === undefined || value === '') throw new Error(`environment variable ${env} (headers_env.${header}) is not set`);
    out[header] = value;
  }
  return out;
}

/** Whether `status` is one of the patterns: 503, "5xx", "200-399". */
export function statusMatches(status: number, patterns: readonly (number | string)[]): boolean {
  return patterns.some((p) => {
    if (typeof p === 'number') return status === p;
    if (p.endsWith('xx')) return Math.floor(status / 100) === Number(p[0]);
    const [lo, hi] = p.split('-').map(Number) as [number, number | undefined];
    return hi === undefined ? status === lo : status >= lo && status <= hi;
  });
}

/**
 * Probes an HTTP(S) endpoint. Up means: an answer within the timeout, with an expected status, a body that
 * matches (when asked), and no slower than `max_latency` (when set). A slow answer is reported as down with
 * failure "error" rather than as a separate "degraded" state, so the detection thresholds treat a
 * destination that is consistently too slow like one that fails. Redirects are not followed: a 3xx is
 * compared with `expect_status` like any other status.
 */
export async function probeHttp(config: HttpProbeConfig, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  let answer: HttpAnswer;
  try {
    answer = await httpRequest({
      method: config.method,
      url: config.url,
      headers: { accept: '*/*', ...config.headers, ...envHeaders(config.headers_env), ...authHeaders(config) },
      ...(config.body !== undefined ? { body: config.body } : {}),
      tls: config.tls,
      timeoutMs,
    });
  } catch (err) {
    return { up: false, latencyMs: performance.now() - started, ...classifyError(err) };
  }
  const latencyMs = performance.now() - started;
  const down = (error: string): ProbeResult => ({ up: false, latencyMs, error, failure: 'error' });
  if (!statusMatches(answer.status, config.expect_status)) {
    return down(`answered ${answer.status}, expected ${config.expect_status.join(', ')}`);
  }
  const cut = answer.truncated ? ` (first ${MAX_BODY_BYTES} bytes read)` : '';
  if (config.expect_body !== undefined && !answer.body.includes(config.expect_body)) {
    return down(`body does not contain ${JSON.stringify(config.expect_body)}${cut}`);
  }
  if (config.expect_body_regex !== undefined && !new RegExp(config.expect_body_regex).test(answer.body)) {
    return down(`body does not match /${config.expect_body_regex}/${cut}`);
  }
  const maxMs = config.max_latency !== undefined ? durationToMs(config.max_latency) : undefined;
  if (maxMs !== undefined && latencyMs > maxMs) {
    return down(`answered in ${Math.round(latencyMs)}ms, slower than max_latency ${config.max_latency}`);
  }
  return { up: true, latencyMs };
}
