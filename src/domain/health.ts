/**
 * Per-destination health from a stream of probe results: consecutive-failure and recovery
 * thresholds, a health score over a sliding window, and the transitions detection acts on.
 * Pure, so the watch activity, the detection workflow and tests share one definition.
 */
import type { ReplicationObservation, SyncState, SyncVerdict } from './sync';

export type HealthStatus = 'up' | 'degraded' | 'down';

export interface Observation {
  up: boolean;
  latencyMs: number;
  /** Replication offset the probe read (Redis), kept as the last observation for RPO estimates. */
  offset?: number;
  failure?: string;
  error?: string;
  /** What the destination said of its replication. */
  replication?: ReplicationObservation;
  /** When the probe ran (ms since epoch). */
  atMs?: number;
}

export interface DestinationHealth {
  status: HealthStatus;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  /** Last results, newest last: 1 good, 0 failed, 0.5 good but slower than the latency bound. */
  window: number[];
  score: number;
  lastLatencyMs?: number;
  lastError?: string;
  /** Last replication offset seen while the destination answered. */
  lastOffset?: number;
  /** Alert evidence currently firing for this destination (fingerprints). */
  alerts: string[];
  /** When a probe last passed (ms since epoch): the age of lastOffset and replication. */
  lastUpAtMs?: number;
  /** Its replication at the last passing probe. */
  replication?: ReplicationObservation;
  /** Whether it is a copy of the primary, settled over recovery_threshold probes (see observeSync). */
  sync?: SyncState;
  syncReason?: string;
  /** A different verdict seen for `count` probes in a row, not settled yet. */
  syncPending?: { state: SyncState; count: number };
  /** It answers as a writable primary without being the primary (reported once, until it stops). */
  writable?: boolean;
  /**
   * When the current failure began (ms since epoch): the first failed probe (or a firing alert's
   * start) since the destination was last up. Detection time and outage are measured from it.
   */
  firstFailedAtMs?: number;
}

export interface HealthThresholds {
  failureThreshold: number;
  recoveryThreshold: number;
  healthThreshold: number;
  maxLatencyMs: number;
  windowSize: number;
}

export type HealthEvent =
  | { destination: string; kind: 'down'; reason: string }
  | { destination: string; kind: 'degraded'; reason: string }
  | { destination: string; kind: 'recovered'; reason: string }
  /** An answering backup is no longer a copy of the primary (not replicating from it). */
  | { destination: string; kind: 'diverged'; reason: string }
  /** A destination that is not the primary accepts writes (a returned old primary): a second writer. */
  | { destination: string; kind: 'writable'; reason: string }
  /** The router no longer has the routing the manager decided (destination: the decided primary). */
  | { destination: string; kind: 'drift'; reason: string };

export function initialHealth(): DestinationHealth {
  return { status: 'up', consecutiveFailures: 0, consecutiveSuccesses: 0, window: [], score: 1, alerts: [] };
}

function scoreOf(window: number[]): number {
  if (window.length === 0) return 1;
  return Math.round((window.reduce((a, b) => a + b, 0) / window.length) * 1000) / 1000;
}

/**
 * Folds one probe result into a destination's health; returns the new health and any transition.
 * Also keeps `firstFailedAtMs`: set by the first failed probe, cleared by a passing probe once the
 * destination is up with no alert firing.
 */
export function observe(
  id: string,
  prev: DestinationHealth,
  obs: Observation,
  t: HealthThresholds,
  /** Evidence that the destination is certainly gone (intelligent detection): down at this failed probe. */
  certain?: string,
): { health: DestinationHealth; event?: HealthEvent } {
  const folded = foldProbe(id, prev, obs, t, certain);
  const health = folded.health;
  if (!obs.up && prev.firstFailedAtMs === undefined && obs.atMs !== undefined) health.firstFailedAtMs = obs.atMs;
  if (obs.up && health.status === 'up' && health.alerts.length === 0) delete health.firstFailedAtMs;
  return folded;
}

