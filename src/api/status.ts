import type { ObserverReport, Votes } from '../domain/quorum';
import type { Decision } from '../domain/detection-policy';
import type { InflightRunbook, RetryState } from '../domain/detection-state';
import type { DestinationHealth, HealthEvent } from '../domain/health';
import type { RankingState } from '../domain/ranking';
import type { Routing } from '../domain/routing';
import type { SyncVerdict } from '../domain/sync';
import type { Suspension } from '../domain/brakes';
import type { ControlState } from '../workflows/controls';
import type { StartIdentity } from '../domain/start-auth';

/**
 * What runbooks and detection report through their queries (`status`, `health`): the types clients
 * read, kept here so that a client need not import workflow modules.
 */

export type StepOutcome = 'running' | 'ok' | 'failed' | 'skipped' | 'compensated';

export interface StepRecord {
  name: string;
  outcome: StepOutcome;
  startedAt: string;
  endedAt?: string;
  detail?: string;
  numbers?: Record<string, number | string | boolean | null>;
}

export type Phase = 'planning' | 'awaiting-approval' | 'switching' | 'ramping' | 'validating' | 'rolling-back' | 'done' | 'failed' | 'rolled-back' | 'holding';

export interface RunbookStatus {
  runbook: string;
  service: string;
  phase: Phase;
  step?: string;
  source?: string;
  target?: string;
  planned?: boolean;
  emergency?: boolean;
  routingBefore?: Routing;
  routingCurrent?: Routing;
  controls: ControlState;
  /** Who started it, proven by a signed start or only claimed (runs since signed starts). */
  starter?: StartIdentity;
  startedAt: string;
  switchedAt?: string;
  rtoMs?: number;
  /** performance.max_failover_time of a failover: set once the target carries traffic or the objective passed without it. */
  objective?: FailoverTimeObjective;
  steps: StepRecord[];
}

/** How a failover stands against performance.max_failover_time (its RTO objective). */
export interface FailoverTimeObjective {
  maxFailoverTime: string;
  /** The target did not carry traffic within max_failover_time of the runbook's start: an alert event was raised. */
  exceeded: boolean;
  /** A routing write has given the target traffic (the run's RTO says when). */
  trafficMoved?: boolean;
}

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
  /** With several observers: what each saw of the destination when this was decided. */
  votes?: Votes;
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
  /** Second writable primaries whose writes detection paused; dropped once one no longer answers as a writer. */
  fenced?: string[];
  /** Each observer's own view (its probes' fold), when several vantage points vote; `health` is their quorum. */
  observers?: Record<string, ObserverReport>;
  /** The routing the manager decided: the router must have it (see observeRouting). */
  routing?: Routing;
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

/** How a runbook ended, as detection learns it (from the runbook's `runbookEnded` signal, its child handle, or a look). */
export type RunbookOutcome = { ok: true; result: Record<string, unknown> } | { ok: false; type?: string; message: string; details?: Record<string, unknown> };

/** A runbook detection started, ended: which run, and how. */
export interface RunbookEnded {
  workflowId: string;
  runId: string;
  outcome: RunbookOutcome;
}
