import * as wf from '@temporalio/workflow';
import type { Activities, ServiceSnapshot } from '../activities';
import { alertEvidenceSchema, type Alert } from '../domain/alerts';
import { requireMs } from '../domain/duration';
import { applyAlert, initialHealth, type DestinationHealth, type HealthEvent, type HealthThresholds } from '../domain/health';
import { primaryOf } from '../domain/routing';
import { runbookWorkflowId } from '../domain/workflow-ids';
import { describeIssues } from '../domain/validation';
import { detectionInputSchema } from '../domain/runbook-input';
import { labelRunbook } from './labels';
import { emptyRanking, rankBackups, update as learn, type RankingState } from '../domain/ranking';
import type { ServiceConfig } from '../domain/config';

import { alertSignal, healthQuery, type DetectionInput, type DetectionState, type DetectionStatus, type DecisionRecord } from './detection';

const KEEP_DECISIONS = 20;
const KEEP_ALERTS = 200;

/** Health bookkeeping and decisions, kept apart from Temporal plumbing. */
class Detector {
  readonly state: DetectionState;
  primary: string | undefined;
  watching = false;
  readonly pendingAlerts: Alert[] = [];

  constructor(
    readonly service: string,
    destinations: string[],
    carried: DetectionState | undefined,
  ) {
    const health = Object.fromEntries(destinations.map((id) => [id, carried?.health[id] ?? initialHealth()]));
    this.state = {
      health,
      lastFailoverFrom: carried?.lastFailoverFrom ?? {},
      failedOver: carried?.failedOver ?? [],
      decisions: carried?.decisions ?? [],
      seenAlerts: carried?.seenAlerts ?? [],
      ranking: carried?.ranking ?? emptyRanking(),
      revisit: carried?.revisit ?? [],
    };
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
      this.state.seenAlerts = [
        ...this.state.seenAlerts.filter((k) => k !== `${alert.fingerprint}:${alert.status === 'firing' ? 'resolved' : 'firing'}`),
        key,
      ].slice(-KEEP_ALERTS);
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
        return event.kind === 'recovered' ? status === 'up' : status === 'down' || status === 'degraded';
      })
      .map(({ event }) => ({ ...event, reason: `${event.reason} (looked at again)` }));
  }

  revisitAt(at: number, event: HealthEvent): void {
    const rest = (this.state.revisit ?? []).filter((r) => r.event.destination !== event.destination);
    this.state.revisit = [...rest, { at, event }];
  }

  learnOutcome(destination: string, outcome: 'success' | 'rollback'): void {
    this.state.ranking = learn(this.state.ranking ?? emptyRanking(), { destination, kind: 'failover', outcome }, Date.now());
  }

  record(event: HealthEvent, decision: Decision, runbook?: string): void {
    const rec = { at: new Date().toISOString(), event, decision, ...(runbook ? { runbook } : {}) } as DecisionRecord;
    this.state.decisions = [...this.state.decisions, rec].slice(-KEEP_DECISIONS);
  }

  status(): DetectionStatus {
    return { service: this.service, ...(this.primary ? { primary: this.primary } : {}), watching: this.watching, ...this.state };
  }
}

/**
 * Detection as it ran before the `detection-v2` patch (resync of returned backups, runbook outcomes,
 * brakes, live config). Kept only so that histories of runs started before it replay; new runs
 * take the v2 path in ./detection.ts.
 */
