import * as wf from '@temporalio/workflow';
import type { Activities, AuditEvent } from '../activities';
import { observeStep } from './observability';

import type { StepOutcome, StepRecord } from '../api/status';
export type { StepOutcome, StepRecord };

const { audit } = wf.proxyLocalActivities<Activities>({
  startToCloseTimeout: '5s',
  retry: { maximumAttempts: 3 },
});

/**
 * Records each step of a runbook: the step list behind the `status` query, the Web UI's current
 * details, and one audit record per outcome.
 */
export class StepLog {
  readonly steps: StepRecord[] = [];
  /** Lines above the step list in the Web UI's details (phase, pause, approval wait, window end). */
  header: () => string[] = () => [];

  constructor(
    private readonly runbook: string,
    private readonly service: string,
    private readonly actor: string | undefined,
    private readonly reason: string | undefined,
  ) {}

  get current(): StepRecord | undefined {
    return this.steps[this.steps.length - 1];
  }

  /** Runs `fn` as a named step; `describe` turns its result into a line and the numbers that decided it. */
  async run<T>(
    name: string,
    fn: () => Promise<T>,
    describe: (result: T) => { detail: string; numbers?: StepRecord['numbers'] } = () => ({ detail: 'done' }),
  ): Promise<T> {
    const record: StepRecord = { name, outcome: 'running', startedAt: new Date().toISOString() };
    this.steps.push(record);
    this.publish();
    try {
      const result = await fn();
      const { detail, numbers } = describe(result);
      await this.finish(record, 'ok', detail, numbers);
      return result;
    } catch (err) {
      await this.finish(record, 'failed', errorMessage(err));
      throw err;
    }
  }

  async note(name: string, outcome: Exclude<StepOutcome, 'running'>, detail: string, numbers?: StepRecord['numbers']) {
    const record: StepRecord = { name, outcome, startedAt: new Date().toISOString() };
    this.steps.push(record);
    await this.finish(record, outcome, detail, numbers);
  }

  private async finish(record: StepRecord, outcome: StepOutcome, detail: string, numbers?: StepRecord['numbers']) {
    record.outcome = outcome;
    record.endedAt = new Date().toISOString();
    record.detail = detail;
    if (numbers) record.numbers = numbers;
    this.publish();
    observeStep(this.runbook, this.service, record);
    const event: AuditEvent = {
      runbook: this.runbook,
      workflowId: wf.workflowInfo().workflowId,
      service: this.service,
      step: record.name,
      outcome: outcome === 'running' ? 'started' : outcome,
      ...(this.actor ? { actor: this.actor } : {}),
      ...(this.reason ? { reason: this.reason } : {}),
      detail,
      ...(numbers ? { numbers } : {}),
    };
    await audit(event);
  }

  /** Markdown the Web UI shows as the workflow's current details. */
  publish() {
    const icon: Record<StepOutcome, string> = { running: '▶', ok: '✔', failed: '✘', skipped: '–', compensated: '↺' };
    const lines = this.steps.map((s) => `- ${icon[s.outcome]} **${s.name}**${s.detail ? `: ${s.detail}` : ''}`);
    const header = this.header();
    wf.setCurrentDetails(`### ${this.runbook} · ${this.service}\n\n${header.length > 0 ? `${header.join('\n\n')}\n\n` : ''}${lines.join('\n')}`);
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof wf.ActivityFailure && err.cause) return errorMessage(err.cause);
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Compensations pushed as steps succeed, unwound newest first when the runbook fails (saga). */
export class Compensations {
  private readonly stack: { name: string; undo: () => Promise<unknown> }[] = [];

  push(name: string, undo: () => Promise<unknown>) {
    this.stack.push({ name, undo });
  }

  /** Drop compensations once a step makes them unsafe or pointless (e.g. past the point of no return). */
  clear() {
    this.stack.length = 0;
  }

  /** Runs even when the runbook itself is being cancelled: an unfenced source must not stay fenced. */
  async unwind(log: StepLog) {
    await wf.CancellationScope.nonCancellable(async () => {
      while (this.stack.length > 0) {
        const { name, undo } = this.stack.pop()!;
        try {
          await log.run(`undo ${name}`, undo, () => ({ detail: 'compensated' }));
        } catch {
          // Recorded by the step log; keep unwinding the rest.
        }
      }
    });
  }
}
