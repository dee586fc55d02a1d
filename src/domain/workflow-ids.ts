/**
 * Workflow ids that make Temporal enforce "one of these per service": every mutating runbook of a
 * service (failover, recovery, rollback, maintenance) uses the same id, so a second one cannot start
 * while the first runs.
 */
export const MUTATING_RUNBOOKS = ['failover', 'recovery', 'rollback', 'maintenance', 'rebalance', 'reassert'] as const;

export function runbookWorkflowId(service: string): string {
  return `runbook-${service}`;
}

export function detectionWorkflowId(service: string): string {
  return `detection-${service}`;
}

/**
 * Where watch activities run: their own task queue, so long-running probing never holds the slots
 * runbook activities need. One per observer zone when detection uses several vantage points.
 */
export function watchTaskQueue(taskQueue: string, zone?: string): string {
  return zone ? `${taskQueue}-watch-${zone}` : `${taskQueue}-watch`;
}