export async function legacyDetection(input: DetectionInput): Promise<void> {
  const parsed = detectionInputSchema.safeParse(input ?? {}, { reportInput: true });
  if (!parsed.success)
    throw wf.ApplicationFailure.nonRetryable(`invalid detection input:\n  - ${describeIssues(parsed.error.issues, 'input').join('\n  - ')}`, 'InvalidInput');
  const { service: serviceName } = parsed.data;

  // Handlers first, so a signal-with-start alert or an early query is never lost or refused.
  let detector: Detector | undefined;
  const early: Alert[] = [];
  wf.setHandler(alertSignal, (raw) => {
    const alert = alertEvidenceSchema.safeParse(raw, { reportInput: true });
    if (!alert.success) {
      wf.log.warn('alert ignored: invalid evidence', { problems: describeIssues(alert.error.issues, 'alert') });
      return;
    }
    if (detector) detector.offerAlert(alert.data);
    else early.push(alert.data);
  });
  wf.setHandler(healthQuery, () =>
    detector ? detector.status() : { service: serviceName, watching: false, health: {}, lastFailoverFrom: {}, failedOver: [], decisions: [], seenAlerts: [] },
  );

  const setup = wf.proxyActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 5, initialInterval: '500ms' } });
  const { service, policy }: ServiceSnapshot = await setup.loadService(serviceName);
  const det = policy.failover_detection;

  detector = new Detector(
    service.name,
    service.destinations.map((d) => d.id),
    input.carried as DetectionState | undefined,
  );
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

  let carrying: string[] = [];
  const refreshPrimary = async () => {
    const routing = (await act.readRouting(service)).routing;
    detector.primary = primaryOf(routing);
    carrying = Object.entries(routing.weights)
      .filter(([, w]) => w > 0)
      .map(([id]) => id);
  };
  await refreshPrimary();

  for (;;) {
    let events: HealthEvent[];
    if (detector.pendingAlerts.length > 0) {
      events = detector.applyPendingAlerts();
    } else {
      // Probe until something changes or an alert arrives, whichever is first.
      const scope = new wf.CancellationScope();
      detector.watching = true;
      const watching = scope.run(() =>
        watchDestinations({
          service,
          health: detector.state.health,
          ranking: detector.state.ranking!,
          thresholds,
          intervalMs,
          probeTimeoutMs: requireMs(det.timeout),
          maxDurationMs: watchFor,
        }),
      );
      const alerted = scope.run(() => wf.condition(() => detector.pendingAlerts.length > 0));
      // Also wake for the earliest revisit (a recovery held by the cooldown must not wait for another change).
      const nextRevisit = Math.min(...(detector.state.revisit ?? []).map((r) => r.at));
      let revisitDue = false;
      const timer = Number.isFinite(nextRevisit)
        ? scope.run(() => wf.sleep(Math.max(1, nextRevisit - Date.now()))).then(() => void (revisitDue = true))
        : undefined;
      await Promise.race([watching, alerted, ...(timer ? [timer] : [])]).catch(() => undefined);
      const result = await (async () => {
        if (detector.pendingAlerts.length === 0 && !revisitDue) return watching;
        scope.cancel();
        return watching.catch((err) => (wf.isCancellation(err) ? undefined : Promise.reject(err)));
      })();
      detector.watching = false;
      alerted.catch(() => undefined);
      timer?.catch(() => undefined);
      if (result) {
        detector.state.health = result.health;
        detector.state.ranking = result.ranking;
      }
      events = [...(result?.events ?? []), ...detector.applyPendingAlerts(), ...detector.dueRevisits(Date.now())];
    }

    if (events.length > 0) await refreshPrimary();
    for (const event of events) {
      const decision = decide(event, {
        primary: detector.primary,
        nowMs: Date.now(),
        cooldownMs: requireMs(det.cooldown),
        lastFailoverFrom: detector.state.lastFailoverFrom,
        automaticFailover: policy.failover_execution.automatic_failover,
        automaticRecovery: policy.recovery_management.automatic_recovery,
        failedOver: detector.state.failedOver,
        ...(policy.failover_execution.failover_strategy === 'active-active' ? { activeActive: { carrying } } : {}),
      });
      const runbook = await actOn(decision, service, detector, policy.failover_execution.target_selection === 'intelligent');
      if (decision.action === 'none' && decision.retryAtMs !== undefined) detector.revisitAt(decision.retryAtMs, event);
      // Another runbook holds the service: try again once it may have finished.
      if (runbook?.endsWith('(already running; not started again)')) detector.revisitAt(Date.now() + Math.max(5_000, intervalMs * 5), event);
      detector.record(event, decision, runbook);
      wf.log.info(`detection ${service.name}: ${event.destination} ${event.kind} → ${decision.action}`, { reason: decision.reason, runbook });
    }

    if (wf.workflowInfo().continueAsNewSuggested || wf.workflowInfo().historyLength > 2000) {
      await wf.condition(wf.allHandlersFinished);
      await wf.continueAsNew<typeof legacyDetection>({ service: service.name, carried: detector.state });
    }
  }
}

