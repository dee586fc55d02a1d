import type { MemberShare } from '../domain/distribution';
import type { Routing } from '../domain/routing';
import type { DrainMode } from '../domain/runbook-plan';
import type { ReplicationObservation } from '../domain/sync';
import type { ControlState } from '../workflows/controls';
import type { RunbookStatus, StepRecord } from './status';

/** What each runbook returns (and, rolled back, carries as its failure's details): the types clients read. */

export interface FailoverResult {
  service: string;
  source: string;
  target: string;
  planned: boolean;
  emergency: boolean;
  outcome: 'switched' | 'rolled-back';
  routingBefore: Routing;
  routingAfter: Routing;
  /** Trigger (runbook start) to traffic moved, in ms. */
  rtoMs: number;
  /** What the switch may have lost, in the replication driver's units; null when it could not be measured. */
  rpo: {
    lag: number | null;
    note: string;
    /** The observations the estimate and the target choice rest on. */
    source?: { offset: number; atMs: number };
    target?: ReplicationObservation;
    /** A target known not to hold all of the source's data was promoted: who accepted it. */
    acceptedLoss?: { by: string; estimate: number | null };
  };
  approval?: RunbookStatus['controls']['approval'];
  /** performance.max_failover_time, and whether this run exceeded it (see runbook-frame). */
  objective?: RunbookStatus['objective'];
  steps: StepRecord[];
}

export interface RecoveryResult {
  service: string;
  destination: string;
  outcome: 'standby-restored' | 'failed-back' | 'rolled-back';
  routingBefore: Routing;
  routingAfter: Routing;
  steps: StepRecord[];
}

export interface RollbackResult {
  service: string;
  restored: Record<string, number>;
  routingBefore: Routing;
  routingAfter: Routing;
  steps: StepRecord[];
}

export interface ReassertResult {
  service: string;
  outcome: 'reasserted' | 'already-right';
  routingBefore: Routing;
  routingAfter: Routing;
  steps: StepRecord[];
}

export interface RebalanceResult {
  service: string;
  verdict: string;
  routingBefore: Routing;
  routingAfter: Routing;
  /** Expected load per destination (capacity units) and its utilization after the change. */
  members: Pick<MemberShare, 'id' | 'state' | 'weight' | 'capacity' | 'load' | 'utilization'>[];
  reasons: string[];
  steps: StepRecord[];
}

export interface MaintenanceResult {
  service: string;
  destination: string;
  window: string;
  outcome: 'restored';
  drain: { mode: DrainMode; movedTo?: string; rpo?: { lag: number | null; note: string } };
  hold: { startedAt: string; endedAt: string; heldMs: number; endedEarly?: { by: string; reason: string } };
  /** `failed-back`: it carries its traffic again; `standby-restored`: it is a healthy standby, as before. */
  restore: 'failed-back' | 'standby-restored';
  redundancy: { allowed: boolean; reasons: string[] };
  approval?: ControlState['approval'];
  routingBefore: Routing;
  routingDrained: Routing;
  routingAfter: Routing;
  steps: StepRecord[];
}

/** A maintenance start that found another runbook holding the service: nothing was touched. */
export interface MaintenanceSkipped {
  service: string;
  destination: string;
  window: string;
  outcome: 'skipped';
  reason: string;
  heldBy: string;
}
