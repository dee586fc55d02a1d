/**
 * Per-destination health from a stream of probe results: consecutive-failure and recovery
 * thresholds, a health score over a sliding window, and the transitions detection acts on.
 * Pure, so the watch activity, the detection workflow and tests share one definition.
 */
export type HealthStatus = 'up' | 'degraded' | 'down';

export interface Observation {
  up: boolean;
  latencyMs: number;
  /** Replication offset the probe read (Redis), kept as the last observation for RPO estimates. */
  offset?: number;
  failure?: string;
  error?: string;
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
  | { destination: string; kind: 'recovered'; reason: string };

export function initialHealth(): DestinationHealth {
  return { status: 'up', consecutiveFailures: 0, consecutiveSuccesses: 0, window: [], score: 1, alerts: [] };
}

function scoreOf(window: number[]): number {
  if (window.length === 0) return 1;
  return Math.round((window.reduce((a, b) => a + b, 0) / window.length) * 1000) / 1000;
}

/** Folds one probe result into a destination's health; returns the new health and any transition. */
export function observe(
  id: string,
  prev: DestinationHealth,
  obs: Observation,
  t: HealthThresholds,
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
    ...(obs.up ? { lastError: undefined } : { lastError: `${obs.failure ?? 'error'}: ${obs.error ?? 'probe failed'}` }),
  };
  if (health.lastError === undefined) delete health.lastError;

  if (prev.status !== 'down' && health.consecutiveFailures >= t.failureThreshold) {
    health.status = 'down';
    return { health, event: { destination: id, kind: 'down', reason: `${health.consecutiveFailures} consecutive failed probes (threshold ${t.failureThreshold}); last ${health.lastError}` } };
  }
  // A full window before judging by score: a couple of early failures is not yet an error rate.
  if (prev.status === 'up' && obs.up && health.window.length >= t.windowSize && health.score < t.healthThreshold) {
    health.status = 'degraded';
    return { health, event: { destination: id, kind: 'degraded', reason: `health score ${health.score} < ${t.healthThreshold} (latency ${health.lastLatencyMs}ms, bound ${t.maxLatencyMs}ms)` } };
  }
  if (prev.status !== 'up' && health.consecutiveSuccesses >= t.recoveryThreshold && health.score >= t.healthThreshold && prev.alerts.length === 0) {
    health.status = 'up';
    return { health, event: { destination: id, kind: 'recovered', reason: `${health.consecutiveSuccesses} consecutive good probes, score ${health.score}` } };
  }
  return { health };
}

/** Monitoring evidence: a firing alert marks a destination down at once; a resolved one lifts that hold. */
export function applyAlert(
  id: string,
  prev: DestinationHealth,
  alert: { fingerprint: string; status: 'firing' | 'resolved'; summary: string },
): { health: DestinationHealth; event?: HealthEvent } {
  if (alert.status === 'firing') {
    const alerts = prev.alerts.includes(alert.fingerprint) ? prev.alerts : [...prev.alerts, alert.fingerprint];
    const health: DestinationHealth = { ...prev, alerts, consecutiveSuccesses: 0 };
    if (prev.status === 'down') return { health };
    health.status = 'down';
    return { health, event: { destination: id, kind: 'down', reason: `alert firing: ${alert.summary}` } };
  }
  // Resolution is evidence of recovery, but probes must still confirm it (recovery_threshold).
  return { health: { ...prev, alerts: prev.alerts.filter((f) => f !== alert.fingerprint) } };
}
