import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';
import { WorkflowExecutionAlreadyStartedError } from '../api/errors';
import type { RunbookOutcome } from '../api/status';
import type { Admission, AutomaticKind } from '../api/supervisor';
import type { Decision } from '../domain/detection-policy';
import type { InflightRunbook, RetryState } from '../domain/detection-state';
import { requireMs } from '../domain/duration';
import type { HealthEvent } from '../domain/health';
import { emptyRanking, rankBackups } from '../domain/ranking';
import type { Routing } from '../domain/routing';
import { isResyncing } from '../domain/sync';
import { runbookWorkflowId } from '../domain/workflow-ids';
import type { Detector, StartResult } from './detector';
import { observeSettled } from './observability';
import { errorMessage } from './runbook-steps';

/** How long a second writable primary's writes stay paused if nothing resyncs it first. */
const STRAY_FENCE_MS = 24 * 3_600_000;

export type ActingDecision = Exclude<Decision, { action: 'none' }>;

/**
 * What detection does about a decision, and about the end of what it started: asks the brakes,
 * starts the runbook under the service's lock id (started, or busy when another holds it), fences
 * a second writer, and, when a runbook ends, learns from it and retries what failed.
 */
export class DetectionRunbooks {
  private readonly act = wf.proxyActivities<Activities>({ startToCloseTimeout: '15s', retry: { maximumAttempts: 5, initialInterval: '500ms' } });
  private readonly admission = wf.proxyActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 3, initialInterval: '500ms' } });

  constructor(
    private readonly detector: Detector,
    /** Follows a started runbook to its end (see DetectionEvents.track). */
    private readonly track: (child: wf.ChildWorkflowHandle<wf.Workflow>) => void,
  ) {}

  private get service() {
    return this.detector.service;
  }

  private get policy() {
    return this.detector.policy;
  }

  /** Asks the brakes, then starts the runbook; a held one is recorded, revisited, and (cap) alerted on. */
  async carryOut(decision: ActingDecision, event: HealthEvent): Promise<StartResult> {
    const { detector, service, policy } = this;
    // A second writable primary is paused at once: a safety action, not a runbook, and never held.
    if (decision.action === 'fence') return this.fenceStray(decision.destination);
    // Putting the decided routing back repairs, like a resync: held by a suspension, not by the cap.
    const kind: AutomaticKind =
      decision.action === 'recovery' ? (decision.failback ? 'failback' : 'resync') : decision.action === 'reassert' ? 'resync' : decision.action;
    const a = await this.admit(kind, decision.reason);
    if (a.admitted) return { ...(await this.start(decision)), ...(a.note ? { note: a.note } : {}) };
    if (a.suspended) detector.hold(event);
    else detector.revisitAt(a.retryAtMs ?? Date.now() + 60_000, event);
    if (!a.suspended) {
      await this.raiseAlert(
        {
          name: 'FailoverAutomaticRunbookHeld',
          severity: 'critical',
          service: service.name,
          destination: event.destination,
          summary: `${kind} of ${service.name} (${event.destination} ${event.kind}) held by the brakes: ${a.reason}`,
          details: { kind, reason: decision.reason, heldBecause: a.reason, ...(a.retryAtMs ? { retryAt: new Date(a.retryAtMs).toISOString() } : {}) },
          targets: policy.notifications,
        },
        service.name,
      );
    }
    return { outcome: 'held', held: a.reason };
  }

  /**
   * Starts the runbook a decision calls for, under the service's lock id: `started`, or `busy`
   * when another runbook holds the service (Temporal refuses a second run of the id).
   */
  private async start(decision: Exclude<ActingDecision, { action: 'fence' }>): Promise<StartResult> {
    const { detector, service } = this;
    const workflowId = runbookWorkflowId(service.name);
    const launch = this.launch(decision);
    let child: wf.ChildWorkflowHandle<wf.Workflow>;
    try {
      child = await wf.startChild(launch.inflight.kind, { workflowId, args: [launch.args], parentClosePolicy: 'ABANDON', staticSummary: launch.summary });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { outcome: 'busy', workflowId };
      throw err;
    }
    if (decision.action === 'failover') {
      detector.state.lastFailoverFrom[decision.from] = Date.now();
      if (!detector.state.failedOver.includes(decision.from)) detector.state.failedOver.push(decision.from);
    }
    if (decision.action === 'rebalance') detector.state.lastFailoverFrom[decision.destination] = Date.now();
    detector.state.inflight = { workflowId, runId: child.firstExecutionRunId, ...launch.inflight, startedAtMs: Date.now() };
    this.track(child);
    return { outcome: 'started', workflowId, runId: child.firstExecutionRunId };
  }

  /** The runbook's workflow type and input, its summary in the UI, and what detection remembers of it while it runs. */
  private launch(decision: Exclude<ActingDecision, { action: 'fence' }>): {
    args: Record<string, unknown>;
    summary: string;
    inflight: Pick<InflightRunbook, 'kind' | 'destination' | 'failback'>;
  } {
    const { detector, service, policy } = this;
    const common = { service: service.name, reason: decision.reason, actor: 'detection', trigger: 'detection' as const };
    switch (decision.action) {
      case 'failover': {
        // Backups that are not a copy of the primary come last in the learned order (the runbook checks them again).
        const resyncing = new Set(
          Object.entries(detector.syncVerdicts())
            .filter(([, v]) => isResyncing(v.state))
            .map(([id]) => id),
        );
        const prefer =
          policy.failover_execution.target_selection === 'intelligent'
            ? rankBackups(service, decision.from, detector.state.ranking ?? emptyRanking(), Date.now(), { down: resyncing }).map((c) => c.id)
            : undefined;
        return {
          args: { ...common, ...(prefer ? { prefer } : {}), ...detector.lastSeen() },
          summary: `failover of ${service.name} away from ${decision.from} (detection)`,
          inflight: { kind: 'failover', destination: decision.from },
        };
      }
      case 'rebalance':
        return {
          args: common,
          summary: `rebalance of ${service.name}: ${decision.destination} (detection)`,
          inflight: { kind: 'rebalance', destination: decision.destination },
        };
      case 'reassert': {
        const decided = detector.state.routing!;
        return {
          args: { ...common, weights: decided.weights, generation: decided.generation },
          summary: `reassert the routing of ${service.name} (detection)`,
          inflight: { kind: 'reassert', destination: decision.destination },
        };
      }
      case 'recovery':
        return {
          args: { ...common, destination: decision.destination, failback: decision.failback },
          summary: `${decision.failback ? 'recovery' : 'resync'} of ${decision.destination} in ${service.name} (detection)`,
          inflight: { kind: 'recovery', destination: decision.destination, failback: decision.failback },
        };
    }
  }

  /**
   * The brakes' answer (the supervisor's: suspension, fleet cap). When the supervisor cannot be
   * asked, the last suspension heard of still holds; with none, the runbook goes ahead and says so.
   */
  private async admit(kind: AutomaticKind, reason: string): Promise<Admission> {
    const { detector, service, policy } = this;
    try {
      const a = await this.admission.admitAutomatic({ service: service.name, kind, reason });
      if (!a.admitted && a.suspended && !detector.suspended) detector.suspended = { by: 'supervisor', reason: a.reason, at: new Date().toISOString() };
      return a;
    } catch (err) {
      const why = `the supervisor did not answer (${errorMessage(err)})`;
      if (detector.suspended)
        return { admitted: false, suspended: true, reason: `suspended by ${detector.suspended.by}: ${detector.suspended.reason} (as last heard; ${why})` };
      return { admitted: true, note: `brakes not confirmed: ${why}` };
    }
  }

  private async fenceStray(id: string): Promise<StartResult> {
    const { detector, service, policy } = this;
    let r: Awaited<ReturnType<Activities['fenceStray']>>;
    try {
      r = await this.act.fenceStray(service, id, STRAY_FENCE_MS);
    } catch (err) {
      if (!detector.fenceFirst || wf.isCancellation(err)) throw err;
      return this.fenceFailed(id, errorMessage(err));
    }
    if (r.fenced) {
      detector.fencedWriter(id);
      await this.pageStray(id, `: its writes are paused (${r.detail})`, { fence: r.detail });
    }
    // Held by a runbook: looked at again shortly, while the node still answers as a writer.
    return r.busy ? { outcome: 'busy', note: r.detail } : { outcome: 'fenced', note: r.detail };
  }

  /**
   * The fence itself failed (the node refuses CLIENT PAUSE, or went away again): detection goes on,
   * a person is paged, and the node's next events are decided on their own (a resync demotes it).
   */
  private async fenceFailed(id: string, error: string): Promise<StartResult> {
    this.detector.unfenceable.add(id);
    await this.pageStray(id, `, and its writes could not be paused: ${error}`, { fenceError: error });
    return { outcome: 'busy', note: `not fenced: ${error}` };
  }

  /** The page for a second writable primary; `outcome` says what became of its fence. */
  private pageStray(id: string, outcome: string, details: Record<string, string>): Promise<unknown> {
    const { detector, service, policy } = this;
    return this.raiseAlert(
      {
        name: 'FailoverSecondWritablePrimary',
        severity: 'critical',
        service: service.name,
        destination: id,
        summary: `${id} answered as a writable primary while ${detector.primary} is the primary${outcome}`,
        details: { primary: detector.primary ?? null, ...details },
        targets: policy.notifications,
      },
      `${service.name}/${id}`,
    );
  }

  /** A runbook detection started has ended: learn from it, and retry what failed. */
  async settle(outcome: RunbookOutcome): Promise<void> {
    const { detector, service, policy } = this;
    const f = detector.state.inflight!;
    delete detector.state.inflight;
    detector.settled = undefined;
    detector.poll = { atMs: 0, count: 0 };
    const now = Date.now();
    const summary = outcome.ok ? String(outcome.result.outcome ?? 'completed') : `failed: ${outcome.type ? `${outcome.type}: ` : ''}${outcome.message}`;
    detector.recordOutcome(f.workflowId, f.runId, summary);
    observeSettled(service.name, f, outcome, detector.state.health);
    wf.log.info(`detection ${service.name}: ${f.kind} of ${f.destination} ended: ${summary}`);
    if (f.kind === 'rebalance') return;
    if (f.kind === 'reassert') {
      // The decided routing is what it wrote back (the router's generation may be lower than before).
      const after = outcome.ok ? (outcome.result.routingAfter as Routing | undefined) : undefined;
      if (after) detector.state.routing = after;
      if (!outcome.ok && outcome.type !== 'Aborted') {
        await this.retryLater(f.destination, 'reassert', summary, {
          destination: f.destination,
          kind: 'drift',
          reason: `reassert failed (${summary}); trying again`,
        });
      }
      return;
    }
    if (f.kind === 'failover') {
      // Outcomes teach the ranking: a target that held scores up, one that was rolled back scores down.
      const target = (outcome.ok ? outcome.result.target : outcome.details?.target) as string | undefined;
      if (target && policy.quality.learning !== false)
        detector.learnOutcome(target, outcome.ok && outcome.result.outcome === 'switched' ? 'success' : 'rollback');
      if (outcome.ok) return detector.succeeded(f.destination);
      // Nothing moved for good: the source is still down, so try again later (not held by the cooldown of this attempt).
      delete detector.state.lastFailoverFrom[f.destination];
      detector.state.failedOver = detector.state.failedOver.filter((id) => id !== f.destination);
      return this.retryLater(f.destination, 'failover', summary, {
        destination: f.destination,
        kind: 'down',
        reason: `failover failed (${summary}); trying again`,
      });
    }
    if (outcome.ok) {
      detector.succeeded(f.destination);
      if (outcome.result.outcome === 'failed-back') {
        detector.state.failedOver = detector.state.failedOver.filter((id) => id !== f.destination);
      } else if (detector.state.failedOver.includes(f.destination) && policy.recovery_management.automatic_recovery) {
        // Resynced as a standby within the cooldown: the failback comes when the cooldown ends.
        const last = detector.state.lastFailoverFrom[f.destination] ?? 0;
        detector.revisitAt(Math.max(now + 1, last + requireMs(policy.failover_detection.cooldown)), {
          destination: f.destination,
          kind: 'recovered',
          reason: 'resynced; fail back after the cooldown',
        });
      }
      return;
    }
    if (outcome.type === 'Aborted') return; // an operator stopped it: they decide what comes next
    await this.retryLater(f.destination, f.failback ? 'failback' : 'resync', summary, {
      destination: f.destination,
      kind: 'recovered',
      reason: `${f.failback ? 'failback' : 'resync'} failed (${summary}); trying again`,
    });
  }

  private async retryLater(id: string, kind: RetryState['kind'], error: string, event: HealthEvent): Promise<void> {
    const { detector, service, policy } = this;
    const retry = detector.failed(id, kind, error, Date.now());
    detector.revisitAt(retry.nextAtMs, event);
    if (retry.attempts >= policy.recovery_management.alert_after_attempts && !retry.alerted) {
      retry.alerted = true;
      await this.raiseAlert(
        {
          name: 'FailoverAutomaticRunbookFailing',
          severity: 'critical',
          service: service.name,
          destination: id,
          summary: `automatic ${kind} for ${id} in ${service.name} failed ${retry.attempts} times in a row; still retrying`,
          details: { kind, attempts: retry.attempts, lastError: error, nextAttempt: new Date(retry.nextAtMs).toISOString() },
          targets: policy.notifications,
        },
        `${service.name}/${id}`,
      );
    }
  }

  /** Alerts are best effort: one that cannot be sent (a receiver down) is logged, and detection goes on watching. */
  private raiseAlert(alert: Parameters<Activities['raiseAlert']>[0], about: string): Promise<unknown> {
    return this.act.raiseAlert(alert).catch((err: unknown) => wf.log.error(`alert for ${about} not raised: ${errorMessage(err)}`));
  }
}
