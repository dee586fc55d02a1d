/**
 * The worker's Prometheus endpoint: the Temporal SDK runtime's exporter serves the SDK's worker
 * metrics (`temporal_*`) and what workflows emit through the workflow metric meter (`failover_*`,
 * see src/workflows/observability.ts) on one /metrics.
 */
import type { RuntimeOptions } from '@temporalio/worker';

const SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600];
/** Replication units (bytes for Redis, messages or sequence numbers elsewhere). */
const UNITS = [0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

export const HISTOGRAM_BUCKETS: Record<string, number[]> = {
  failover_runbook_duration_seconds: SECONDS,
  failover_rto_seconds: SECONDS,
  failover_outage_seconds: SECONDS,
  failover_recovery_seconds: SECONDS,
  failover_runbook_step_seconds: SECONDS,
  failover_detection_seconds: SECONDS,
  failover_rpo_units: UNITS,
  failover_consistency_lag_units: UNITS,
};

/** Runtime telemetry options for a Prometheus exporter on `address` (host:port). */
export function prometheusTelemetry(address: string): NonNullable<NonNullable<RuntimeOptions['telemetryOptions']>['metrics']> {
  return {
    // `service` is a label of the manager's own metrics (the failover service); the SDK's service_name would only confuse it.
    attachServiceName: false,
    prometheus: { bindAddress: address, countersTotalSuffix: true, useSecondsForDurations: true, histogramBucketOverrides: HISTOGRAM_BUCKETS },
  };
}
