import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AlertReceiverConfig } from '../domain/config';
import { requireMs } from '../domain/duration';
import { InvalidInputError } from '../domain/validation';

/** Secrets resolved from the environment; never logged. */
export interface ReceiverAuth {
  token?: string;
  /** Bearer token `/metrics` requires, when configured. */
  metricsToken?: string;
  hmacSecret?: string;
  /** Lower-case header names, as Node presents them. */
  hmacHeader: string;
  /** The signed timestamp is required with HMAC. */
  timestampHeader: string;
  maxSkewMs: number;
  allowUnauthenticated: boolean;
}

/** A good signature comes with its digest and signed time, for the replay check. */
export type AuthResult = { ok: true; via: 'token' | 'none' } | { ok: true; via: 'hmac'; signature: string; signedAtMs: number } | { ok: false; reason: string };

/**
 * Which mechanism a request must use. Grafana signs: with a secret configured, its endpoint takes
 * signed requests only (a bearer token alone proves neither freshness nor integrity). Alertmanager
 * cannot sign: its endpoint takes either configured mechanism.
 */
export interface AuthRequirement {
  hmacRequired: boolean;
}

/** Reads the secrets the config names; fails naming each variable that is unset or empty. */
export function receiverAuthFromEnv(cfg: AlertReceiverConfig, env: NodeJS.ProcessEnv = process.env): ReceiverAuth {
  const problems: string[] = [];
  const read = (key: 'token_env' | 'hmac_secret_env' | 'metrics_token_env'): string | undefined => {
    const name = cfg[key];
    if (name === undefined) return undefined;
    const value = env[name];
    if (!value) problems.push(`${name}: expected the secret named by alerting.receiver.${key} (it is unset or empty)`);
    return value || undefined;
  };
  const token = read('token_env');
  const hmacSecret = read('hmac_secret_env');
  const metricsToken = read('metrics_token_env');
  if (problems.length > 0) throw new InvalidInputError('environment', problems);
  return {
    ...(token ? { token } : {}),
    ...(metricsToken ? { metricsToken } : {}),
    ...(hmacSecret ? { hmacSecret } : {}),
    hmacHeader: cfg.hmac_header.toLowerCase(),
    timestampHeader: cfg.hmac_timestamp_header.toLowerCase(),
    maxSkewMs: requireMs(cfg.hmac_max_skew),
    allowUnauthenticated: cfg.allow_unauthenticated,
  };
}

