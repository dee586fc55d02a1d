import * as wf from '@temporalio/workflow';
import type { Activities, ServiceSnapshot } from '../activities';
import type { WatchResult } from '../activities/watch';
import { combine, type ObserverReport, type Votes } from '../domain/quorum';
import { alertEvidenceSchema, type Alert } from '../domain/alerts';
import { policyWithDefaults, type Policy, type ServiceConfig } from '../domain/config';
import { decide, recoveryStrategyContext, type Decision } from '../domain/detection-policy';
import type { CarriedDetectionState, RetryState } from '../domain/detection-state';
import { requireMs } from '../domain/duration';
import { applyAlert, initialHealth, type DestinationHealth, type HealthEvent, type HealthThresholds } from '../domain/health';
import { emptyRanking, rankBackups, update as learn } from '../domain/ranking';
import { fmtWeights, primaryOf, sameWeights, type Routing } from '../domain/routing';
import { detectionInputSchema, type DetectionInput } from '../domain/runbook-input';
import { isResyncing, syncStates, type ReplicationObservation, type SyncVerdict } from '../domain/sync';
import { runbookWorkflowId, watchTaskQueue } from '../domain/workflow-ids';
import { WorkflowExecutionAlreadyStartedError } from '../api/errors';
import { brakesSignal, configChangedSignal, type Admission, type AutomaticKind, type Suspension } from '../api/supervisor';
import { legacyDetection } from './detection-legacy';
import { labelRunbook } from './labels';
import { availabilityOf, failingSince, observeDecision, observeSettled } from './observability';
import { errorType, parseInput } from './runbook-frame';
import { errorMessage } from './runbook-steps';

export type { DetectionInput } from '../domain/runbook-input';
import { alertSignal, healthQuery } from '../api/queries';
export { alertSignal, healthQuery };

/** New runs take this path; runs started before it replay ./detection-legacy.ts. */
const DETECTION_V2 = 'detection-v2';

import type { DecisionRecord, DetectionState, DetectionStatus } from '../api/status';
export type { DecisionRecord, DetectionState, DetectionStatus };

/** What came of a decision's runbook (or fence). */
type StartResult =
  | { outcome: 'started'; workflowId: string; runId: string; note?: string }
  /** Another runbook holds the service (its lock id, or the stray's fence): nothing started; looked at again later. */
  | { outcome: 'busy'; workflowId?: string; note?: string }
  /** The brakes held it back: why. */
  | { outcome: 'held'; held: string }
  | { outcome: 'fenced'; note: string };

function fmt(r: Routing): string {
  return `${fmtWeights(r.weights)} (generation ${r.generation})`;
}

/** How a runbook detection started ended. */
type RunbookOutcome = { ok: true; result: Record<string, unknown> } | { ok: false; type?: string; message: string; details?: Record<string, unknown> };

const KEEP_DECISIONS = 20;
/** How long a second writable primary's writes stay paused if nothing resyncs it first. */
const STRAY_FENCE_MS = 24 * 3_600_000;
/** The observer name when no zones are configured: any worker's watch. */
const DEFAULT_OBSERVER = 'any';
const KEEP_ALERTS = 200;
/** Longest gap between two looks at a runbook started by an earlier run of this workflow. */
const MAX_POLL_MS = 60_000;

/** Health bookkeeping and decisions, kept apart from Temporal plumbing. */
class Detector {
  readonly state: DetectionState;
  primary: string | undefined;
  carrying: string[] = [];
  watching = false;
  readonly pendingAlerts: Alert[] = [];
  /** The end of a runbook started by this run, as soon as it is known. */
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
      this.carrying = Object.entries(read.weights).filter(([, w]) => w > 0).map(([id]) => id);
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
    const retry: RetryState = { kind, attempts, lastError: error.slice(0, 2000), nextAtMs: nowMs + backoff, alerted: prev?.kind === kind ? prev.alerted : false };
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

