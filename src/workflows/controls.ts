import * as wf from '@temporalio/workflow';
import { controlRefusal, type ControlAction, type ControlPolicy } from '../domain/control-auth';
import { approvalsNeeded, type StartIdentity } from '../domain/start-auth';

export interface ControlRequest {
  by?: string;
  reason?: string;
  /** Ed25519 signature (base64) of controlMessage(), when the person has a key in approval.keys. */
  signature?: string;
  nonce?: string;
}

export const approveUpdate = wf.defineUpdate<string, [ControlRequest]>('approve');
export const pauseUpdate = wf.defineUpdate<string, [ControlRequest]>('pause');
export const resumeUpdate = wf.defineUpdate<string, [ControlRequest]>('resume');
export const abortUpdate = wf.defineUpdate<string, [ControlRequest]>('abort');

export class AbortedError extends Error {
  constructor(
    readonly by: string,
    readonly why: string,
  ) {
    super(`aborted by ${by}: ${why}`);
    this.name = 'AbortedError';
  }
}

export interface ControlState {
  paused: boolean;
  pausedBy?: string;
  awaitingApproval?: {
    reason: string;
    since: string;
    timeout: string;
    defaultAction: 'abort' | 'proceed';
    /** An unverified start under four-eyes needs two approvers: who approved so far. */
    approvedBy?: string[];
    approvalsNeeded?: number;
  };
  approval?: { by: string; reason?: string; outcome: 'approved' | 'timed-out-proceed' | 'timed-out-abort' };
  abort?: { by: string; reason: string };
}

/**
 * The operator's levers on a running runbook. Validators reject requests that make no sense now,
 * with the reason, so a wrong click in the Web UI or CLI changes nothing.
 */
export class RunbookControls {
  readonly state: ControlState = { paused: false };
  private approved?: { by: string; reason?: string };
  /** Set once the runbook has its config snapshot: who may act, and who started it. */
  private access?: { policy: ControlPolicy; starter?: string | undefined; identity?: StartIdentity | undefined };
  /** Approvals taken at the current gate before the last one needed. */
  private partial: { by: string; reason?: string }[] = [];
  /** Signatures already taken in this run: each signed request counts once. */
  private readonly usedSignatures = new Set<string>();

  /** Limits the controls to the policy's approvers (and their keys) from now on. */
  restrict(policy: ControlPolicy, starter: string | undefined, identity?: StartIdentity): void {
    this.access = { policy, starter, identity };
  }

  private needed(): number {
    return this.access?.identity ? approvalsNeeded(this.access.policy, this.access.identity) : 1;
  }

  /** Refuses (in a validator) a request the policy does not allow, logging who tried what. */
  private authorize(action: ControlAction, req: ControlRequest): void {
    const info = wf.workflowInfo();
    const refusal = controlRefusal(this.access?.policy, req, {
      action,
      workflowId: info.workflowId,
      runId: info.runId,
      starter: this.access?.starter,
      approvedBy: this.partial.map((a) => a.by),
      used: this.usedSignatures,
    });
    if (refusal === undefined) return;
    wf.log.warn('control refused', { action, by: req.by, reason: refusal, workflowId: info.workflowId, runId: info.runId });
    throw new Error(refusal);
  }

  /** Remembers a signature taken by a handler. */
  private took(req: ControlRequest): void {
    if (req.signature) this.usedSignatures.add(req.signature);
  }

