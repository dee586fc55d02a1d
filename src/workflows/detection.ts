import * as wf from '@temporalio/workflow';
import type { Activities, ServiceSnapshot } from '../activities';
import type { WatchResult } from '../activities/watch';
import { alertEvidenceSchema, type Alert, type AlertEvidence } from '../domain/alerts';
import type { Policy, ServiceConfig } from '../domain/config';
import { decide, type Decision } from '../domain/detection-policy';
import type { CarriedDetectionState, InflightRunbook, RetryState } from '../domain/detection-state';
import { requireMs } from '../domain/duration';
import { applyAlert, initialHealth, type DestinationHealth, type HealthEvent, type HealthThresholds } from '../domain/health';
import { emptyRanking, rankBackups, update as learn, type RankingState } from '../domain/ranking';
import { primaryOf } from '../domain/routing';
import { detectionInputSchema, type DetectionInput } from '../domain/runbook-input';
import { isResyncing, syncStates, type ReplicationObservation, type SyncVerdict } from '../domain/sync';
import { runbookWorkflowId } from '../domain/workflow-ids';
import { brakesSignal, configChangedSignal, type Admission, type AutomaticKind, type Suspension } from '../api/supervisor';
import { legacyDetection } from './detection-legacy';
import { labelRunbook } from './labels';
import { availabilityOf, failingSince, observeDecision, observeSettled } from './observability';
import { errorType, parseInput } from './runbook-frame';
import { errorMessage } from './runbook-steps';

export type { DetectionInput } from '../domain/runbook-input';
export const alertSignal = wf.defineSignal<[AlertEvidence]>('alert');
export const healthQuery = wf.defineQuery<DetectionStatus>('health');

/** New runs take this path; runs started before it replay ./detection-legacy.ts. */
const DETECTION_V2 = 'detection-v2';

export interface DecisionRecord {
  at: string;
  event: HealthEvent;
  decision: Decision;
  runbook?: string;
  runId?: string;
  /** How the runbook it started ended, once detection saw it. */
  outcome?: string;
  /** The brakes held the runbook back: why. */
  held?: string;
  /** Something worth knowing about the start (e.g. the brakes could not be asked). */
  note?: string;
}

/** What survives continue-as-new. */
export interface DetectionState {
  health: Record<string, DestinationHealth>;
  lastFailoverFrom: Record<string, number>;
  /** Destinations traffic was moved away from that have not been failed back since. */
  failedOver: string[];
  decisions: DecisionRecord[];
  /** Fingerprint+status of alerts already applied (bounded), to drop duplicate deliveries. */
  seenAlerts: string[];
  /** Adaptive ranking learned from every probe and failover outcome; survives restarts as workflow state. */
  ranking?: RankingState;
  /** Events to look at again later: a recovery held by the cooldown, a runbook refused because another held the service, a retry. */
  revisit?: { at: number; event: HealthEvent }[];
  /** Automatic runbooks that failed, per destination: retried with backoff, alerting after a few. */
  retries?: Record<string, RetryState>;
  /** The runbook detection started last, until it has seen how it ended. */
  inflight?: InflightRunbook;
  /** Events whose runbook a suspension held: decided again when it is lifted. */
  held?: HealthEvent[];
}

export interface DetectionStatus extends DetectionState {
  service: string;
  primary?: string;
  watching: boolean;
  /** The live config version this run loaded, when the worker follows the supervisor. */
  configVersion?: number;
  /** Automatic runbooks of this service are suspended (as last heard from the supervisor). */
  suspended?: Suspension;
  /** Each backup against the primary: a healthy backup only when in sync. */
  sync?: Record<string, SyncVerdict>;
}

/** What came of a decision's runbook: started, refused because another holds the service, or held by the brakes. */
interface StartResult {
  workflowId?: string;
  runId?: string;
  busy?: boolean;
  held?: string;
  note?: string;
}

/** How a runbook detection started ended. */
type RunbookOutcome = { ok: true; result: Record<string, unknown> } | { ok: false; type?: string; message: string; details?: Record<string, unknown> };

