import * as wf from '@temporalio/workflow';
import type { RunbookOutcomeReading } from '../activities';
import type { WatchResult } from '../activities/watch';
import type { InflightRunbook } from '../domain/detection-state';
import type { HealthEvent } from '../domain/health';
import type { Routing } from '../domain/routing';
import { failureOutcome } from './runbook-outcome';
import type { Detector } from './detector';

/** Longest gap between two looks at a runbook started by an earlier run of this workflow. */
const MAX_POLL_MS = 60_000;

/** One observer's watch in flight: what it classifies against, and how it ended once it has. */
interface WatchSlot {
  scope: wf.CancellationScope;
  primary: string | undefined;
  routing: Routing | undefined;
  outcome?: { result?: WatchResult; error?: unknown };
}

/**
 * Where detection's events come from, behind one call: `next()` waits for the first of an
 * observer's watch report, an alert, a runbook's end, a signal (brakes, config) or a due revisit,
 * and returns the events to decide on. Each observer's watch runs until it has something to report
 * and is restarted only when it returned or the primary it classifies against changed. A watch that
 * failed fails the loop (its error is thrown, never dropped); one cancelled here simply ends.
 */
export class DetectionEvents {
  private readonly slots = new Map<string, WatchSlot>();
  /** The runbook this run started: its end arrives by its signal or its child handle; one inherited from an earlier run is also looked at. */
  private owned: string | undefined;

  constructor(
    private readonly detector: Detector,
    /** Starts an observer's watch (an activity on the watch task queue). */
    private readonly watch: (observer: string) => Promise<WatchResult>,
    /** Reads how a runbook ended (an activity): for one this run did not start. */
    private readonly readOutcome: (f: InflightRunbook) => Promise<RunbookOutcomeReading>,
  ) {}

  /** A runbook this run started: its end is heard from its child handle (besides its signal). */
  track(child: wf.ChildWorkflowHandle<wf.Workflow>): void {
    const { workflowId, firstExecutionRunId: runId } = child;
    this.owned = runId;
    child.result().then(
      (result) => this.detector.ended({ workflowId, runId, outcome: { ok: true, result: (result ?? {}) as Record<string, unknown> } }),
      (err: unknown) => this.detector.ended({ workflowId, runId, outcome: failureOutcome(err) }),
    );
  }

  /** Whether `runId` is the runbook this run started (its end is heard from its child handle). */
  owns(runId: string): boolean {
    return this.owned === runId;
  }

  async next(): Promise<HealthEvent[]> {
    const detector = this.detector;
    if (detector.pendingAlerts.length > 0) return detector.applyPendingAlerts();
    const ownsInflight = detector.state.inflight?.runId === this.owned;
    this.startWatches();
    detector.watching = true;
    const ready = () => [...this.slots.values()].some((s) => s.outcome) || detector.pendingAlerts.length > 0 || detector.settled !== undefined || detector.wake;
    const wakeAt = detector.nextWakeAt(ownsInflight);
    const woke = wakeAt === undefined ? (await wf.condition(ready), true) : await wf.condition(ready, Math.max(1, wakeAt - Date.now()));
    detector.watching = false;
    detector.wake = false;
    const events: HealthEvent[] = [];
    for (const [name, slot] of this.slots) {
      if (!slot.outcome) continue;
      this.slots.delete(name);
      if (slot.outcome.error) throw slot.outcome.error;
      if (slot.outcome.result) events.push(...detector.report(name, slot.outcome.result));
      const drift = slot.outcome.result?.routing ? detector.observeRouting(slot.outcome.result.routing) : undefined;
      if (drift) events.push(drift);
    }
    if (!woke && detector.state.inflight && !ownsInflight && detector.poll.atMs <= Date.now()) await this.lookAtInflight();
    return [...events, ...detector.applyPendingAlerts(), ...detector.dueRevisits(Date.now())];
  }

  /** Cancels every watch (before continue-as-new). */
  stop(): void {
    for (const slot of this.slots.values()) slot.scope.cancel();
    this.slots.clear();
  }

  private startWatches(): void {
    const detector = this.detector;
    for (const name of detector.observerNames) {
      const current = this.slots.get(name);
      if (current && !current.outcome && current.primary === detector.primary && current.routing === detector.state.routing) continue;
      current?.scope.cancel();
      const slot: WatchSlot = { scope: new wf.CancellationScope(), primary: detector.primary, routing: detector.state.routing };
      this.slots.set(name, slot);
      slot.scope
        .run(() => this.watch(name))
        .then(
          (result) => void (slot.outcome = { result }),
          // A cancelled watch was replaced or stopped on purpose; any other failure is thrown by next().
          (error: unknown) => void (slot.outcome = wf.isCancellation(error) ? {} : { error }),
        );
    }
  }

  /** A runbook an earlier run started: looked at with backoff (its signal may have reached no run). */
  private async lookAtInflight(): Promise<void> {
    const detector = this.detector;
    const f = detector.state.inflight!;
    const seen = await this.readOutcome(f);
    detector.poll = { count: detector.poll.count + 1, atMs: Date.now() + Math.min(MAX_POLL_MS, 2000 * 2 ** detector.poll.count) };
    const { workflowId, runId } = f;
    if (seen.status === 'completed') detector.ended({ workflowId, runId, outcome: { ok: true, result: seen.result } });
    else if (seen.status === 'failed') {
      detector.ended({
        workflowId,
        runId,
        outcome: { ok: false, message: seen.message, ...(seen.type ? { type: seen.type } : {}), ...(seen.details ? { details: seen.details } : {}) },
      });
    }
  }
}