/** Starts the runbook a decision calls for; returns its workflow id, or a note when one already runs. */
async function actOn(decision: Decision, serviceConfig: ServiceConfig, detector: Detector, intelligent: boolean): Promise<string | undefined> {
  if (decision.action === 'none') return undefined;
  const service = serviceConfig.name;
  const workflowId = runbookWorkflowId(service);
  try {
    if (decision.action === 'failover') {
      const ranking = detector.state.ranking ?? emptyRanking();
      const prefer = intelligent ? rankBackups(serviceConfig, decision.from, ranking, Date.now()).map((c) => c.id) : undefined;
      const child = await wf.startChild('failover', {
        workflowId,
        args: [
          {
            service,
            reason: decision.reason,
            actor: 'detection',
            trigger: 'detection',
            ...(prefer ? { prefer } : {}),
            lastSeenOffsets: lastSeenOffsets(detector.state.health),
          },
        ],
        parentClosePolicy: 'ABANDON',
        staticSummary: `failover of ${service} away from ${decision.from} (detection)`,
      });
      // Outcomes teach the ranking: a target that held scores up, one that was rolled back scores down.
      void child.result().then(
        (r) =>
          detector.learnOutcome((r as { target: string; outcome: string }).target, (r as { outcome: string }).outcome === 'switched' ? 'success' : 'rollback'),
        (err: unknown) => {
          const target = (err as { cause?: { details?: [{ target?: string }] } }).cause?.details?.[0]?.target;
          if (target) detector.learnOutcome(target, 'rollback');
        },
      );
      detector.state.lastFailoverFrom[decision.from] = Date.now();
      if (!detector.state.failedOver.includes(decision.from)) detector.state.failedOver.push(decision.from);
    } else if (decision.action === 'rebalance') {
      await wf.startChild('rebalance', {
        workflowId,
        args: [{ service, reason: decision.reason, actor: 'detection', trigger: 'detection' }],
        parentClosePolicy: 'ABANDON',
        staticSummary: `rebalance of ${service}: ${decision.destination} (detection)`,
      });
      detector.state.lastFailoverFrom[decision.destination] = Date.now();
    } else {
      await wf.startChild('recovery', {
        workflowId,
        args: [{ service, destination: decision.destination, reason: decision.reason, actor: 'detection', trigger: 'detection' }],
        parentClosePolicy: 'ABANDON',
        staticSummary: `recovery of ${decision.destination} in ${service} (detection)`,
      });
      detector.state.failedOver = detector.state.failedOver.filter((d) => d !== decision.destination);
    }
    return workflowId;
  } catch (err) {
    // Matched by name: the class lives in @temporalio/common, which workflow code does not import directly.
    if (err instanceof Error && err.name === 'WorkflowExecutionAlreadyStartedError') return `${workflowId} (already running; not started again)`;
    throw err;
  }
}

function lastSeenOffsets(health: Record<string, DestinationHealth>): Record<string, number> {
  return Object.fromEntries(Object.entries(health).flatMap(([id, h]) => (h.lastOffset !== undefined ? [[id, h.lastOffset]] : [])));
}

