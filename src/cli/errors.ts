import { ServiceError, WorkflowUpdateFailedError } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { ServiceBusyError } from '../client/start-runbook';
import { InvalidInputError } from '../domain/validation';
import { missingKeyMessage } from '../security/codec';

/** Exit codes a script can branch on; listed in `failover --help` and docs/cli.md. */
export const EXIT = {
  ok: 0,
  /** A runbook failed or was rolled back, or a control request was rejected. */
  failed: 1,
  /** Bad command line, argument, option or config file. */
  usage: 2,
  /** Another mutating runbook holds the service. */
  busy: 3,
  /** Temporal, a worker, or a component (router, probe) could not be reached. */
  unreachable: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
  0  ok
  1  runbook failed or rolled back, control request rejected, plan blocked
  2  usage: unknown command or option, bad argument value, bad config file
  3  service busy: another runbook of the service is running (it is named)
  4  cannot reach Temporal, a worker, or a component (router, probe)`;

/** An error that ends a command with a given exit code; `details` go into the --json error document. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly code: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string, details: Record<string, unknown> = {}) => new CliError(message, EXIT.usage, 'usage', details);
export const unreachableError = (message: string, details: Record<string, unknown> = {}) => new CliError(message, EXIT.unreachable, 'unreachable', details);

/** gRPC status codes that mean "could not talk to the server", not "the server said no". */
const UNREACHABLE_GRPC = new Set([4 /* DEADLINE_EXCEEDED */, 14 /* UNAVAILABLE */]);

function grpcCode(err: unknown): number | undefined {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Innermost message of a wrapped error (Temporal wraps the reason a few levels deep). */
export function rootMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error) e = (e as { cause: Error }).cause;
  return e instanceof Error ? e.message : String(e);
}

/** Maps anything a command throws to the error the operator sees and its exit code. */
export function toCliError(err: unknown, cli = 'failover'): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof InvalidInputError) return usageError(err.message);
  if (err instanceof ServiceBusyError) {
    return new CliError(`${err.message}\n  see it: ${cli} status ${err.service}\n  stop it: ${cli} abort ${err.service}`, EXIT.busy, 'service-busy', {
      service: err.service,
      running: { ...err.running, startTime: err.running.startTime.toISOString() },
    });
  }
  if (err instanceof WorkflowUpdateFailedError) return new CliError(`rejected: ${rootMessage(err)}`, EXIT.failed, 'rejected');
  if (err instanceof WorkflowNotFoundError) return new CliError(err.message, EXIT.failed, 'not-found');
  const code = grpcCode(err);
  if (code !== undefined && UNREACHABLE_GRPC.has(code)) return unreachableError(`cannot reach Temporal: ${rootMessage(err)}`);
  if (err instanceof ServiceError) return new CliError(`Temporal refused the request: ${rootMessage(err)}`, EXIT.failed, 'temporal-error');
  const missingKey = missingKeyMessage(err, 'what Temporal returned');
  if (missingKey) return usageError(missingKey);
  return new CliError(err instanceof Error ? err.message : String(err), EXIT.failed, 'error');
}