  constructor(private readonly phase: () => string) {
    const finished = () => ['done', 'failed', 'rolled-back'].includes(this.phase());
    wf.setHandler(
      approveUpdate,
      (req) => {
        this.took(req);
        const approval = { by: req.by ?? 'operator', ...(req.reason ? { reason: req.reason } : {}) };
        const needed = this.needed();
        if (this.partial.length + 1 < needed) {
          this.partial.push(approval);
          const waiting = this.state.awaitingApproval!;
          waiting.approvedBy = this.partial.map((a) => a.by);
          waiting.approvalsNeeded = needed;
          const who = this.access?.identity?.name ?? 'nobody named';
          return `approval ${this.partial.length} of ${needed} by ${approval.by}; the start is unverified (claimed by ${who}), so another approver must approve too (four-eyes)`;
        }
        const earlier = this.partial.map((a) => a.by);
        this.approved =
          earlier.length > 0 ? { by: [...earlier, approval.by].join(' and '), ...(approval.reason ? { reason: approval.reason } : {}) } : approval;
        return `approved by ${this.approved.by}`;
      },
      {
        validator: (req) => {
          checkRequest(req);
          if (!this.state.awaitingApproval) throw new Error(`nothing awaits approval (phase: ${this.phase()})`);
          this.authorize('approve', req);
        },
      },
    );
    wf.setHandler(
      pauseUpdate,
      (req) => {
        this.took(req);
        this.state.paused = true;
        this.state.pausedBy = req.by ?? 'operator';
        return `paused by ${this.state.pausedBy}; takes effect before the next step`;
      },
      {
        validator: (req) => {
          checkRequest(req);
          if (finished()) throw new Error(`runbook already ${this.phase()}`);
          if (this.state.paused) throw new Error(`already paused by ${this.state.pausedBy}`);
          this.authorize('pause', req);
        },
      },
    );
    wf.setHandler(
      resumeUpdate,
      (req) => {
        this.took(req);
        this.state.paused = false;
        delete this.state.pausedBy;
        return `resumed by ${req.by ?? 'operator'}`;
      },
      {
        validator: (req) => {
          checkRequest(req);
          if (!this.state.paused) throw new Error(`not paused (phase: ${this.phase()})`);
          this.authorize('resume', req);
        },
      },
    );
    wf.setHandler(
      abortUpdate,
      (req) => {
        this.took(req);
        this.state.abort = { by: req.by ?? 'operator', reason: req.reason ?? 'no reason given' };
        return `abort requested by ${this.state.abort.by}; rolling back`;
      },
      {
        validator: (req) => {
          checkRequest(req);
          if (finished()) throw new Error(`runbook already ${this.phase()}; start a rollback runbook instead`);
          if (this.state.abort) throw new Error(`abort already requested by ${this.state.abort.by}`);
          this.authorize('abort', req);
        },
      },
    );
  }

  /** Between steps: hold while paused; stop if an abort came in. */
  async checkpoint(): Promise<void> {
    await wf.condition(() => !this.state.paused || !!this.state.abort);
    if (this.state.abort) throw new AbortedError(this.state.abort.by, this.state.abort.reason);
  }

  /**
   * After a section that cannot stop half way: hold while paused; an abort asked meanwhile is
   * returned (and consumed) for the caller to undo what the section did.
   */
  async afterUninterruptible(): Promise<{ by: string; reason: string } | undefined> {
    await wf.condition(() => !this.state.paused || !!this.state.abort);
    const abort = this.state.abort;
    delete this.state.abort;
    return abort;
  }

  /** Sleeps for a soak period, waking early (and failing) on abort; pause extends it. */
  async soak(duration: string): Promise<void> {
    await wf.condition(() => !!this.state.abort, duration);
    await this.checkpoint();
  }

  /** Waits for an `approve` update; on timeout applies the configured default. */
  async awaitApproval(reason: string, timeout: string, defaultAction: 'abort' | 'proceed'): Promise<ControlState['approval']> {
    this.state.awaitingApproval = { reason, since: new Date().toISOString(), timeout, defaultAction };
    const answered = await wf.condition(() => !!this.approved || !!this.state.abort, timeout);
    delete this.state.awaitingApproval;
    this.partial = [];
    if (this.state.abort) throw new AbortedError(this.state.abort.by, this.state.abort.reason);
    if (answered && this.approved) {
      this.state.approval = { ...this.approved, outcome: 'approved' };
    } else {
      this.state.approval = {
        by: 'timeout',
        reason: `no answer within ${timeout}`,
        outcome: defaultAction === 'proceed' ? 'timed-out-proceed' : 'timed-out-abort',
      };
      if (defaultAction === 'abort') throw new AbortedError('timeout', `approval not given within ${timeout}; default action is abort`);
    }
    return this.state.approval;
  }
}

function checkRequest(req: ControlRequest | undefined): void {
  if (req === null || typeof req !== 'object' || Array.isArray(req)) throw new Error('expected an object such as {"by":"alice","reason":"…"}');
  for (const key of Object.keys(req)) {
    if (!['by', 'reason', 'signature', 'nonce'].includes(key))
      throw new Error(`unknown field "${key}"; expected "by", "reason" (and "signature", "nonce" when signed)`);
  }
  for (const key of ['signature', 'nonce'] as const) {
    const v = req[key];
    if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > 200)) throw new Error(`${key}: expected text up to 200 characters`);
  }
  if (req.by !== undefined && (typeof req.by !== 'string' || req.by.length === 0 || req.by.length > 200))
    throw new Error(`by: expected a non-empty name (got ${JSON.stringify(req.by)})`);
  if (req.reason !== undefined && (typeof req.reason !== 'string' || req.reason.length > 500)) throw new Error(`reason: expected text up to 500 characters`);
}
