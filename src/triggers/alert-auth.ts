import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { AlertReceiverConfig } from '../domain/config';
import { requireMs } from '../domain/duration';
import { InvalidInputError } from '../domain/validation';

/** Secrets resolved from the environment; never logged. */
export interface ReceiverAuth {
  token?: string;
  hmacSecret?: string;
  /** Lower-case header names, as Node presents them. */
  hmacHeader: string;
  timestampHeader?: string;
  maxSkewMs: number;
  allowUnauthenticated: boolean;
}

export type AuthResult = { ok: true; via: 'token' | 'hmac' | 'none' } | { ok: false; reason: string };

/** Reads the secrets the config names; fails naming each variable that is unset or empty. */
export function receiverAuthFromEnv(cfg: AlertReceiverConfig, env: NodeJS.ProcessEnv = process.env): ReceiverAuth {
  const problems: string[] = [];
  const read = (key: 'token_env' | 'hmac_secret_env'): string | undefined => {
    const name = cfg[key];
    if (name === undefined) return undefined;
    const value = env[name];
    if (!value) problems.push(`${name}: expected the secret named by alerting.receiver.${key} (it is unset or empty)`);
    return value || undefined;
  };
  const token = read('token_env');
  const hmacSecret = read('hmac_secret_env');
  if (problems.length > 0) throw new InvalidInputError('environment', problems);
  return {
    ...(token ? { token } : {}),
    ...(hmacSecret ? { hmacSecret } : {}),
    hmacHeader: cfg.hmac_header.toLowerCase(),
    ...(cfg.hmac_timestamp_header ? { timestampHeader: cfg.hmac_timestamp_header.toLowerCase() } : {}),
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

function checkToken(auth: ReceiverAuth & { token: string }, header: string): AuthResult {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return { ok: false, reason: 'Authorization header: expected "Bearer <token>"' };
  return sameSecret(m[1]!, auth.token) ? { ok: true, via: 'token' } : { ok: false, reason: 'bearer token does not match' };
}

function checkSignature(auth: ReceiverAuth & { hmacSecret: string }, header: string, headers: IncomingHttpHeaders, body: Buffer, nowMs: number): AuthResult {
  const m = /^(?:sha256=)?([0-9a-f]{64})$/i.exec(header.trim());
  if (!m) return { ok: false, reason: `${auth.hmacHeader} header: expected "sha256=<64 hex digits>"` };
  const mac = createHmac('sha256', auth.hmacSecret);
  if (auth.timestampHeader) {
    const ts = single(headers, auth.timestampHeader);
    if (typeof ts !== 'string' || !/^\d{1,12}$/.test(ts.trim())) return { ok: false, reason: `${auth.timestampHeader} header: expected a unix timestamp in seconds` };
    const skew = Math.abs(nowMs - Number(ts.trim()) * 1000);
    if (skew > auth.maxSkewMs) return { ok: false, reason: `${auth.timestampHeader} header: timestamp is ${Math.round(skew / 1000)}s away from now (allowed ${Math.round(auth.maxSkewMs / 1000)}s)` };
    mac.update(`${ts.trim()}:`);
  }
  const expected = mac.update(body).digest();
  const presented = Buffer.from(m[1]!, 'hex');
  return timingSafeEqual(presented, expected) ? { ok: true, via: 'hmac' } : { ok: false, reason: `${auth.hmacHeader} signature does not match the body` };
}

/**
 * Checks every credential the request presents for a configured mechanism: any wrong one refuses
 * the request, and at least one must be right (unless authentication is switched off).
 */
export function authenticate(auth: ReceiverAuth, headers: IncomingHttpHeaders, body: Buffer, nowMs: number): AuthResult {
  const results: AuthResult[] = [];
  if (auth.token !== undefined) {
    const h = single(headers, 'authorization');
    if (typeof h === 'object') return { ok: false, reason: 'Authorization header given more than once' };
    if (h !== undefined) results.push(checkToken({ ...auth, token: auth.token }, h));
  }
  if (auth.hmacSecret !== undefined) {
    const h = single(headers, auth.hmacHeader);
    if (typeof h === 'object') return { ok: false, reason: `${auth.hmacHeader} header given more than once` };
    if (h !== undefined) results.push(checkSignature({ ...auth, hmacSecret: auth.hmacSecret }, h, headers, body, nowMs));
  }
  const failed = results.find((r) => !r.ok);
  if (failed) return failed;
  if (results.length > 0) return results[0]!;
  if (auth.token === undefined && auth.hmacSecret === undefined && auth.allowUnauthenticated) return { ok: true, via: 'none' };
  const wanted = [
    ...(auth.token !== undefined ? ['Authorization: Bearer <token>'] : []),
    ...(auth.hmacSecret !== undefined ? [`${auth.hmacHeader}: sha256=<hex HMAC of the body>`] : []),
  ];
  return { ok: false, reason: `missing credentials: expected ${wanted.join(' or ')}` };
}
