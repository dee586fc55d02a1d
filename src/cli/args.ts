import { z } from 'zod';
import type { ServiceConfig } from '../domain/config';
import { usageError } from './errors';

/** Parses one command-line value; a failure names the argument, the value and what was expected. */
export function parseArg<S extends z.ZodType>(schema: S, value: unknown, name: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw usageError(`${name}: ${issue.message} (got ${JSON.stringify(value)})`, { argument: name, value });
}

export const limitSchema = z
  .string()
  .regex(/^\d+$/, 'expected a whole number from 1 to 1000')
  .transform(Number)
  .pipe(z.number().int().min(1, 'expected a whole number from 1 to 1000').max(1000, 'expected a whole number from 1 to 1000'));

/** A destination of the service, named by an option such as --to. */
export function destinationArg(service: ServiceConfig, value: string, name: string): string {
  const ids = service.destinations.map((d) => d.id);
  if (!ids.includes(value)) {
    throw usageError(`${name}: no destination ${JSON.stringify(value)} in service ${service.name} (has ${ids.join(', ')})`, { argument: name, value });
  }
  return value;
}

/** Runbook input fields as the operator typed them, for naming them in errors. */
const FLAG_OF: Record<string, string> = { to: '--to', destination: '--destination', run: '--run', reason: '--reason', actor: '--by', service: '<service>' };

/**
 * Checks a runbook input with the workflow's own schema before anything starts, so bad input is a
 * usage error naming the flag rather than a failed runbook.
 */
export function parseRunbookInput<S extends z.ZodType>(schema: S, input: Record<string, unknown>): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const problems = r.error.issues.map((issue) => {
    const field = String(issue.path[0] ?? '');
    const flag = FLAG_OF[field] ?? (field || 'input');
    const value = field ? input[field] : undefined;
    return `${flag}: ${issue.message}${value !== undefined ? ` (got ${preview(value)})` : ''}`;
  });
  throw usageError(problems.join('\n  '));
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
