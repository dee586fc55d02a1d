import { z } from 'zod';

/**
 * Config keys whose value may be a secret, or where a person may have pasted one by mistake
 * (`password_env: hunter2`): errors about them never show the value.
 */
const SECRET_KEY = /pass(word)?|secret|token|auth|credential|api[-_]?key|private[-_]?key|signing[-_]?key|cookie|^headers(_env)?$/i;

export function looksSecretKey(key: PropertyKey): boolean {
  // `auth_header`, `hmac_header` name a header, not its value.
  return typeof key === 'string' && SECRET_KEY.test(key) && !/_header$/.test(key);
}

/** Whether any key along a config path looks secret (`services[0].probe.headers.X-Token` does, by `headers`). */
export function pathLooksSecret(path: readonly PropertyKey[]): boolean {
  return path.some(looksSecretKey);
}

/**
 * An environment variable name as a POSIX shell exports it: capitals, digits and "_". Lower case is
 * refused too: a value like `hunter2` or `s3cr3t` is far more likely a pasted secret than a variable name.
 */
export const ENV_NAME = /^[A-Z_][A-Z0-9_]{0,127}$/;
export const ENV_NAME_MESSAGE = 'expected the name of an environment variable (capitals, digits, "_", e.g. REDIS_PASSWORD), never the secret itself';
export const envNameSchema = z.string().regex(ENV_NAME, ENV_NAME_MESSAGE);

/** Headers that carry credentials by convention: their values come from `headers_env`, never from the config text. */
const SECRET_HEADER = /^(authorization|proxy-authorization|cookie)$|token|secret|api[-_]?key|auth|session|password|signature|credential/i;
export function looksSecretHeader(name: string): boolean {
  return SECRET_HEADER.test(name);
}

/** A value that reads like a credential whatever its header is called: an auth scheme, or a long opaque string. */
export function looksLikeCredential(value: string): boolean {
  if (/^(bearer|basic|digest|token|negotiate|apikey)\s+\S/i.test(value)) return true;
  const opaque = /^[A-Za-z0-9+/=_.~-]{24,}$/.test(value);
  const classes = [/[a-z]/, /[A-Z]/, /\d/].filter((r) => r.test(value)).length;
  return opaque && classes >= 2 && /\d/.test(value);
}

/** True when a URL carries a user name or password (`https://user:pw@host`). */
export function urlHasCredentials(s: string): boolean {
  try {
    const u = new URL(s);
    return u.username !== '' || u.password !== '';
  } catch {
    return /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(s);
  }
}

export const URL_CREDENTIALS_MESSAGE = 'expected no credentials in the URL (user:password@); give them through an *_env key';

/** The URLs inside a text with their user-info replaced, for messages and logs. */
export function redactUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/?#\s@"]*@/gi, '$1***@');
}
