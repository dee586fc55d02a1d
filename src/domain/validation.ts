import { looksSecretKey, pathLooksSecret, redactUrlCredentials } from './secrets';
import type { z } from 'zod';

/** One line per problem: where it is, what was found, what was expected. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], root = ''): string[] {
  return issues.map((issue) => {
    const where = formatPath(root, issue.path);
    // A secret-looking key's value is never repeated: it may be the pasted secret itself.
    const shown = 'input' in issue && issue.input !== undefined && !pathLooksSecret(issue.path);
    const found = shown ? ` (got ${preview(valueAt(issue.input, issue.path))})` : '';
    return `${where}: ${issue.message}${found}`;
  });
}

export function formatPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const key of path) {
    out += typeof key === 'number' ? `[${key}]` : out ? `.${String(key)}` : String(key);
  }
  return out || '(root)';
}

/** Some issues (a bad discriminator) carry the whole object; show just the offending field's value. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  const last = path[path.length - 1];
  if (last !== undefined && input !== null && typeof input === 'object' && !Array.isArray(input) && Object.hasOwn(input, last)) {
    return (input as Record<PropertyKey, unknown>)[last];
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
