import * as wf from '@temporalio/workflow';
import type { z } from 'zod';
import type { ServiceSnapshot } from '../activities';
import { runbookEndedSignal } from '../api/queries';
import type { Phase, RunbookOutcome, RunbookStatus } from '../api/status';
import { requireMs } from '../domain/duration';
import type { Routing } from '../domain/routing';
import { unknownDestination } from '../domain/runbook-plan';
import { detectionWorkflowId } from '../domain/workflow-ids';
import { AbortedError, type ControlState } from './controls';
import { readRouting, readRoutingAndProbe } from './routing-steps';
import { openRunbook, parseInput, refuse, underLock } from './runbook-frame';
import { failureOutcome } from './runbook-outcome';
import { errorMessage } from './runbook-steps';
import type { RunbookContext } from './switching';

export { refuse };

/**
 * The runbook kit: what every mutating runbook does the same way, written once, so that a runbook
 * file reads as its runbook (parse → open → observe → plan → gate → move → finish). It owns the
 * context, the status and its phase, the opening reads, the approval gate, and how a runbook ends
 * when it did not get where it was going. Helpers return outcomes; the runbook decides how it ends.
 */

/** A move that did not move traffic for good, as a helper returns it: the runbook ends with it. */
export type Setback =
  /** Put back where it started; `after` is the routing in place, the result's `routingAfter`. */
  | { moved: false; type: 'RolledBack'; message: string; after: Routing; switchedAt: number; rpo: { lag: number | null; note: string } }
  /** Could not move and did not roll back (rollback_support off): routing left as the message says. */
  | { moved: false; type: 'ValidationFailed' | 'RampFailed'; message: string };

export function isSetback<T extends object>(r: T | Setback): r is Setback {
  return (r as Setback).moved === false;
}

export class Runbook {
  constructor(
    readonly ctx: RunbookContext,
    readonly status: RunbookStatus,
    readonly snapshot: ServiceSnapshot,
  ) {}

  /**
   * parse → lock → open: a runbook's frame. The input is checked (bad input ends the run for good),
   * the run takes the service's lock id, and the context is opened from the config snapshot.
   */
  static run<Sc extends z.ZodType<Parameters<typeof openRunbook>[1]>, R>(
    kind: string,
    schema: Sc,
    input: unknown,
    body: (req: z.output<Sc>, rb: Runbook) => Promise<R>,
    lock?: (req: z.output<Sc>) => Parameters<typeof underLock<R>>[4],
  ): Promise<R> {
    const req = parseInput(schema, input, kind);
    return underLock(
      kind,
      req,
      input,
      async () => {
        const rb = await Runbook.open(kind, req);
        return rb.reportingEnd(() => body(req, rb));
      },
      lock?.(req),
    );
  }

  /**
   * A runbook detection started tells detection how it ended: a signal to detection's workflow id
   * reaches its current run, even one that continued as new meanwhile. Detection also reads the
   * end of a runbook it cannot hear from (one terminated, or one that ended while it was not running).
   */
  private async reportingEnd<R>(run: () => Promise<R>): Promise<R> {
    const parent = wf.workflowInfo().parent;
    if (!this.ctx.features.reportEnd || parent?.workflowId !== detectionWorkflowId(this.ctx.service.name)) return run();
    let outcome: RunbookOutcome | undefined;
    try {
      const result = await run();
      outcome = { ok: true, result: (result ?? {}) as Record<string, unknown> };
      return result;
    } catch (err) {
      outcome = failureOutcome(err);
      throw err;
    } finally {
      const { workflowId, runId } = wf.workflowInfo();
      const ended = { workflowId, runId, outcome: outcome ?? { ok: false, message: 'ended without an outcome' } };
      // Sent even when the runbook is being cancelled; detection not running is no failure of the runbook (it reads the end when it starts).
      await wf.CancellationScope.nonCancellable(() =>
        wf
          .getExternalWorkflowHandle(parent.workflowId)
          .signal(runbookEndedSignal, ended)
          .catch((err: unknown) => wf.log.warn(`detection ${parent.workflowId} not told of this runbook's end: ${errorMessage(err)}`)),
      );
    }
  }

  static async open(kind: string, req: Parameters<typeof openRunbook>[1]): Promise<Runbook> {
    const { ctx, status, snapshot } = await openRunbook(kind, req);
    return new Runbook(ctx, status, snapshot);
  }

  get log() {
    return this.ctx.log;
  }

  /** The one place a runbook's phase changes. */
  enter(phase: Phase): void {
    this.status.phase = phase;
  }

  /** Refuses an input naming a destination the service does not have. */
  requireDestination(id: string, field: string): void {
    const unknown = unknownDestination(this.ctx.service, id, field, this.status.runbook);
    if (unknown) refuse(unknown);
  }

  /** Where traffic is now and who answers (`read routing`, `probe destinations`); the starting routing goes into status. */
  observe() {
    return readRoutingAndProbe(this.ctx, this.status);
  }

  /** Where traffic is now (`read routing`); the starting routing goes into status. */
  readRouting(): Promise<Routing> {
    return readRouting(this.ctx, this.status);
  }

  /** Where traffic is now, mid-run (`read routing`): status's current routing. */
  async rereadRouting(): Promise<Routing> {
    const current = await readRouting(this.ctx);
    this.status.routingCurrent = current;
    return current;
  }

