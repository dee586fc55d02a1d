import type { WatchResult } from '../activities/watch';
import type { DecisionRecord, DetectionState, DetectionStatus, RunbookEnded, RunbookOutcome } from '../api/status';
import type { Suspension } from '../api/supervisor';
import { combine, type ObserverReport, type Votes } from '../domain/quorum';
import type { Alert } from '../domain/alerts';
import type { Policy, ServiceConfig } from '../domain/config';
import { decide, recoveryStrategyContext, unfencedWriters, type Decision } from '../domain/detection-policy';
import type { CarriedDetectionState, RetryState } from '../domain/detection-state';
import { requireMs } from '../domain/duration';
import { applyAlert, initialHealth, type DestinationHealth, type HealthEvent } from '../domain/health';
import { emptyRanking, update as learn } from '../domain/ranking';
import { fmtWeights, primaryOf, sameWeights, type Routing } from '../domain/routing';
import { syncStates, type ReplicationObservation, type SyncVerdict } from '../domain/sync';
import { failingSince } from './observability';

/** What came of a decision's runbook (or fence). */
export type StartResult =
  | { outcome: 'started'; workflowId: string; runId: string; note?: string }
  /** Another runbook holds the service (its lock id, or the stray's fence): nothing started; looked at again later. */
  | { outcome: 'busy'; workflowId?: string; note?: string }
  /** The brakes held it back: why. */
  | { outcome: 'held'; held: string }
  | { outcome: 'fenced'; note: string };

function fmt(r: Routing): string {
  return `${fmtWeights(r.weights)} (generation ${r.generation})`;
}

const KEEP_DECISIONS = 20;
/** The observer name when no zones are configured: any worker's watch. */
export const DEFAULT_OBSERVER = 'any';
const KEEP_ALERTS = 200;

/** Health bookkeeping and decisions, kept apart from Temporal plumbing. */
export class Detector {
  readonly state: DetectionState;
  primary: string | undefined;
  carrying: string[] = [];
  watching = false;
  readonly pendingAlerts: Alert[] = [];
  /** The end of the runbook in flight, as soon as it is known (see ended). */
  settled: RunbookOutcome | undefined;
  /** A runbook started by an earlier run is looked at by polling: when next, and how often so far. */
  poll = { atMs: 0, count: 0 };
  /** Brakes as last heard (start input, `brakes` signal, an admission): used when the supervisor cannot be asked. */
  suspended: Suspension | undefined;
  /** A signal asks the loop to look again (brakes lifted, a new config version). */
  wake = false;
  /** A newer live config version to continue as new with. */
  newConfig: number | undefined;
  configVersion: number | undefined;
  /** A second writer is fenced before any other decision about it (runs recorded before that replay without). */
  fenceFirst = false;
  /** Second writers whose fence failed in this run: their other events are no longer held for it. */
  readonly unfenceable = new Set<string>();

  constructor(
    readonly service: ServiceConfig,
    readonly policy: Policy,
    carried: CarriedDetectionState | undefined,
    nowMs: number,
  ) {
    const ids = service.destinations.map((d) => d.id);
    // Times from the future (a clock gone wrong, or a hand-made input) would hold a cooldown forever.
    const sane = (t: number) => t <= nowMs + 60_000;
    this.state = {
      health: Object.fromEntries(ids.map((id) => [id, (carried?.health[id] as DestinationHealth | undefined) ?? initialHealth()])),
      lastFailoverFrom: Object.fromEntries(Object.entries(carried?.lastFailoverFrom ?? {}).filter(([id, t]) => ids.includes(id) && sane(t))),
      failedOver: (carried?.failedOver ?? []).filter((id) => ids.includes(id)),
      decisions: (carried?.decisions ?? []) as DecisionRecord[],
      seenAlerts: carried?.seenAlerts ?? [],
      ranking: carried?.ranking ?? emptyRanking(),
      revisit: (carried?.revisit ?? []).filter((r) => ids.includes(r.event.destination)),
      retries: Object.fromEntries(Object.entries(carried?.retries ?? {}).filter(([id]) => ids.includes(id))),
      ...(carried?.inflight ? { inflight: carried.inflight } : {}),
      held: (carried?.held ?? []).filter((e) => ids.includes(e.destination)),
      ...(carried?.observers ? { observers: carried.observers as Record<string, ObserverReport> } : {}),
      ...(carried?.routing ? { routing: carried.routing } : {}),
      ...(carried?.fenced ? { fenced: carried.fenced.filter((id) => ids.includes(id)) } : {}),
    };
  }

