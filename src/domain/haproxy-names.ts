import { z } from 'zod';

/**
 * HAProxy accepts proxy and server names of letters, digits, ".", ":", "_" and "-" only. Names go into
 * runtime-API command lines, where ";" starts another command and a newline ends the line: anything
 * outside this set could smuggle a command in, so it is refused at config load and again before a command is built.
 */
export const HAPROXY_NAME = /^[A-Za-z0-9._:-]{1,128}$/;
export const HAPROXY_NAME_MESSAGE = 'expected a HAProxy name of letters, digits, ".", ":", "_" or "-" (max 128)';

export const haproxyNameSchema = z.string().regex(HAPROXY_NAME, HAPROXY_NAME_MESSAGE);

/** Throws unless `name` is a HAProxy identifier; `what` names the field in the error. */
export function assertHaproxyName(name: string, what: string): string {
  if (!HAPROXY_NAME.test(name)) throw new Error(`${what}: ${HAPROXY_NAME_MESSAGE}`);
  return name;
}