/** Equal-length digests, so neither the content nor the length of the secret leaks through timing. */
function sameSecret(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function single(headers: IncomingHttpHeaders, name: string): string | undefined | { repeated: true } {
  const v = headers[name];
  if (Array.isArray(v)) return v.length === 1 ? v[0] : { repeated: true };
  return v;
}

/** Whether a request to `/metrics` carries the metrics token (or none is configured). */
export function metricsAllowed(auth: ReceiverAuth, headers: IncomingHttpHeaders): boolean {
  if (auth.metricsToken === undefined) return true;
  const h = single(headers, 'authorization');
  const m = typeof h === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  return m !== null && sameSecret(m[1]!, auth.metricsToken);
}

function checkToken(auth: ReceiverAuth & { token: string }, header: string): AuthResult {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return { ok: false, reason: 'Authorization header: expected "Bearer <token>"' };
  return sameSecret(m[1]!, auth.token) ? { ok: true, via: 'token' } : { ok: false, reason: 'bearer token does not match' };
}

/** The signature header's digest and the signed timestamp, checked for shape and freshness; no body needed. */
function signatureHeaders(
  auth: ReceiverAuth,
  header: string,
  headers: IncomingHttpHeaders,
  nowMs: number,
): { ok: false; reason: string } | { ok: true; digest: Buffer; ts: string } {
  const m = /^(?:sha256=)?([0-9a-f]{64})$/i.exec(header.trim());
  if (!m) return { ok: false, reason: `${auth.hmacHeader} header: expected "sha256=<64 hex digits>"` };
  const ts = single(headers, auth.timestampHeader);
  if (typeof ts !== 'string' || !/^\d{1,12}$/.test(ts.trim())) {
    return { ok: false, reason: `${auth.timestampHeader} header: expected the signed unix timestamp in seconds (required with HMAC)` };
  }
  const skew = Math.abs(nowMs - Number(ts.trim()) * 1000);
  if (skew > auth.maxSkewMs)
    return {
      ok: false,
      reason: `${auth.timestampHeader} header: timestamp is ${Math.round(skew / 1000)}s away from now (allowed ${Math.round(auth.maxSkewMs / 1000)}s)`,
    };
  return { ok: true, digest: Buffer.from(m[1]!, 'hex'), ts: ts.trim() };
}

function checkSignature(auth: ReceiverAuth & { hmacSecret: string }, header: string, headers: IncomingHttpHeaders, body: Buffer, nowMs: number): AuthResult {
  const parts = signatureHeaders(auth, header, headers, nowMs);
  if (!parts.ok) return parts;
  const expected = createHmac('sha256', auth.hmacSecret).update(`${parts.ts}:`).update(body).digest();
  if (!timingSafeEqual(parts.digest, expected)) return { ok: false, reason: `${auth.hmacHeader} signature does not match the body` };
  return { ok: true, via: 'hmac', signature: parts.digest.toString('hex'), signedAtMs: Number(parts.ts) * 1000 };
}

/** The credentials a request presents, each checked as far as headers allow (`body` undefined) or fully. */
function check(auth: ReceiverAuth, headers: IncomingHttpHeaders, body: Buffer | undefined, nowMs: number, need: AuthRequirement): AuthResult {
  const results: AuthResult[] = [];
  let signed = false;
  if (auth.token !== undefined) {
    const h = single(headers, 'authorization');
    if (typeof h === 'object') return { ok: false, reason: 'Authorization header given more than once' };
    if (h !== undefined) results.push(checkToken({ ...auth, token: auth.token }, h));
  }
  if (auth.hmacSecret !== undefined) {
    const h = single(headers, auth.hmacHeader);
    if (typeof h === 'object') return { ok: false, reason: `${auth.hmacHeader} header given more than once` };
    if (h !== undefined) {
      signed = true;
      if (body !== undefined) results.push(checkSignature({ ...auth, hmacSecret: auth.hmacSecret }, h, headers, body, nowMs));
      else {
        const parts = signatureHeaders(auth, h, headers, nowMs);
        if (!parts.ok) results.push(parts);
      }
    }
  }
  const failed = results.find((r) => !r.ok);
  if (failed) return failed;
  if (need.hmacRequired && auth.hmacSecret !== undefined && !signed) {
    return { ok: false, reason: `missing signature: this endpoint takes requests signed with ${auth.hmacHeader} and ${auth.timestampHeader} only` };
  }
  if (results.length > 0) return results.find((r) => r.ok && r.via === 'hmac') ?? results[0]!;
  if (signed) return { ok: true, via: 'none' }; // headers only: the signature is checked once the body is in
  if (auth.token === undefined && auth.hmacSecret === undefined && auth.allowUnauthenticated) return { ok: true, via: 'none' };
  const wanted = [
    ...(auth.token !== undefined && !(need.hmacRequired && auth.hmacSecret !== undefined) ? ['Authorization: Bearer <token>'] : []),
    ...(auth.hmacSecret !== undefined ? [`${auth.hmacHeader}: sha256=<hex HMAC of "<timestamp>:<body>"> with ${auth.timestampHeader}`] : []),
  ];
  return { ok: false, reason: `missing credentials: expected ${wanted.join(' or ')}` };
}

/**
 * What can be checked before the body is read: credentials present, a bearer token right, a signature
 * well-formed with a fresh timestamp. A request failing here is refused without reading its body.
 */
export function preAuthenticate(auth: ReceiverAuth, headers: IncomingHttpHeaders, nowMs: number, need: AuthRequirement = { hmacRequired: false }): AuthResult {
  return check(auth, headers, undefined, nowMs, need);
}

/**
 * Checks every credential the request presents for a configured mechanism: any wrong one refuses
 * the request, and at least one must be right (unless authentication is switched off).
 */
export function authenticate(
  auth: ReceiverAuth,
  headers: IncomingHttpHeaders,
  body: Buffer,
  nowMs: number,
  need: AuthRequirement = { hmacRequired: false },
): AuthResult {
  return check(auth, headers, body, nowMs, need);
}