  /**
   * What the router says, against what was decided. A newer generation is a change a runbook made
   * (accepted); the same generation with other weights, or an older generation (a HAProxy reload
   * resets it), is drift: the decided routing stays, and a `drift` event says what the router has.
   */
  observeRouting(read: Routing): HealthEvent | undefined {
    const decided = this.state.routing;
    const same = decided !== undefined && read.generation === decided.generation && sameWeights(read.weights, decided.weights);
    if (!decided || same || read.generation > decided.generation) {
      if (!same) this.state.routing = read;
      this.primary = primaryOf(read);
      this.carrying = Object.entries(read.weights)
        .filter(([, w]) => w > 0)
        .map(([id]) => id);
      return undefined;
    }
    this.primary = primaryOf(decided);
    return {
      destination: this.primary ?? Object.keys(decided.weights)[0] ?? '?',
      kind: 'drift',
      reason: `the router has ${fmt(read)}, the decided routing is ${fmt(decided)}`,
    };
  }

  get observerNames(): string[] {
    const zones = this.policy.failover_detection.observers;
    return zones.length > 0 ? zones : [DEFAULT_OBSERVER];
  }

  /** What an observer's watch starts from: its own last fold, or the combined health without alert holds. */
  observerHealth(name: string): Record<string, DestinationHealth> {
    const own = this.state.observers?.[name]?.health;
    return Object.fromEntries(Object.entries(this.state.health).map(([id, h]) => [id, own?.[id] ?? { ...h, alerts: [] }]));
  }

  /** Votes of the last combination, per destination. */
  votes: Record<string, Votes> = {};

  /** One observer's watch returned: fold its view into the quorum; changes the quorum does not confirm are recorded. */
  report(observer: string, result: WatchResult): HealthEvent[] {
    this.state.observers = { ...this.state.observers, [observer]: { health: result.health, isolated: result.isolated === true } };
    if (observer === this.observerNames[0]) this.state.ranking = result.ranking;
    return this.recombine(observer, result.events);
  }

  recombine(reporter: string, reporterEvents: readonly HealthEvent[] = []): HealthEvent[] {
    if (!this.state.observers?.[reporter]) return [];
    const c = combine({
      destinations: Object.keys(this.state.health),
      observers: this.state.observers,
      reporter,
      reporterEvents,
      quorum: this.policy.failover_detection.quorum,
      previous: this.state.health,
    });
    this.state.health = c.health;
    this.votes = c.votes;
    // A fenced writer that no longer answers as one (resynced, or down) is fenced again if it comes back so.
    if (this.state.fenced) this.state.fenced = this.state.fenced.filter((id) => this.state.health[id]?.writable === true);
    for (const u of c.unconfirmed) {
      const event = reporterEvents.find((e) => e.destination === u.destination)!;
      this.record(event, { action: 'none', reason: u.reason });
    }
    return c.events;
  }

  /** Brakes changed: lifted ones let held events be decided again at once. */
  setBrakes(suspended: Suspension | null | undefined, nowMs: number): void {
    this.suspended = suspended ?? undefined;
    if (this.suspended || (this.state.held ?? []).length === 0) return;
    for (const event of this.state.held ?? []) this.revisitAt(nowMs, event);
    this.state.held = [];
    this.wake = true;
  }

  hold(event: HealthEvent): void {
    this.state.held = [...(this.state.held ?? []).filter((e) => e.destination !== event.destination), event];
  }

  get maxLag(): number {
    return this.policy.failover_execution.consistency_check.max_lag;
  }

  /** Queues an alert unless this exact delivery (fingerprint + status) was already applied. */
  offerAlert(alert: Alert): void {
    const key = `${alert.fingerprint}:${alert.status}`;
    if (this.state.seenAlerts.includes(key) || this.pendingAlerts.some((a) => `${a.fingerprint}:${a.status}` === key)) return;
    this.pendingAlerts.push(alert);
  }

