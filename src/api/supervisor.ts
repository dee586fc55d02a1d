import * as wf from '@temporalio/workflow';
import { z } from 'zod';
import type { Admission, AutomaticKind, BrakeState, Suspension } from '../domain/brakes';
import type { ConfigChange } from '../domain/config-diff';

/**
 * The supervisor's contract: one long-running workflow per task queue that holds the live,
 * versioned config and the brakes, and keeps detection (and redundancy) running for every
 * configured service. Workers, the CLI and detection talk to it only through these definitions.
 */

export function supervisorWorkflowId(taskQueue: string): string {
  return `supervisor-${taskQueue}`;
}

/** One recorded version of the config. */
export interface ConfigVersion {
  version: number;
  hash: string;
  at: string;
  by: string;
  reason: string;
  /** Where it came from: a file path, `rollback to N`. */
  source?: string;
  /** Readable diff against the version before (one line per change, bounded). */
  diff: string[];
  changes: number;
  /** The document itself, kept for the newest versions (what `config show` and `rollback` need). */
  kept: boolean;
}

export interface ConfigChangeRequest {
  /** The config document (parsed YAML), validated before anything changes. */
  config: unknown;
  by: string;
  reason: string;
  source?: string;
  /** Only compute the diff against the live version. */
  dryRun?: boolean;
  /** Refuse when the live version is not this one (someone applied in between). */
  expectVersion?: number;
  /** Ed25519 signature of configChangeMessage() when config_changes.appliers is set (domain/config-auth.ts). */
  signature?: string;
}

/** Apply the config file of the worker that runs the supervisor (its file watch, SIGHUP): the document comes from that host, not the request. */
export interface ConfigFileRequest {
  by: string;
  reason: string;
  /** configHash of the file as the asking worker read it: a worker whose file differs refuses. */
  hash: string;
}

export interface ConfigChangeResult {
  version: number;
  changed: boolean;
  dryRun: boolean;
  diff: string[];
  changes: ConfigChange[];
}

export interface RollbackRequest {
  version: number;
  by: string;
  reason: string;
  dryRun?: boolean;
  /** The live version it is based on: signed rollbacks need it (config_changes.appliers). */
  expectVersion?: number;
  signature?: string;
}

export interface BrakeRequest {
  /** One service; left out: every service. */
  service?: string;
  by: string;
  reason: string;
}

export interface AdmitRequest {
  service: string;
  kind: AutomaticKind;
  /** What the runbook would do, for the record. */
  reason?: string;
}

export type { Admission, AutomaticKind, BrakeState, Suspension };

/** How the supervisor last found a service's long-running runbooks. */
export interface ServiceSupervision {
  detection: 'running' | 'started' | 'error';
  redundancy?: 'running' | 'started' | 'error' | 'off';
  error?: string;
  /** The config version its running detection started with, when known. */
  since?: string;
}

/** Running as the config asks: a compact reconcile report leaves it out (the supervisor assumes it). */
export function isSimplyRunning(entry: ServiceSupervision): boolean {
  return entry.detection === 'running' && (entry.redundancy === 'running' || entry.redundancy === 'off') && entry.error === undefined;
}

export interface SupervisorEvent {
  at: string;
  kind: 'config-applied' | 'config-rolled-back' | 'suspended' | 'resumed' | 'held' | 'reconciled';
  detail: string;
  by?: string;
}

export interface SupervisionStatus {
  taskQueue: string;
  version: number;
  hash: string;
  services: Record<string, ServiceSupervision>;
  removed: string[];
  brakes: BrakeState;
  /** The lists name at most the first few; `totals` counts them all. */
  lastReconcile?: { at: string; started: string[]; stopped: string[]; errors: string[]; totals?: { started: number; stopped: number; errors: number } };
  events: SupervisorEvent[];
}

export interface LiveConfig {
  version: number;
  hash: string;
  config: unknown;
}

export const applyConfigUpdate = wf.defineUpdate<ConfigChangeResult, [ConfigChangeRequest]>('applyConfig');
export const rollbackConfigUpdate = wf.defineUpdate<ConfigChangeResult, [RollbackRequest]>('rollbackConfig');
export const applyConfigFileUpdate = wf.defineUpdate<ConfigChangeResult, [ConfigFileRequest]>('applyConfigFile');
export const suspendUpdate = wf.defineUpdate<BrakeState, [BrakeRequest]>('suspend');
export const resumeUpdate = wf.defineUpdate<BrakeState, [BrakeRequest]>('resume');
export const admitUpdate = wf.defineUpdate<Admission, [AdmitRequest]>('admit');
/** The live config document and its version. */
export const liveConfigQuery = wf.defineQuery<LiveConfig>('liveConfig');
/** Only the version: cheap enough for every worker to poll. */
export const configVersionQuery = wf.defineQuery<{ version: number; hash: string }>('configVersion');
export const configHistoryQuery = wf.defineQuery<ConfigVersion[]>('configHistory');
/** A kept version's document. */
export const configAtQuery = wf.defineQuery<LiveConfig | null, [number]>('configAt');
export const supervisionQuery = wf.defineQuery<SupervisionStatus>('supervision');
/** Everything the supervisor holds, for a restart that carries it over. */
export const supervisorStateQuery = wf.defineQuery<unknown>('state');
/** Reconcile now instead of at the next interval. */
export const reconcileSignal = wf.defineSignal('reconcile');

/** Detection's side: the config it runs with moved on, or the brakes on its service changed. */
export const configChangedSignal = wf.defineSignal<[{ version: number }]>('configChanged');
export const brakesSignal = wf.defineSignal<[{ suspended: Suspension | null }]>('brakes');

export const changeRequestSchema = z.lazy(() =>
  z.object({
    config: z.unknown(),
    by: z.string().min(1).max(200),
    reason: z.string().min(1).max(500),
    source: z.string().max(1000).optional(),
  }),
);

const storedVersionSchema = z.lazy(() =>
  z.looseObject({
    version: z.number().int().min(1),
    hash: z.string(),
    at: z.string(),
    by: z.string(),
    reason: z.string(),
    diff: z.array(z.string()),
    changes: z.number().int().min(0),
    kept: z.boolean(),
  }),
);

const supervisorStateSchema = z.lazy(() =>
  z.looseObject({
    versions: z.array(storedVersionSchema).min(1),
    brakes: z.looseObject({
      services: z.record(z.string(), z.looseObject({ by: z.string(), reason: z.string(), at: z.string() })),
      grants: z.array(z.looseObject({})),
      holds: z.array(z.looseObject({})),
    }),
    services: z.record(z.string(), z.looseObject({})),
    events: z.array(z.looseObject({})),
  }),
);

export const supervisorInputSchema = z.lazy(() =>
  z
    .strictObject({
      /** The first config, from the worker that started the supervisor (used only when nothing is carried). */
      seed: changeRequestSchema.optional(),
      carried: supervisorStateSchema.optional(),
    })
    .refine((i) => i.seed !== undefined || i.carried !== undefined, {
      message: 'expected "seed" (a first config) or "carried" (the state of an earlier run)',
      path: ['seed'],
    }),
);
export type SupervisorInput = z.input<typeof supervisorInputSchema>;
