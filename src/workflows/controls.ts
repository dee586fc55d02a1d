import * as wf from '@temporalio/workflow';

export interface ControlRequest {
  by?: string;
  reason?: string;
}

export const approveUpdate = wf.defineUpdate<string, [ControlRequest]>('approve');
export const pauseUpdate = wf.defineUpdate<string, [ControlRequest]>('pause');
export const resumeUpdate = wf.defineUpdate<string, [ControlRequest]>('resume');
export const abortUpdate = wf.defineUpdate<string, [ControlRequest]>('abort');

export class AbortedError extends Error {
  constructor(readonly by: string, readonly why: string) {
    super(`aborted by ${by}: ${why}`);
    this.name = 'AbortedError';
  }
}

export interface ControlState {
  paused: boolean;
  pausedBy?: string;
  awaitingApproval?: { reason: string; since: string; timeout: string; defaultAction: 'abort' | 'proceed' };
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

  constructor(private readonly phase: () => string) {
    const finished = () => ['done', 'failed', 'rolled-back'].includes(this.phase());
    wf.setHandler(
      approveUpdate,
      (req) => {
        this.approved = { by: req.by ?? 'operator', ...(req.reason ? { reason: req.reason } : {}) };
        return `approved by ${this.approved.by}`;
      },
      {
        validator: (req) => {
          checkRequest(req);
          if (!this.state.awaitingApproval) throw new Error(`nothing awaits approval (phase: ${this.phase()})`);
        },
      },
    );
    wf.setHandler(
      pauseUpdate,
      (req) => {
        this.state.paused = true;
        this.state.pausedBy = req.by ?? 'operator';
        return `paused by ${this.state.pausedBy}; takes effect before the next step`;
      },
      {
        validator: (req) => {
          checkRequest(req);
          if (finished()) throw new Error(`runbook already ${this.phase()}`);
          if (this.state.paused) throw new Error(`already paused by ${this.state.pausedBy}`);
        },
      },
    );
    wf.setHandler(
      resumeUpdate,
      (req) => {
        this.state.paused = false;
        delete this.state.pausedBy;
        return `resumed by ${req.by ?? 'operator'}`;
      },
      {
        validator: (req) => {
          checkRequest(req);
          if (!this.state.paused) throw new Error(`not paused (phase: ${this.phase()})`);
        },
      },
    );
    wf.setHandler(
      abortUpdate,
      (req) => {
        this.state.abort = { by: req.by ?? 'operator', reason: req.reason ?? 'no reason given' };
        return `abort requested by ${this.state.abort.by}; rolling back`;
      },
      {
        validator: (req) => {
          checkRequest(req);
          if (finished()) throw new Error(`runbook already ${this.phase()}; start a rollback runbook instead`);
          if (this.state.abort) throw new Error(`abort already requested by ${this.state.abort.by}`);
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
    if (this.state.abort) throw new AbortedError(this.state.abort.by, this.state.abort.reason);
    if (answered && this.approved) {
      this.state.approval = { ...this.approved, outcome: 'approved' };
    } else {
      this.state.approval = { by: 'timeout', reason: `no answer within ${timeout}`, outcome: defaultAction === 'proceed' ? 'timed-out-proceed' : 'timed-out-abort' };
      if (defaultAction === 'abort') throw new AbortedError('timeout', `approval not given within ${timeout}; default action is abort`);
    }
    return this.state.approval;
  }
}

function checkRequest(req: ControlRequest | undefined): void {
  if (req === null || typeof req !== 'object' || Array.isArray(req)) throw new Error('expected an object such as {"by":"alice","reason":"…"}');
  for (const key of Object.keys(req)) {
    if (key !== 'by' && key !== 'reason') throw new Error(`unknown field "${key}"; expected "by" and "reason"`);
  }
  if (req.by !== undefined && (typeof req.by !== 'string' || req.by.length === 0 || req.by.length > 200)) throw new Error(`by: expected a non-empty name (got ${JSON.stringify(req.by)})`);
  if (req.reason !== undefined && (typeof req.reason !== 'string' || req.reason.length > 500)) throw new Error(`reason: expected text up to 500 characters`);
}