  /** Notes how a runbook ended on the decision that started it. */
  recordOutcome(workflowId: string, runId: string, outcome: string): void {
    const rec = [...this.state.decisions].reverse().find((d) => d.runbook === workflowId && d.runId === runId);
    if (rec) rec.outcome = outcome;
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

/**
 * One per service, long-running: keeps destination health from the `watch` activity and `alert`
 * signals, and starts failover / recovery runbooks when thresholds are crossed. A backup that
 * answers but is not a copy of the primary is resynced at once; a failed automatic runbook is
 * retried with backoff and, after a few failures, raises an alert event.
 */
export async function detection(input: DetectionInput): Promise<void> {
  if (!wf.patched(DETECTION_V2)) return legacyDetection(input as Parameters<typeof legacyDetection>[0]);
  // Runs recorded before second writers were acted on dropped their reports: replay them that way.
  const fencesWriters = wf.patched('stray-fence');
  const req = parseInput(detectionInputSchema, input, 'detection');

  // Handlers first, so a signal-with-start alert or an early query is never lost or refused.
  let d: Detector | undefined;
  const early: Alert[] = [];
  wf.setHandler(alertSignal, (raw) => {
    const alert = alertEvidenceSchema.safeParse(raw, { reportInput: true });
    if (!alert.success) return void wf.log.warn('alert ignored: invalid evidence', { problems: alert.error.issues.map((i) => i.message) });
    if (d) d.offerAlert(alert.data);
    else early.push(alert.data);
  });
  wf.setHandler(healthQuery, () =>
    d ? d.status() : { service: req.service, watching: false, health: {}, lastFailoverFrom: {}, failedOver: [], decisions: [], seenAlerts: [] },
  );
  let earlyBrakes: Suspension | null | undefined = req.suspended;
  let earlyConfig: number | undefined;
  wf.setHandler(brakesSignal, (b) => {
    if (d) d.setBrakes(b?.suspended ?? null, Date.now());
    else earlyBrakes = b?.suspended ?? null;
  });
  wf.setHandler(configChangedSignal, ({ version }) => {
    if (!Number.isInteger(version)) return;
    if (!d) return void (earlyConfig = Math.max(earlyConfig ?? 0, version));
    if (version > (d.configVersion ?? 0)) {
      d.newConfig = Math.max(d.newConfig ?? 0, version);
      d.wake = true;
    }
  });

  const setup = wf.proxyActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 5, initialInterval: '500ms' } });
  let snapshot: ServiceSnapshot;
  try {
    snapshot = await setup.loadService(req.service, req.configVersion);
  } catch (err) {
    // Removed from the live config: nothing to watch any more (the supervisor stops it too).
    if (errorType(err) === 'UnknownService') return void wf.log.info(`detection ${req.service} ends: ${errorMessage(err)}`);
    throw err;
  }
  const { service } = snapshot;
  const policy = policyWithDefaults(snapshot.policy);
  const det = policy.failover_detection;
  d = new Detector(service, policy, req.carried, Date.now());
  const detector = d;
  detector.configVersion = snapshot.version;
  detector.setBrakes(earlyBrakes, Date.now());
  if (earlyConfig !== undefined && earlyConfig > (snapshot.version ?? 0)) detector.newConfig = earlyConfig;
  for (const alert of early.splice(0)) detector.offerAlert(alert);
  labelRunbook('detection', service.name, 'detection');
  wf.setCurrentDetails(`### detection · ${service.name}\n\nwatching ${service.destinations.length} destinations every ${det.detection_interval}`);

  const intervalMs = requireMs(det.detection_interval);
  const thresholds: HealthThresholds = {
    failureThreshold: det.failure_threshold,
    recoveryThreshold: det.recovery_threshold,
    healthThreshold: det.health_threshold,
    maxLatencyMs: requireMs(policy.quality.max_latency),
    windowSize: Math.max(5, det.failure_threshold * 2),
  };
  const watchFor = Math.max(60 * 60_000, intervalMs * 100);
  // One watch per observer, on its own task queue: its slots are not the ones runbook activities use.
  const watchers = Object.fromEntries(
    detector.observerNames.map((name) => [
      name,
      wf.proxyActivities<Activities>({
        taskQueue: watchTaskQueue(wf.workflowInfo().taskQueue, name === DEFAULT_OBSERVER ? undefined : name),
        startToCloseTimeout: watchFor + 60_000,
        heartbeatTimeout: Math.max(10_000, intervalMs * 5),
        retry: { initialInterval: '1s', maximumInterval: '30s' },
      }).watchDestinations,
    ]),
  );
  const act = wf.proxyActivities<Activities>({ startToCloseTimeout: '15s', retry: { maximumAttempts: 5, initialInterval: '500ms' } });

  /** Reads the router; a drift comes back as an event to decide on. */
  const refreshPrimary = async (): Promise<HealthEvent | undefined> => {
    const drift = detector.observeRouting((await act.readRouting(service)).routing);
    // Carrying traffic again (failed back by hand, or a later switchover): nothing to fail back.
    detector.state.failedOver = detector.state.failedOver.filter((id) => !detector.carrying.includes(id));
    return drift;
  };
  const initialDrift = await refreshPrimary();
  const availability = availabilityOf(service.name);
  availability(Date.now(), detector.carrying, detector.state.health);

  /** This run's own runbook: its end arrives by the child handle; one inherited from an earlier run is polled. */
  let owned: string | undefined;
  const track = (child: wf.ChildWorkflowHandle<wf.Workflow>) => {
    owned = child.firstExecutionRunId;
    child.result().then(
      (result) => void (detector.settled = { ok: true, result: (result ?? {}) as Record<string, unknown> }),
      (err: unknown) => void (detector.settled = failureOutcome(err)),
    );
  };

  /**
   * Each observer's watch runs until it has something to report; the loop wakes for the first of a
   * report, an alert, a runbook's end, a signal or a due revisit. Watches are restarted only when
   * they returned or the primary they classify against changed.
   */
  interface WatchSlot {
    scope: wf.CancellationScope;
    primary: string | undefined;
    routing: Routing | undefined;
    outcome?: { result?: WatchResult; error?: unknown };
  }
  const slots = new Map<string, WatchSlot>();
  const startWatches = () => {
    for (const name of detector.observerNames) {
      const current = slots.get(name);
      if (current && !current.outcome && current.primary === detector.primary && current.routing === detector.state.routing) continue;
      current?.scope.cancel();
      const slot: WatchSlot = { scope: new wf.CancellationScope(), primary: detector.primary, routing: detector.state.routing };
      slots.set(name, slot);
      slot.scope
        .run(() =>
          watchers[name]!({
            service, health: detector.observerHealth(name), ranking: detector.state.ranking!, thresholds, intervalMs,
            probeTimeoutMs: requireMs(det.timeout), maxDurationMs: watchFor, maxLag: detector.maxLag, intelligent: det.intelligent_detection,
            ...(detector.primary ? { primary: detector.primary } : {}),
            // One observer is enough to see the router drift.
            ...(detector.state.routing && name === detector.observerNames[0] ? { expected: detector.state.routing, routerCheckMs: requireMs(det.router_check_interval) } : {}),
          }),
        )
        .then(
          (result) => void (slot.outcome = { result }),
          (error: unknown) => void (slot.outcome = wf.isCancellation(error) ? {} : { error }),
        );
    }
  };
  const stopWatches = () => {
    for (const slot of slots.values()) slot.scope.cancel();
    slots.clear();
  };

  const nextEvents = async (): Promise<HealthEvent[]> => {
    if (detector.pendingAlerts.length > 0) return detector.applyPendingAlerts();
    const ownsInflight = detector.state.inflight?.runId === owned;
    startWatches();
    detector.watching = true;
    const ready = () => [...slots.values()].some((s) => s.outcome) || detector.pendingAlerts.length > 0 || detector.settled !== undefined || detector.wake;
    const wakeAt = detector.nextWakeAt(ownsInflight);
    const woke = wakeAt === undefined ? (await wf.condition(ready), true) : await wf.condition(ready, Math.max(1, wakeAt - Date.now()));
    detector.watching = false;
    detector.wake = false;
    const events: HealthEvent[] = [];
    for (const [name, slot] of slots) {
      if (!slot.outcome) continue;
      slots.delete(name);
      if (slot.outcome.error) throw slot.outcome.error;
      if (slot.outcome.result) events.push(...detector.report(name, slot.outcome.result));
      const drift = slot.outcome.result?.routing ? detector.observeRouting(slot.outcome.result.routing) : undefined;
      if (drift) events.push(drift);
    }
    if (!woke && detector.state.inflight && !ownsInflight && detector.poll.atMs <= Date.now()) await pollInflight();
    return [...events, ...detector.applyPendingAlerts(), ...detector.dueRevisits(Date.now())];
  };

  const pollInflight = async () => {
    const f = detector.state.inflight!;
    const seen = await act.runbookOutcome(f.workflowId, f.runId);
    detector.poll = { count: detector.poll.count + 1, atMs: Date.now() + Math.min(MAX_POLL_MS, 2000 * 2 ** detector.poll.count) };
    if (seen.status === 'completed') detector.settled = { ok: true, result: seen.result };
    else if (seen.status === 'failed') detector.settled = { ok: false, message: seen.message, ...(seen.type ? { type: seen.type } : {}), ...(seen.details ? { details: seen.details } : {}) };
  };

  /** Starts the runbook a decision calls for, under the service's lock id. */
  const start = async (decision: Exclude<Decision, { action: 'none' }>): Promise<StartResult> => {
    const workflowId = runbookWorkflowId(service.name);
    const common = { reason: decision.reason, actor: 'detection', trigger: 'detection' as const };
    try {
      if (decision.action === 'failover') {
        // Backups that are not a copy of the primary come last in the learned order (the runbook checks them again).
        const resyncing = new Set(Object.entries(detector.syncVerdicts()).filter(([, v]) => isResyncing(v.state)).map(([id]) => id));
        const prefer =
          policy.failover_execution.target_selection === 'intelligent'
            ? rankBackups(service, decision.from, detector.state.ranking ?? emptyRanking(), Date.now(), { down: resyncing }).map((c) => c.id)
            : undefined;
        const child = await wf.startChild('failover', {
          workflowId,
          args: [{ service: service.name, ...common, ...(prefer ? { prefer } : {}), ...detector.lastSeen() }],
          parentClosePolicy: 'ABANDON',
          staticSummary: `failover of ${service.name} away from ${decision.from} (detection)`,
        });
        detector.state.lastFailoverFrom[decision.from] = Date.now();
        if (!detector.state.failedOver.includes(decision.from)) detector.state.failedOver.push(decision.from);
        detector.state.inflight = { workflowId, runId: child.firstExecutionRunId, kind: 'failover', destination: decision.from, startedAtMs: Date.now() };
        track(child);
        return { outcome: 'started', workflowId, runId: child.firstExecutionRunId };
      }
      if (decision.action === 'rebalance') {
        const child = await wf.startChild('rebalance', {
          workflowId,
          args: [{ service: service.name, ...common }],
          parentClosePolicy: 'ABANDON',
          staticSummary: `rebalance of ${service.name}: ${decision.destination} (detection)`,
        });
        detector.state.lastFailoverFrom[decision.destination] = Date.now();
        detector.state.inflight = { workflowId, runId: child.firstExecutionRunId, kind: 'rebalance', destination: decision.destination, startedAtMs: Date.now() };
        track(child);
        return { outcome: 'started', workflowId, runId: child.firstExecutionRunId };
      }
      if (decision.action === 'reassert') {
        const decided = detector.state.routing!;
        const child = await wf.startChild('reassert', {
          workflowId,
          args: [{ service: service.name, weights: decided.weights, generation: decided.generation, ...common }],
          parentClosePolicy: 'ABANDON',
          staticSummary: `reassert the routing of ${service.name} (detection)`,
        });
        detector.state.inflight = { workflowId, runId: child.firstExecutionRunId, kind: 'reassert', destination: decision.destination, startedAtMs: Date.now() };
        track(child);
        return { outcome: 'started', workflowId, runId: child.firstExecutionRunId };
      }
      if (decision.action === 'fence') throw new Error('a fence is not a runbook');
      const child = await wf.startChild('recovery', {
        workflowId,
        args: [{ service: service.name, destination: decision.destination, failback: decision.failback, ...common }],
        parentClosePolicy: 'ABANDON',
        staticSummary: `${decision.failback ? 'recovery' : 'resync'} of ${decision.destination} in ${service.name} (detection)`,
      });
      detector.state.inflight = { workflowId, runId: child.firstExecutionRunId, kind: 'recovery', destination: decision.destination, failback: decision.failback, startedAtMs: Date.now() };
      track(child);
      return { outcome: 'started', workflowId, runId: child.firstExecutionRunId };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { outcome: 'busy', workflowId };
      throw err;
    }
  };

  /** Alerts are best effort: one that cannot be sent (a receiver down) is logged, and detection goes on watching. */
  const raiseAlert = (alert: Parameters<typeof act.raiseAlert>[0], about: string) =>
    act.raiseAlert(alert).catch((err: unknown) => wf.log.error(`alert for ${about} not raised: ${errorMessage(err)}`));

  const admission = wf.proxyActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 3, initialInterval: '500ms' } });

  /**
   * The brakes' answer (the supervisor's: suspension, fleet cap). When the supervisor cannot be
   * asked, the last suspension heard of still holds; with none, the runbook goes ahead and says so.
   */
  const admit = async (kind: AutomaticKind, reason: string): Promise<Admission> => {
    try {
      const a = await admission.admitAutomatic({ service: service.name, kind, reason });
      if (!a.admitted && a.suspended && !detector.suspended) detector.suspended = { by: 'supervisor', reason: a.reason, at: new Date().toISOString() };
      return a;
    } catch (err) {
      const why = `the supervisor did not answer (${errorMessage(err)})`;
      if (detector.suspended) return { admitted: false, suspended: true, reason: `suspended by ${detector.suspended.by}: ${detector.suspended.reason} (as last heard; ${why})` };
      return { admitted: true, note: `brakes not confirmed: ${why}` };
    }
  };

  /** Asks the brakes, then starts the runbook; a held one is recorded, revisited, and (cap) alerted on. */
  const startAdmitted = async (decision: Exclude<Decision, { action: 'none' }>, event: HealthEvent): Promise<StartResult> => {
    // A second writable primary is paused at once: a safety action, not a runbook, and never held.
    if (decision.action === 'fence') return fenceStray(decision.destination);
    // Putting the decided routing back repairs, like a resync: held by a suspension, not by the cap.
    const kind: AutomaticKind =
      decision.action === 'recovery' ? (decision.failback ? 'failback' : 'resync') : decision.action === 'reassert' ? 'resync' : decision.action;
    const a = await admit(kind, decision.reason);
    if (a.admitted) return { ...(await start(decision)), ...(a.note ? { note: a.note } : {}) };
    if (a.suspended) detector.hold(event);
    else detector.revisitAt(a.retryAtMs ?? Date.now() + 60_000, event);
    if (!a.suspended) {
      await raiseAlert({
        name: 'FailoverAutomaticRunbookHeld',
        severity: 'critical',
        service: service.name,
        destination: event.destination,
        summary: `${kind} of ${service.name} (${event.destination} ${event.kind}) held by the brakes: ${a.reason}`,
        details: { kind, reason: decision.reason, heldBecause: a.reason, ...(a.retryAtMs ? { retryAt: new Date(a.retryAtMs).toISOString() } : {}) },
        targets: policy.notifications,
      }, service.name);
    }
    return { outcome: 'held', held: a.reason };
  };

  const fenceStray = async (id: string): Promise<StartResult> => {
    const r = await act.fenceStray(service, id, STRAY_FENCE_MS);
    if (r.fenced) {
      await raiseAlert({
        name: 'FailoverSecondWritablePrimary',
        severity: 'critical',
        service: service.name,
        destination: id,
        summary: `${id} answered as a writable primary while ${detector.primary} is the primary: its writes are paused (${r.detail})`,
        details: { primary: detector.primary ?? null, fence: r.detail },
        targets: policy.notifications,
      }, `${service.name}/${id}`);
    }
    // Held by a runbook: looked at again shortly, while the node still answers as a writer.
    return r.busy ? { outcome: 'busy', note: r.detail } : { outcome: 'fenced', note: r.detail };
  };

  /** A runbook detection started has ended: learn from it, and retry what failed. */
  const settle = async (outcome: RunbookOutcome) => {
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
        await retryLater(f.destination, 'reassert', summary, { destination: f.destination, kind: 'drift', reason: `reassert failed (${summary}); trying again` });
      }
      return;
    }
    if (f.kind === 'failover') {
      // Outcomes teach the ranking: a target that held scores up, one that was rolled back scores down.
      const target = (outcome.ok ? outcome.result.target : outcome.details?.target) as string | undefined;
      if (target && policy.quality.learning !== false) detector.learnOutcome(target, outcome.ok && outcome.result.outcome === 'switched' ? 'success' : 'rollback');
      if (outcome.ok) return detector.succeeded(f.destination);
      // Nothing moved for good: the source is still down, so try again later (not held by the cooldown of this attempt).
      delete detector.state.lastFailoverFrom[f.destination];
      detector.state.failedOver = detector.state.failedOver.filter((id) => id !== f.destination);
      return retryLater(f.destination, 'failover', summary, { destination: f.destination, kind: 'down', reason: `failover failed (${summary}); trying again` });
    }
    if (outcome.ok) {
      detector.succeeded(f.destination);
      if (outcome.result.outcome === 'failed-back') {
        detector.state.failedOver = detector.state.failedOver.filter((id) => id !== f.destination);
      } else if (detector.state.failedOver.includes(f.destination) && policy.recovery_management.automatic_recovery) {
        // Resynced as a standby within the cooldown: the failback comes when the cooldown ends.
        const last = detector.state.lastFailoverFrom[f.destination] ?? 0;
        detector.revisitAt(Math.max(now + 1, last + requireMs(det.cooldown)), { destination: f.destination, kind: 'recovered', reason: 'resynced; fail back after the cooldown' });
      }
      return;
    }
    if (outcome.type === 'Aborted') return; // an operator stopped it: they decide what comes next
    await retryLater(f.destination, f.failback ? 'failback' : 'resync', summary, { destination: f.destination, kind: 'recovered', reason: `${f.failback ? 'failback' : 'resync'} failed (${summary}); trying again` });
  };

  const retryLater = async (id: string, kind: RetryState['kind'], error: string, event: HealthEvent) => {
    const retry = detector.failed(id, kind, error, Date.now());
    detector.revisitAt(retry.nextAtMs, event);
    if (retry.attempts >= policy.recovery_management.alert_after_attempts && !retry.alerted) {
      retry.alerted = true;
      await raiseAlert({
        name: 'FailoverAutomaticRunbookFailing',
        severity: 'critical',
        service: service.name,
        destination: id,
        summary: `automatic ${kind} for ${id} in ${service.name} failed ${retry.attempts} times in a row; still retrying`,
        details: { kind, attempts: retry.attempts, lastError: error, nextAttempt: new Date(retry.nextAtMs).toISOString() },
        targets: policy.notifications,
      }, `${service.name}/${id}`);
    }
  };

  let pendingDrift = initialDrift;
  for (;;) {
    // A second writer is paused before anything else is started for it (a resync can take minutes).
    const events = (await nextEvents())
      .filter((e) => fencesWriters || e.kind !== 'writable')
      .sort((a, b) => Number(b.kind === 'writable') - Number(a.kind === 'writable'));
    if (pendingDrift) events.unshift(pendingDrift);
    pendingDrift = undefined;
    const ended = detector.settled;
    if (ended) await settle(ended);
    if (events.length > 0 || ended) {
      const drift = await refreshPrimary();
      if (drift && !events.some((e) => e.kind === 'drift')) events.push(drift);
    }
    availability(Date.now(), detector.carrying, detector.state.health);
    for (const event of events) {
      const decision = decide(event, {
        primary: detector.primary,
        nowMs: Date.now(),
        cooldownMs: requireMs(det.cooldown),
        lastFailoverFrom: detector.state.lastFailoverFrom,
        automaticFailover: policy.failover_execution.automatic_failover,
        automaticRecovery: policy.recovery_management.automatic_recovery,
        failedOver: detector.state.failedOver,
        sync: detector.syncVerdicts(),
        resyncReturning: policy.recovery_management.resync_returning,
        repairNotBefore: Object.fromEntries(Object.entries(detector.state.retries ?? {}).map(([id, r]) => [id, r.nextAtMs])),
        ...recoveryStrategyContext(policy.recovery_management.recovery_strategy, service),
        ...(policy.failover_execution.failover_strategy === 'active-active' ? { activeActive: { carrying: detector.carrying } } : {}),
      });
      const runbook = decision.action !== 'none' ? await startAdmitted(decision, event) : undefined;
      if (runbook?.outcome === 'busy') {
        // Another runbook holds the service: try again once it may have finished.
        detector.revisitAt(Date.now() + Math.max(5_000, intervalMs * 5), event);
      } else if ('retryAtMs' in decision && decision.retryAtMs !== undefined) detector.revisitAt(decision.retryAtMs, event);
      observeDecision(service.name, policy, detector.state, event, decision, runbook?.outcome === 'held' ? runbook : undefined);
      detector.record(event, decision, runbook);
      wf.log.info(`detection ${service.name}: ${event.destination} ${event.kind} → ${decision.action}`, { reason: decision.reason, runbook: runbook?.outcome === 'started' ? runbook.workflowId : undefined });
    }

    // A new live config version, or a long history: the next run loads the config afresh.
    if (detector.newConfig !== undefined || wf.workflowInfo().continueAsNewSuggested || wf.workflowInfo().historyLength > 2000) {
      stopWatches();
      await wf.condition(wf.allHandlersFinished);
      await wf.continueAsNew<typeof detection>({
        service: service.name,
        carried: detector.state as CarriedDetectionState,
        ...(detector.newConfig ?? detector.configVersion ? { configVersion: (detector.newConfig ?? detector.configVersion)! } : {}),
        suspended: detector.suspended ?? null,
      });
    }
  }
}

function failureOutcome(err: unknown): RunbookOutcome {
  let e: unknown = err;
  while (e instanceof Error) {
    if (e instanceof wf.ApplicationFailure) {
      const details = e.details?.[0];
      return { ok: false, message: e.message, ...(e.type ? { type: e.type } : {}), ...(details && typeof details === 'object' ? { details: details as Record<string, unknown> } : {}) };
    }
    if (e instanceof wf.TerminatedFailure) return { ok: false, type: 'Terminated', message: e.message };
    if (e instanceof wf.CancelledFailure) return { ok: false, type: 'Cancelled', message: e.message };
    e = (e as { cause?: unknown }).cause;
  }
  return { ok: false, message: errorMessage(err) };
}
