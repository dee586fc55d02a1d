import { looksSecretKey, pathLooksSecret, redactUrlCredentials } from './secrets';
import type { z } from 'zod';
import { closestKey } from './schema-keys';

/** The keys accepted where an unknown key was found, for "did you mean". */
export type KnownKeys = (path: readonly PropertyKey[]) => readonly string[] | undefined;

/**
 * One line per problem: where it is, what was found, what was expected. An unknown key is named by
 * its own path, with the closest known key when `knownKeys` can tell (never the whole parent object).
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[], root = '', knownKeys?: KnownKeys): string[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys?.(issue.path) ?? [];
      return issue.keys.map((key) => {
        const guess = closestKey(key, known);
        const hint = guess ? `; did you mean "${guess}"?` : known.length > 0 && known.length <= 12 ? ` (expected one of ${known.join(', ')})` : '';
        return `${formatPath(root, [...issue.path, key])}: unknown key${hint}`;
      });
    }
    const where = formatPath(root, issue.path);
    // An unknown key's value says nothing about what was expected (and a parent's would be a dump);
    // a secret-looking key's value is never repeated: it may be the pasted secret itself.
    const shown = 'input' in issue && issue.input !== undefined && !issue.message.startsWith('unknown key') && !pathLooksSecret(issue.path);
    const found = shown ? ` (got ${preview(valueAt(issue.input, issue.path))})` : '';
    return [`${where}: ${issue.message}${found}`];
  });
}

export function formatPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const key of path) {
    out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  }
  return out || '(root)';
}

/**
 * Some issues (a bad discriminator, a refinement of a parent) carry a whole object; show just the
 * offending field's value: the longest tail of the path that leads to it inside that object.
 */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  if (input === null || typeof input !== 'object') return input;
  for (let from = 0; from < path.length; from++) {
    let v: unknown = input;
    let found = true;
    for (const key of path.slice(from)) {
      if (v !== null && typeof v === 'object' && Object.hasOwn(v, key)) v = (v as Record<PropertyKey, unknown>)[key];
      else {
        found = false;
        break;
      }
    }
    if (found) return v;
  }
  return input;
}

function preview(value: unknown): string {
  const json = JSON.stringify(value, (key, v: unknown) => (key !== '' && looksSecretKey(key) ? '***' : v));
  if (json === undefined) return String(value);
  const text = redactUrlCredentials(json);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Raised for input that can never become valid by retrying; the message names every bad field. */
export class InvalidInputError extends Error {
  constructor(
    readonly what: string,
    readonly problems: string[],
  ) {
    super(`invalid ${what}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'InvalidInputError';
  }
}

export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, root = ''): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (!result.success) throw new InvalidInputError(what, describeIssues(result.error.issues, root));
  return result.data;
}