  applyPendingAlerts(): HealthEvent[] {
    const events: HealthEvent[] = [];
    for (const alert of this.pendingAlerts.splice(0)) {
      const key = `${alert.fingerprint}:${alert.status}`;
      // A new firing clears an old resolution of the same alert, so it can resolve again.
      const opposite = `${alert.fingerprint}:${alert.status === 'firing' ? 'resolved' : 'firing'}`;
      this.state.seenAlerts = [...this.state.seenAlerts.filter((k) => k !== opposite), key].slice(-KEEP_ALERTS);
      const id = alert.destination ?? this.primary;
      if (!id || !this.state.health[id]) continue;
      const { health, event } = applyAlert(id, this.state.health[id]!, alert);
      this.state.health[id] = health;
      if (event) events.push(event);
    }
    // A resolved alert lifts its hold: the observers' probes decide again.
    const reporter = this.observerNames.find((n) => this.state.observers?.[n]);
    return reporter ? [...events, ...this.recombine(reporter)] : events;
  }

  /** Due revisits whose condition still holds, as events to decide on again. */
  dueRevisits(now: number): HealthEvent[] {
    const due = (this.state.revisit ?? []).filter((r) => r.at <= now);
    this.state.revisit = (this.state.revisit ?? []).filter((r) => r.at > now);
    return due
      .filter(({ event }) => {
        const status = this.state.health[event.destination]?.status;
        if (event.kind === 'drift') return true;
        if (event.kind === 'writable') return this.state.health[event.destination]?.writable === true;
        return event.kind === 'recovered' || event.kind === 'diverged' ? status === 'up' : status === 'down' || status === 'degraded';
      })
      .map(({ event }) => ({ ...event, reason: event.reason.endsWith('(looked at again)') ? event.reason : `${event.reason} (looked at again)` }));
  }

  revisitAt(at: number, event: HealthEvent): void {
    const rest = (this.state.revisit ?? []).filter((r) => r.event.destination !== event.destination);
    this.state.revisit = [...rest, { at, event }];
  }