const KEEP_DECISIONS = 20;
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
    };
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
    return events;
  }

  /** Due revisits whose condition still holds, as events to decide on again. */
  dueRevisits(now: number): HealthEvent[] {
    const due = (this.state.revisit ?? []).filter((r) => r.at <= now);
    this.state.revisit = (this.state.revisit ?? []).filter((r) => r.at > now);
    return due
      .filter(({ event }) => {
        const status = this.state.health[event.destination]?.status;
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
      ...(runbook?.workflowId ? { runbook: runbook.busy ? `${runbook.workflowId} (already running; not started again)` : runbook.workflowId } : {}),
      ...(runbook?.runId ? { runId: runbook.runId } : {}),
      ...(runbook?.held ? { held: runbook.held } : {}),
      ...(runbook?.note ? { note: runbook.note } : {}),
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
  const { service, policy } = snapshot;
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
  const { watchDestinations } = wf.proxyActivities<Activities>({
    startToCloseTimeout: watchFor + 60_000,
    heartbeatTimeout: Math.max(10_000, intervalMs * 5),
    retry: { initialInterval: '1s', maximumInterval: '30s' },
  });
  const act = wf.proxyActivities<Activities>({ startToCloseTimeout: '15s', retry: { maximumAttempts: 5, initialInterval: '500ms' } });

  const refreshPrimary = async () => {
    const routing = (await act.readRouting(service)).routing;
    detector.primary = primaryOf(routing);
    detector.carrying = Object.entries(routing.weights).filter(([, w]) => w > 0).map(([id]) => id);
    // Carrying traffic again (failed back by hand, or a later switchover): nothing to fail back.
    detector.state.failedOver = detector.state.failedOver.filter((id) => !detector.carrying.includes(id));
  };
  await refreshPrimary();
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

  /** Probe until something changes, an alert arrives, a revisit or a runbook's end is due: whichever is first. */
  const nextEvents = async (): Promise<HealthEvent[]> => {
    if (detector.pendingAlerts.length > 0) return detector.applyPendingAlerts();
    const ownsInflight = detector.state.inflight?.runId === owned;
    const scope = new wf.CancellationScope();
    detector.watching = true;
    const watching = scope.run(() =>
      watchDestinations({
        service, health: detector.state.health, ranking: detector.state.ranking!, thresholds, intervalMs,
        probeTimeoutMs: requireMs(det.timeout), maxDurationMs: watchFor, maxLag: detector.maxLag,
        ...(detector.primary ? { primary: detector.primary } : {}),
      }),
    );
    const woken = scope.run(() => wf.condition(() => detector.pendingAlerts.length > 0 || detector.settled !== undefined || detector.wake));
    const wakeAt = detector.nextWakeAt(ownsInflight);
    let timerFired = false;
    const timer = wakeAt !== undefined ? scope.run(() => wf.sleep(Math.max(1, wakeAt - Date.now()))).then(() => void (timerFired = true)) : undefined;
    await Promise.race([watching, woken, ...(timer ? [timer] : [])]).catch(() => undefined);
    let result: WatchResult | undefined;
    if (detector.pendingAlerts.length === 0 && detector.settled === undefined && !detector.wake && !timerFired) {
      result = await watching;
    } else {
      scope.cancel();
      result = await watching.catch((err) => (wf.isCancellation(err) ? undefined : Promise.reject(err)));
    }
    detector.watching = false;
    detector.wake = false;
    woken.catch(() => undefined);
    timer?.catch(() => undefined);
    if (result) {
      detector.state.health = result.health;
      detector.state.ranking = result.ranking;
    }
    if (timerFired && detector.state.inflight && !ownsInflight && detector.poll.atMs <= Date.now()) await pollInflight();
    return [...(result?.events ?? []), ...detector.applyPendingAlerts(), ...detector.dueRevisits(Date.now())];
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
        return { workflowId, runId: child.firstExecutionRunId };
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
        return { workflowId, runId: child.firstExecutionRunId };
      }
      const child = await wf.startChild('recovery', {
        workflowId,
        args: [{ service: service.name, destination: decision.destination, failback: decision.failback, ...common }],
        parentClosePolicy: 'ABANDON',
        staticSummary: `${decision.failback ? 'recovery' : 'resync'} of ${decision.destination} in ${service.name} (detection)`,
      });
      detector.state.inflight = { workflowId, runId: child.firstExecutionRunId, kind: 'recovery', destination: decision.destination, failback: decision.failback, startedAtMs: Date.now() };
      track(child);
      return { workflowId, runId: child.firstExecutionRunId };
    } catch (err) {
      // Matched by name: @temporalio/workflow does not re-export the class.
      if (err instanceof Error && err.name === 'WorkflowExecutionAlreadyStartedError') return { workflowId, busy: true };
      throw err;
    }
  };

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
    const kind: AutomaticKind = decision.action === 'recovery' ? (decision.failback ? 'failback' : 'resync') : decision.action;
    const a = await admit(kind, decision.reason);
    if (a.admitted) return { ...(await start(decision)), ...(a.note ? { note: a.note } : {}) };
    if (a.suspended) detector.hold(event);
    else detector.revisitAt(a.retryAtMs ?? Date.now() + 60_000, event);
    if (!a.suspended) {
      await act.raiseAlert({
        name: 'FailoverAutomaticRunbookHeld',
        severity: 'critical',
        service: service.name,
        destination: event.destination,
        summary: `${kind} of ${service.name} (${event.destination} ${event.kind}) held by the brakes: ${a.reason}`,
        details: { kind, reason: decision.reason, heldBecause: a.reason, ...(a.retryAtMs ? { retryAt: new Date(a.retryAtMs).toISOString() } : {}) },
        targets: policy.notifications,
      }).catch((err: unknown) => wf.log.error(`alert for ${service.name} not raised: ${errorMessage(err)}`));
    }
    return { held: a.reason };
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
    if (f.kind === 'failover') {
      // Outcomes teach the ranking: a target that held scores up, one that was rolled back scores down.
      const target = (outcome.ok ? outcome.result.target : outcome.details?.target) as string | undefined;
      if (target) detector.learnOutcome(target, outcome.ok && outcome.result.outcome === 'switched' ? 'success' : 'rollback');
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
      await act.raiseAlert({
        name: 'FailoverAutomaticRunbookFailing',
        severity: 'critical',
        service: service.name,
        destination: id,
        summary: `automatic ${kind} for ${id} in ${service.name} failed ${retry.attempts} times in a row; still retrying`,
        details: { kind, attempts: retry.attempts, lastError: error, nextAttempt: new Date(retry.nextAtMs).toISOString() },
        targets: policy.notifications,
      }).catch((err: unknown) => wf.log.error(`alert for ${service.name}/${id} not raised: ${errorMessage(err)}`));
    }
  };

  for (;;) {
    const events = await nextEvents();
    const ended = detector.settled;
    if (ended) await settle(ended);
    if (events.length > 0 || ended) await refreshPrimary();
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
        ...(policy.failover_execution.failover_strategy === 'active-active' ? { activeActive: { carrying: detector.carrying } } : {}),
      });
      const runbook = decision.action !== 'none' ? await startAdmitted(decision, event) : undefined;
      if (runbook?.busy) {
        // Another runbook holds the service: try again once it may have finished.
        detector.revisitAt(Date.now() + Math.max(5_000, intervalMs * 5), event);
      } else if ('retryAtMs' in decision && decision.retryAtMs !== undefined) detector.revisitAt(decision.retryAtMs, event);
      observeDecision(service.name, policy, detector.state, event, decision, runbook);
      detector.record(event, decision, runbook);
      wf.log.info(`detection ${service.name}: ${event.destination} ${event.kind} → ${decision.action}`, { reason: decision.reason, runbook: runbook?.workflowId });
    }

    // A new live config version, or a long history: the next run loads the config afresh.
    if (detector.newConfig !== undefined || wf.workflowInfo().continueAsNewSuggested || wf.workflowInfo().historyLength > 2000) {
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