function foldProbe(
  id: string,
  prev: DestinationHealth,
  obs: Observation,
  t: HealthThresholds,
  /** Evidence that the destination is certainly gone (intelligent detection): down at this failed probe. */
  certain?: string,
): { health: DestinationHealth; event?: HealthEvent } {
  const point = !obs.up ? 0 : obs.latencyMs > t.maxLatencyMs ? 0.5 : 1;
  const window = [...prev.window, point].slice(-t.windowSize);
  const health: DestinationHealth = {
    ...prev,
    consecutiveFailures: obs.up ? 0 : prev.consecutiveFailures + 1,
    consecutiveSuccesses: obs.up ? prev.consecutiveSuccesses + 1 : 0,
    window,
    score: scoreOf(window),
    lastLatencyMs: Math.round(obs.latencyMs),
    ...(obs.up && obs.offset !== undefined ? { lastOffset: obs.offset } : {}),
    ...(obs.up && obs.atMs !== undefined ? { lastUpAtMs: obs.atMs } : {}),
    ...(obs.up && obs.replication ? { replication: obs.replication } : {}),
    ...(obs.up ? { lastError: undefined } : { lastError: `${obs.failure ?? 'error'}: ${obs.error ?? 'probe failed'}` }),
  };
  if (health.lastError === undefined) delete health.lastError;

  if (prev.status !== 'down' && !obs.up && certain && health.consecutiveFailures < t.failureThreshold) {
    health.status = 'down';
    return {
      health,
      event: {
        destination: id,
        kind: 'down',
        reason: `certainly gone after ${health.consecutiveFailures} failed probe(s) (threshold ${t.failureThreshold} not needed): ${certain}`,
      },
    };
  }
  if (prev.status !== 'down' && health.consecutiveFailures >= t.failureThreshold) {
    health.status = 'down';
    return {
      health,
      event: {
        destination: id,
        kind: 'down',
        reason: `${health.consecutiveFailures} consecutive failed probes (threshold ${t.failureThreshold}); last ${health.lastError}`,
      },
    };
  }
  // A full window before judging by score: a couple of early failures is not yet an error rate.
  if (prev.status === 'up' && obs.up && health.window.length >= t.windowSize && health.score < t.healthThreshold) {
    health.status = 'degraded';
    return {
      health,
      event: {
        destination: id,
        kind: 'degraded',
        reason: `health score ${health.score} < ${t.healthThreshold} (latency ${health.lastLatencyMs}ms, bound ${t.maxLatencyMs}ms)`,
      },
    };
  }
  if (prev.status !== 'up' && health.consecutiveSuccesses >= t.recoveryThreshold && health.score >= t.healthThreshold && prev.alerts.length === 0) {
    health.status = 'up';
    return { health, event: { destination: id, kind: 'recovered', reason: `${health.consecutiveSuccesses} consecutive good probes, score ${health.score}` } };
  }
  return { health };
}

/**
 * Monitoring evidence: a firing alert that means `down` (or `degraded`) marks the destination so at
 * once and holds it there until resolved; one that means `recovered` lifts every hold on it; a
 * resolution lifts its own hold. Probes must still confirm a recovery (recovery_threshold).
 */
export function applyAlert(
  id: string,
  prev: DestinationHealth,
  alert: { fingerprint: string; status: 'firing' | 'resolved'; summary: string; means?: 'down' | 'degraded' | 'recovered'; startsAt?: string | undefined },
): { health: DestinationHealth; event?: HealthEvent } {
  const means = alert.means ?? 'down';
  // Resolution is evidence of recovery, but probes must still confirm it (recovery_threshold).
  if (alert.status === 'resolved') return { health: { ...prev, alerts: prev.alerts.filter((f) => f !== alert.fingerprint) } };
  if (means === 'recovered') return { health: { ...prev, alerts: [] } };
  const alerts = prev.alerts.includes(alert.fingerprint) ? prev.alerts : [...prev.alerts, alert.fingerprint];
  const health: DestinationHealth = { ...prev, alerts, consecutiveSuccesses: 0 };
  const startedAtMs = alert.startsAt !== undefined ? Date.parse(alert.startsAt) : NaN;
  if (means === 'down' && prev.firstFailedAtMs === undefined && Number.isFinite(startedAtMs)) health.firstFailedAtMs = startedAtMs;
  if (prev.status === 'down' || prev.status === means) return { health };
  health.status = means;
  return { health, event: { destination: id, kind: means, reason: `alert firing: ${alert.summary}` } };
}

/**
 * Folds one sync verdict (see syncStateOf) into a destination's health: a new verdict settles after
 * recovery_threshold probes in a row, so the instant between a promote and a demote is not acted
 * on. `settled` says the settled state changed (worth reporting); settling into `diverged` while
 * the destination was already answering before this probe is an event: it needs a resync. (One
 * coming back is looked at by its `recovered` event.)
 */
export function observeSync(
  id: string,
  prev: DestinationHealth,
  verdict: SyncVerdict,
  t: Pick<HealthThresholds, 'recoveryThreshold'>,
  wasUp: boolean,
): { health: DestinationHealth; event?: HealthEvent; settled: boolean } {
  if (verdict.state === 'unknown') return { health: prev, settled: false };
  const { syncPending: _, ...rest } = prev;
  if (verdict.state === prev.sync) return { health: { ...rest, syncReason: verdict.reason }, settled: false };
  const count = prev.syncPending?.state === verdict.state ? prev.syncPending.count + 1 : 1;
  if (count < t.recoveryThreshold) return { health: { ...prev, syncPending: { state: verdict.state, count } }, settled: false };
  const health: DestinationHealth = { ...rest, sync: verdict.state, syncReason: verdict.reason };
  if (verdict.state === 'diverged' && wasUp) return { health, event: { destination: id, kind: 'diverged', reason: verdict.reason }, settled: true };
  return { health, settled: true };
}