  /** The approval gate, when there is a reason to ask: waits for a person (or the timeout's default action). */
  async gate(reasons: string[], onTimeout: 'abort' | 'proceed' = this.ctx.policy.failover_execution.approval.default_action): Promise<void> {
    if (reasons.length === 0) return;
    this.enter('awaiting-approval');
    await approvalGate(this.ctx, this.status, reasons, onTimeout);
  }

  /** The runbook got where it was going: phase `done`, and its last step says where that is. */
  async done(detail: string, numbers?: Parameters<RunbookContext['log']['note']>[3], outcome: 'ok' | 'skipped' = 'ok'): Promise<void> {
    this.enter('done');
    await this.log.note('done', outcome, detail, numbers);
  }

  /** Ends the runbook with a setback a helper returned; a rollback carries `details(setback)` (the runbook's result). */
  end(setback: Setback, details: (rolledBack: Extract<Setback, { type: 'RolledBack' }>) => unknown): never {
    this.settleFailed();
    return refuse(setback.message, setback.type, setback.type === 'RolledBack' ? details(setback) : undefined);
  }

  /**
   * Ends the runbook on an error: an operator's abort fails it as `Aborted` saying what was `left`
   * as it was (`note`: recorded as a step too); anything else fails it as it is.
   */
  async fail(err: unknown, aborted: { left: string; note?: boolean }): Promise<never> {
    this.settleFailed();
    if (err instanceof AbortedError) {
      if (aborted.note) await this.log.note('aborted', 'failed', err.message);
      refuse(`${err.message}; ${aborted.left}`, 'Aborted');
    }
    throw err;
  }

  /** The one mapping from a failed run to its last phase: a finished rollback stays `rolled-back`, the rest is `failed`. */
  private settleFailed(): void {
    if (this.status.phase !== 'rolled-back') this.enter('failed');
  }

  /** Runs `undo` as the rollback: phase `rolling-back` while it runs, `rolled-back` once it has put things back (`said`: a step says so). */
  async rollingBack<T>(undo: () => Promise<T>, said?: (result: T) => string): Promise<T> {
    this.enter('rolling-back');
    const result = await undo();
    this.enter('rolled-back');
    if (said) await this.log.note('rolled back', 'compensated', said(result));
    return result;
  }
}

/**
 * The approval gate: waits for `approve` (or the timeout's default action) and tells people it is
 * waiting — an alert event naming the runbook, the reasons and the exact approve / abort commands,
 * sent to the configured webhook and Alertmanager while the wait runs, and resolved when it ends.
 */
async function approvalGate(ctx: RunbookContext, status: RunbookStatus, reasons: string[], onTimeout: 'abort' | 'proceed'): Promise<ControlState['approval']> {
  const { approval } = ctx.policy.failover_execution;
  const why = reasons.join('; ');
  const notice = ctx.features.approvalNotice ? approvalNotice(ctx, status, why, onTimeout) : undefined;
  // Sent beside the wait, never in front of it: a slow or refusing receiver must not delay the gate.
  const sent = notice ? ctx.act.raiseAlert(notice).catch((err) => ctx.log.note('approval notice', 'failed', errorMessage(err))) : undefined;
  try {
    return await ctx.log.run(
      'approval',
      () => ctx.controls.awaitApproval(why, approval.timeout, onTimeout),
      (a) => ({
        detail: `${a!.outcome} by ${a!.by}${a!.reason ? `: ${a!.reason}` : ''} (asked because ${why})`,
      }),
    );
  } finally {
    if (notice) {
      await wf.CancellationScope.nonCancellable(async () => {
        await sent;
        // Best effort: an unresolved notice expires by itself (endsAt), and the runbook must not fail over it.
        await ctx.act.raiseAlert({ ...notice, resolved: true }).catch(() => undefined);
      });
    }
  }
}

function approvalNotice(ctx: RunbookContext, status: RunbookStatus, why: string, onTimeout: 'abort' | 'proceed') {
  const { service, policy } = ctx;
  const cli = policy.notifications.cli;
  const info = wf.workflowInfo();
  const timeoutMs = requireMs(policy.failover_execution.approval.timeout);
  const { approval } = policy.failover_execution;
  // Approvers with keys sign their answer (SECURITY.md).
  const signed = Object.keys(approval.keys).length > 0 ? ' --key <your key file>' : '';
  return {
    name: 'FailoverApprovalRequired',
    severity: 'critical' as const,
    service: service.name,
    ...(status.target ? { destination: status.target } : {}),
    summary: `${status.runbook} of ${service.name}${status.source && status.target ? ` (${status.source} → ${status.target})` : ''} waits for approval: ${why}`,
    details: {
      runbook: status.runbook,
      workflowId: info.workflowId,
      runId: info.runId,
      reason: why,
      approve: `${cli} approve ${service.name} --by <your name>${signed}`,
      abort: `${cli} abort ${service.name} --by <your name> --reason <why>${signed}`,
      ...(approval.approvers.length > 0 ? { approvers: approval.approvers } : {}),
      timeout: policy.failover_execution.approval.timeout,
      onTimeout,
    },
    endsAt: new Date(Date.now() + timeoutMs + 60_000).toISOString(),
    targets: policy.notifications,
  };
}