  /** When the loop must wake without a probe change: the earliest revisit, or a look at an inherited runbook. */
  nextWakeAt(ownsInflight: boolean): number | undefined {
    const times = (this.state.revisit ?? []).map((r) => r.at);
    if (this.state.inflight && !ownsInflight) times.push(this.poll.atMs);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  observed(): Record<string, ReplicationObservation | undefined> {
    return Object.fromEntries(Object.entries(this.state.health).map(([id, h]) => [id, h.status === 'down' ? undefined : h.replication]));
  }

  /** Each backup against the routed primary, from the latest observations. */
  syncVerdicts(): Record<string, SyncVerdict> {
    return syncStates(this.service, this.primary, this.observed(), this.maxLag);
  }

  /** The source's (and everyone's) last good observation: what an emergency failover's RPO estimate and target check use. */
  lastSeen(): { lastSeenOffsets: Record<string, number>; lastSeenAt: Record<string, number>; firstFailedAt?: Record<string, number> } {
    const entries = Object.entries(this.state.health);
    return {
      lastSeenOffsets: Object.fromEntries(entries.flatMap(([id, h]) => (h.lastOffset !== undefined ? [[id, h.lastOffset]] : []))),
      lastSeenAt: Object.fromEntries(entries.flatMap(([id, h]) => (h.lastUpAtMs !== undefined ? [[id, h.lastUpAtMs]] : []))),
      ...failingSince(this.state.health),
    };
  }

  learnOutcome(destination: string, outcome: 'success' | 'rollback'): void {
    this.state.ranking = learn(this.state.ranking ?? emptyRanking(), { destination, kind: 'failover', outcome }, Date.now());
  }

  /** A failed automatic runbook for `id`: when to try again (doubling), and whether it is time to alert. */
  failed(id: string, kind: RetryState['kind'], error: string, nowMs: number): RetryState {
    const rec = this.policy.recovery_management;
    const prev = this.state.retries?.[id];
    const attempts = (prev?.kind === kind ? prev.attempts : 0) + 1;
    const backoff = Math.min(requireMs(rec.retry_backoff_max), requireMs(rec.retry_backoff) * 2 ** (attempts - 1));
    const retry: RetryState = {
      kind,
      attempts,
      lastError: error.slice(0, 2000),
      nextAtMs: nowMs + backoff,
      alerted: prev?.kind === kind ? prev.alerted : false,
    };
    this.state.retries = { ...this.state.retries, [id]: retry };
    return retry;
  }

  succeeded(id: string): void {
    const { [id]: _, ...rest } = this.state.retries ?? {};
    this.state.retries = rest;
  }

  record(event: HealthEvent, decision: Decision, runbook?: StartResult): void {
    const rec: DecisionRecord = {
      at: new Date().toISOString(),
      event,
      decision,
      ...(runbook?.outcome === 'started' ? { runbook: runbook.workflowId, runId: runbook.runId } : {}),
      ...(runbook?.outcome === 'busy' && runbook.workflowId ? { runbook: `${runbook.workflowId} (already running; not started again)` } : {}),
      ...(runbook?.outcome === 'held' ? { held: runbook.held } : {}),
      ...(runbook && 'note' in runbook && runbook.note ? { note: runbook.note } : {}),
      ...(this.observerNames.length > 1 && this.votes[event.destination] ? { votes: this.votes[event.destination] } : {}),
    };
    this.state.decisions = [...this.state.decisions, rec].slice(-KEEP_DECISIONS);
  }

  /** What to do about an event, given everything known now (src/domain/detection-policy.ts). */
  decide(event: HealthEvent): Decision {
    const { policy, service } = this;
    return decide(event, {
      primary: this.primary,
      nowMs: Date.now(),
      cooldownMs: requireMs(policy.failover_detection.cooldown),
      lastFailoverFrom: this.state.lastFailoverFrom,
      automaticFailover: policy.failover_execution.automatic_failover,
      automaticRecovery: policy.recovery_management.automatic_recovery,
      failedOver: this.state.failedOver,
      sync: this.syncVerdicts(),
      resyncReturning: policy.recovery_management.resync_returning,
      repairNotBefore: Object.fromEntries(Object.entries(this.state.retries ?? {}).map(([id, r]) => [id, r.nextAtMs])),
      ...(this.fenceFirst ? { unfencedWriters: unfencedWriters(this.state.health, this.primary, [...(this.state.fenced ?? []), ...this.unfenceable]) } : {}),
      ...recoveryStrategyContext(policy.recovery_management.recovery_strategy, service),
      ...(policy.failover_execution.failover_strategy === 'active-active' ? { activeActive: { carrying: this.carrying } } : {}),
    });
  }

  /** A second writer's writes were paused: its next events are decided on their own (a resync demotes it). */
  fencedWriter(id: string): void {
    if (this.fenceFirst && !(this.state.fenced ?? []).includes(id)) this.state.fenced = [...(this.state.fenced ?? []), id];
  }

  /** Notes how a runbook ended on the decision that started it. */
  recordOutcome(workflowId: string, runId: string, outcome: string): void {
    const rec = [...this.state.decisions].reverse().find((d) => d.runbook === workflowId && d.runId === runId);
    if (rec) rec.outcome = outcome;
  }

  /**
   * The runbook in flight ended: heard from its signal, its child handle (a runbook this run
   * started) or a look at it (one an earlier run started). The first word of it counts; the end of
   * any other run (one already settled) is no news.
   */
  ended(e: RunbookEnded): void {
    const f = this.state.inflight;
    if (this.settled || !f || f.workflowId !== e.workflowId || f.runId !== e.runId) return;
    this.settled = e.outcome;
  }

  status(): DetectionStatus {
    return {
      service: this.service.name,
      ...(this.primary ? { primary: this.primary } : {}),
      watching: this.watching,
      ...this.state,
      sync: this.syncVerdicts(),
      ...(this.configVersion !== undefined ? { configVersion: this.configVersion } : {}),
      ...(this.suspended ? { suspended: this.suspended } : {}),
    };
  }
}
