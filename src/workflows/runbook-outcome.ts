import * as wf from '@temporalio/workflow';
import type { RunbookOutcome } from '../api/status';
import { errorMessage } from './runbook-steps';

/** How a runbook's failure reads as an outcome: its failure type, message and details (a rolled-back run's result). */
export function failureOutcome(err: unknown): RunbookOutcome {
  let e: unknown = err;
  while (e instanceof Error) {
    if (e instanceof wf.ApplicationFailure) {
      const details = e.details?.[0];
      return {
        ok: false,
        message: e.message,
        ...(e.type ? { type: e.type } : {}),
        ...(details && typeof details === 'object' ? { details: details as Record<string, unknown> } : {}),
      };
    }
    if (e instanceof wf.TerminatedFailure) return { ok: false, type: 'Terminated', message: e.message };
    if (e instanceof wf.CancelledFailure) return { ok: false, type: 'Cancelled', message: e.message };
    e = (e as { cause?: unknown }).cause;
  }
  return { ok: false, message: errorMessage(err) };
}
