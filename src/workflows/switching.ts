import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ServiceArg } from '../api/service-ref';
import type { Policy, ServiceConfig } from '../domain/config';
import { requireMs } from '../domain/duration';
import type { Routing } from '../domain/routing';
import { isSingleWriter as singleWriterService } from '../domain/runbook-plan';
import type { RunbookControls } from './controls';
import type { StepLog } from './runbook-steps';

/**
 * The runbook context: what every step needs, the activities it calls with their timeouts, and the
 * features decided at the start of the run. The steps themselves: routing-steps.ts (read, write,
 * validate), single-writer-switch.ts, ramp.ts, move-traffic.ts.
 */

/** Everything a runbook's steps need; built once per runbook after its config snapshot is loaded. */
export interface RunbookContext {
  service: ServiceConfig;
  /** What step activities are given for the service: a reference to the snapshot's config version when it has one (service-ref.ts). */
  serviceArg: ServiceArg;
  policy: Policy;
  log: StepLog;
  controls: RunbookControls;
  act: ReturnType<typeof stepActivities>;
  waiting: ReturnType<typeof waitingActivities>;
  /** Called with each routing the runbook writes, for status. */
  onRouting(r: Routing): void;
  /** Behaviour added since older runs of this code: decided once, at the start of the run (see runbookFeatures). */
  features: RunbookFeatures;
}

/**
 * `wf.patched()` for every change the mutating runbooks gained, called in the run's first
 * activation. Called later (after a local activity) a patch can land in another workflow task on
 * replay than it did when recorded, which is a nondeterminism error; at the start it cannot.
 */
export function runbookFeatures() {
  return {
    /** Single-writer failover checks that its target is a copy of the source (returned-node rule). */
    targetSync: wf.patched('failover-target-sync'),
    /** A resync records (and can keep) what the node held that the primary lacks. */
    resyncDivergence: wf.patched('resync-divergence'),
    /** An approval wait raises an alert event with the commands to answer it. */
    approvalNotice: wf.patched('approval-notice'),
    /** The single-writer switch runs as one activity: nothing stops it half way, and the write pause is short. */
    atomicSwitch: wf.patched('atomic-switch'),
    /** A drain of a single-writer service's primary goes through the fenced switchover. */
    drainFenced: wf.patched('drain-fenced'),
    /** A failover that has not moved traffic within performance.max_failover_time raises an alert and is marked. */
    maxFailoverTime: wf.patched('max-failover-time'),
    /** Lag gate children are named from the run id, not wf.uuid4() (tracing draws span ids from the same numbers). */
    gateIdFromRun: wf.patched('gate-id-from-run'),
    /** A rollback to weights given by hand checks every destination it sends traffic to and waits for approval. */
    weightsApproval: wf.patched('rollback-weights-approval'),
    /** A runbook detection started signals detection how it ended (runbook-kit.ts): learning survives continue-as-new. */
    reportEnd: wf.patched('runbook-report-end'),
    /** The starter is verified (a signed start) or recorded as unverified; four-eyes uses it (start-check.ts). */
    signedStarts: wf.patched('signed-starts'),
  };
}
export type RunbookFeatures = ReturnType<typeof runbookFeatures>;

/** Step activities heartbeat every second while they run (see activities/keepalive.ts): a lost worker costs seconds. */
export const STEP_HEARTBEAT = '3s';

export function stepActivities(policy: Policy) {
  return wf.proxyActivities<Activities>({
    startToCloseTimeout: policy.failover_execution.step_timeout,
    heartbeatTimeout: STEP_HEARTBEAT,
    retry: { maximumAttempts: 5, initialInterval: '200ms', maximumInterval: '2s', nonRetryableErrorTypes: ['GenerationConflict'] },
  });
}

export function waitingActivities(policy: Policy) {
  const waitMs = Math.max(requireMs(policy.failover_execution.consistency_check.timeout), requireMs(policy.recovery_management.resync_timeout));
  return wf.proxyActivities<Activities>({
    startToCloseTimeout: waitMs + 30_000,
    heartbeatTimeout: STEP_HEARTBEAT,
    retry: { maximumAttempts: 3, initialInterval: '500ms' },
  });
}

/** Single-writer replication (Redis primary/replica …): only one destination may ever take writes. */
export function isSingleWriter(ctx: Pick<RunbookContext, 'service' | 'policy'>): boolean {
  return singleWriterService(ctx.service, ctx.policy);
}