// The decision rules as they were before the patch (frozen with the rest of this file).
type Decision =
  | { action: 'failover'; from: string; reason: string }
  | { action: 'recovery'; destination: string; reason: string }
  /** Active-active: recompute the weights (a member failed, or came back). */
  | { action: 'rebalance'; destination: string; reason: string }
  /** `retryAtMs`: the same event deserves another look then (e.g. a recovery held by the cooldown). */
  | { action: 'none'; reason: string; retryAtMs?: number };

interface LegacyContext {
  /** Destination carrying traffic now (active-passive primary). */
  primary: string | undefined;
  nowMs: number;
  cooldownMs: number;
  /** When a failover away from each destination last started. */
  lastFailoverFrom: Record<string, number>;
  automaticFailover: boolean;
  automaticRecovery: boolean;
  /** Destinations traffic was moved away from and that have not been recovered since. */
  failedOver: string[];
  /** Active-active: weights spread over several destinations; these carry traffic now. */
  activeActive?: { carrying: string[] };
}

/**
 * What detection does about one health transition. Anti-flap: a cooldown per source destination
 * after a failover away from it; it never suppresses a *different* destination's failure.
 */
function decide(event: HealthEvent, ctx: LegacyContext): Decision {
  const { destination: id } = event;
  if (ctx.activeActive) return decideActiveActive(event, ctx, ctx.activeActive.carrying);
  if (event.kind === 'down' || event.kind === 'degraded') {
    if (id !== ctx.primary)
      return { action: 'none', reason: `${id} ${event.kind} but carries no traffic (primary ${ctx.primary ?? 'none'}); redundancy reduced` };
    if (!ctx.automaticFailover) return { action: 'none', reason: `${id} ${event.kind}; automatic_failover is off, an operator must act` };
    const last = ctx.lastFailoverFrom[id];
    if (last !== undefined && ctx.nowMs - last < ctx.cooldownMs) {
      return {
        action: 'none',
        reason: `${id} ${event.kind} again ${Math.round((ctx.nowMs - last) / 1000)}s after a failover away from it; cooldown ${Math.round(ctx.cooldownMs / 1000)}s holds`,
      };
    }
    return { action: 'failover', from: id, reason: `${id} ${event.kind}: ${event.reason}` };
  }
  // recovered
  if (!ctx.failedOver.includes(id)) return { action: 'none', reason: `${id} recovered: ${event.reason}` };
  if (!ctx.automaticRecovery) return { action: 'none', reason: `${id} recovered; automatic_recovery is off, start a recovery runbook to fail back` };
  const last = ctx.lastFailoverFrom[id];
  if (last !== undefined && ctx.nowMs - last < ctx.cooldownMs) {
    return { action: 'none', reason: `${id} recovered within the cooldown after failing; waiting before failback`, retryAtMs: last + ctx.cooldownMs };
  }
  return { action: 'recovery', destination: id, reason: `${id} recovered: ${event.reason}` };
}

/** Active-active: a failing member's share is redistributed; a recovered one is slow-started back. */
function decideActiveActive(event: HealthEvent, ctx: LegacyContext, carrying: string[]): Decision {
  const id = event.destination;
  if (!ctx.automaticFailover) return { action: 'none', reason: `${id} ${event.kind}; automatic_failover is off, an operator must rebalance` };
  if (event.kind === 'recovered') {
    if (carrying.includes(id)) return { action: 'none', reason: `${id} recovered and still carries traffic` };
    const last = ctx.lastFailoverFrom[id];
    if (last !== undefined && ctx.nowMs - last < ctx.cooldownMs) {
      return { action: 'none', reason: `${id} recovered within the cooldown after failing; waiting before slow start`, retryAtMs: last + ctx.cooldownMs };
    }
    return { action: 'rebalance', destination: id, reason: `${id} recovered: ${event.reason}; slow start back` };
  }
  if (!carrying.includes(id)) return { action: 'none', reason: `${id} ${event.kind} but carries no traffic` };
  return { action: 'rebalance', destination: id, reason: `${id} ${event.kind}: ${event.reason}; its share moves to the rest` };
}
