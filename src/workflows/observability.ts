/**
 * The manager's own metrics, emitted from workflow code through the workflow metric meter: the
 * SDK drops what a workflow emits while it replays, so a worker restart or a cache eviction never
 * counts anything twice. The worker's Prometheus exporter serves them on /metrics beside the SDK's.
 * Names and labels are listed in the README (Observability).
 */
import * as wf from '@temporalio/workflow';
import type { Policy } from '../domain/config';
import { requireMs } from '../domain/duration';
import type { DestinationHealth, HealthEvent } from '../domain/health';
import {
  AvailabilityTracker,
  falseDownWindowMs,
  holdReason,
  judgeFalseDown,
  labelValue,
  rolledBackToHealthySource,
  runbookKind,
  runbookOutcome,
  type DecisionLike,
} from '../domain/observability';
import type { Routing } from '../domain/routing';
import { runbookWorkflowId } from '../domain/workflow-ids';
import type { StepRecord } from './runbook-steps';

export { failingSince } from '../domain/observability';

const m = wf.metricMeter;
const runbooksStarted = m.createCounter('failover_runbooks_started', 'runbooks', 'Mutating runbooks started, by service, kind and trigger.');
const runbooksFinished = m.createCounter('failover_runbooks_finished', 'runbooks', 'Mutating runbooks finished, by service, kind, trigger and outcome.');
const runbookDuration = m.createHistogram('failover_runbook_duration_seconds', 'float', 's', 'Runbook execution time, start to end.');
const rto = m.createHistogram('failover_rto_seconds', 'float', 's', 'Failover RTO: runbook start to traffic moved.');
const outage = m.createHistogram('failover_outage_seconds', 'float', 's', 'Outage: first failed probe of the source to traffic moved.');
const rpo = m.createHistogram('failover_rpo_units', 'float', '', 'RPO of each failover, in the replication driver units (bytes for Redis).');
const rpoUnknown = m.createCounter('failover_rpo_unknown', 'failovers', 'Failovers whose RPO could not be measured.');
const recoveryTime = m.createHistogram('failover_recovery_seconds', 'float', 's', 'Recovery (failback / standby restore) runbook time.');
const steps = m.createCounter('failover_runbook_steps', 'steps', 'Runbook steps ended, by service, kind, step and outcome.');
const stepTime = m.createHistogram('failover_runbook_step_seconds', 'float', 's', 'Runbook step time.');
const consistencyLag = m.createHistogram(
  'failover_consistency_lag_units',
  'float',
  '',
  'Replication lag measured at consistency gates and catch-up, in driver units.',
);
const decisions = m.createCounter('failover_detection_decisions', 'decisions', 'Detection decisions, by service, destination, event and action.');
const detectionTime = m.createHistogram('failover_detection_seconds', 'float', 's', 'Detection time: first failed probe to decision.');
const falseDecisions = m.createCounter('failover_detection_false_decisions', 'decisions', 'Detection decisions later judged false.');
const held = m.createCounter('failover_automatic_runbooks_held', 'runbooks', 'Automatic runbooks held back, by reason (suspension, cap, cooldown).');
const available = m.createGauge('failover_service_available', 'int', '', "1 while a healthy destination carries the service's traffic, as detection sees it.");
const unavailable = m.createCounter('failover_service_unavailable_seconds', 's', 'Seconds without a healthy destination carrying traffic.');
const outages = m.createCounter('failover_service_outages', 'outages', 'Outages that ended (a healthy destination carries traffic again).');
const generation = m.createGauge('failover_routing_generation', 'int', '', 'Routing generation of a service as last read or written.');
const weight = m.createGauge('failover_routing_weight', 'int', '', 'Routing weight of each destination as last read or written.');
const healthyDestinations = m.createGauge('failover_destinations_healthy', 'int', '', 'Destinations of a service that answered at the last redundancy check.');

const seconds = (ms: number) => Math.max(0, ms) / 1000;

// --- runbooks (the workflow interceptor) ---------------------------------------------------------

export interface RunbookRun {
  type: string;
  input: Record<string, unknown>;
  labels: { service: string; kind: string; trigger: string };
  startedAtMs: number;
}

/** The runbook a workflow execution is, for counting; undefined for detection, redundancy, supervisor, a maintenance starter. */
export function runbookRun(info: wf.WorkflowInfo, raw: unknown): RunbookRun | undefined {
  if (!['failover', 'recovery', 'rollback', 'rebalance', 'maintenance'].includes(info.workflowType)) return undefined;
  const input = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const service = labelValue(input.service, 'unknown');
  // A maintenance started under another id (a Schedule) starts the real one under the lock id: count that one.
  if (info.workflowType === 'maintenance' && info.workflowId !== runbookWorkflowId(service)) return undefined;
  return {
    type: info.workflowType,
    input,
    labels: { service, kind: runbookKind(info.workflowType, input), trigger: labelValue(input.trigger, 'manual') },
    startedAtMs: info.startTime.getTime(),
  };
}

export function observeRunbookStart(run: RunbookRun): void {
  runbooksStarted.add(1, run.labels);
}

export function observeRunbookEnd(run: RunbookRun, ended: { ok: true; result: unknown } | { ok: false; type?: string | undefined; cancelled?: boolean }): void {
  const outcome = runbookOutcome(ended);
  const now = Date.now();
  runbooksFinished.add(1, { ...run.labels, outcome });
  runbookDuration.record(seconds(now - run.startedAtMs), { ...run.labels, outcome });
  if (!ended.ok) return;
  const result = (ended.result ?? {}) as { outcome?: string; source?: string; rtoMs?: number; rpo?: { lag: number | null } };
  if (run.type === 'failover' && result.outcome === 'switched' && typeof result.rtoMs === 'number') {
    rto.record(seconds(result.rtoMs), run.labels);
    if (typeof result.rpo?.lag === 'number') rpo.record(result.rpo.lag, run.labels);
    else rpoUnknown.add(1, run.labels);
    const failedAt = result.source ? (run.input.firstFailedAt as Record<string, number> | undefined)?.[result.source] : undefined;
    if (typeof failedAt === 'number') outage.record(seconds(run.startedAtMs + result.rtoMs - failedAt), run.labels);
  }
  if (run.type === 'recovery') recoveryTime.record(seconds(now - run.startedAtMs), { service: run.labels.service, trigger: run.labels.trigger, outcome });
}

// --- steps (the step log) ------------------------------------------------------------------------

export function observeStep(kind: string, service: string, record: StepRecord): void {
  if (record.outcome === 'running') return;
  // Step names are the runbooks' own ("shift 25%", "undo fence redis-a"): bounded, made label-friendly.
  const labels = { service, kind, step: record.name.replace(/[^A-Za-z0-9._:%-]+/g, '_').slice(0, 100) || 'step' };
  steps.add(1, { ...labels, outcome: record.outcome });
  const ms = Date.parse(record.endedAt ?? '') - Date.parse(record.startedAt);
  if (Number.isFinite(ms)) stepTime.record(seconds(ms), labels);
  const lag = record.numbers?.lag;
  if (typeof lag === 'number' && lag >= 0) consistencyLag.record(lag, labels);
}

// --- routing (runbooks that write it, redundancy that reads it) ----------------------------------

export function observeRouting(service: string, routing: Routing): void {
  generation.set(Math.max(0, routing.generation), { service });
  for (const [destination, w] of Object.entries(routing.weights)) weight.set(Math.max(0, Math.round(w)), { service, destination });
}

export function observeHealthyDestinations(service: string, count: number): void {
  healthyDestinations.set(count, { service });
}

// --- detection ---------------------------------------------------------------------------------

/** One decision of detection: counted, timed from the first failed probe, judged against earlier ones, holds counted. */
export function observeDecision(
  service: string,
  policy: Policy,
  state: { health: Record<string, DestinationHealth>; decisions: readonly DecisionLike[] },
  event: HealthEvent,
  decision: { action: string; reason: string; retryAtMs?: number },
  runbook: { held?: string } | undefined,
): void {
  const now = Date.now();
  const destination = event.destination;
  decisions.add(1, { service, destination, event: event.kind, action: decision.action });
  const failedAt = state.health[destination]?.firstFailedAtMs;
  if ((event.kind === 'down' || event.kind === 'degraded') && failedAt !== undefined) {
    detectionTime.record(seconds(now - failedAt), { service, destination, event: event.kind });
  }
  const det = policy.failover_detection;
  const windowMs = falseDownWindowMs({
    failureThreshold: det.failure_threshold,
    recoveryThreshold: det.recovery_threshold,
    intervalMs: requireMs(det.detection_interval),
    probeTimeoutMs: requireMs(det.timeout),
  });
  const judged = judgeFalseDown(event, state.decisions, now, windowMs);
  if (judged) falseDecisions.add(1, { service, destination, reason: 'recovered', action: judged.decision.action });
  const reason = holdReason(decision, runbook?.held);
  if (reason) held.add(1, { service, destination, reason });
}

/** How a runbook detection started ended: a failover rolled back onto a source that is up was a false decision. */
export function observeSettled(
  service: string,
  started: { kind: string; destination: string },
  outcome: { ok: boolean; type?: string },
  health: Readonly<Record<string, DestinationHealth>>,
): void {
  if (rolledBackToHealthySource({ kind: started.kind, ok: outcome.ok, type: outcome.type }, health[started.destination])) {
    falseDecisions.add(1, { service, destination: started.destination, reason: 'rolled-back-healthy-source', action: 'failover' });
  }
}

/** Availability of one service as detection sees it; call after each look at health and routing. */
export function availabilityOf(service: string): (nowMs: number, carrying: readonly string[], health: Readonly<Record<string, DestinationHealth>>) => void {
  const tracker = new AvailabilityTracker();
  // Counters count whole units: fractions are carried to the next report, and rounded when an outage ends.
  let fraction = 0;
  return (nowMs, carrying, health) => {
    const seen = tracker.update(nowMs, carrying, health);
    available.set(seen.available ? 1 : 0, { service });
    fraction += seen.unavailableSeconds;
    const whole = seen.outageEnded ? Math.round(fraction) : Math.floor(fraction);
    fraction = seen.outageEnded ? 0 : fraction - whole;
    if (whole > 0) unavailable.add(whole, { service });
    if (seen.outageEnded) outages.add(1, { service });
  };
}
