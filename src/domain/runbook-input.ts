import { z } from 'zod';
import { detectionStateSchema } from './detection-state';
import { boundedDuration } from './duration';

const name = z.string().min(1, 'expected a non-empty name');
const startSignatureSchema = z.lazy(() => z.strictObject({ at: z.string().max(40), signature: z.string().min(1).max(200) }));

/** What a person types into the Web UI's Start Workflow form, or the CLI sends. */
export const failoverInputSchema = z.lazy(() =>
  z
    .strictObject({
      service: name,
      /** Destination to move traffic to; chosen by tier and proximity when left out. */
      to: name.optional(),
      /** Planned switchover: the source is healthy and nothing acknowledged may be lost. */
      planned: z.boolean().default(false),
      reason: z.string().max(500).optional(),
      /** Who or what asked (operator name, alert fingerprint, schedule id). */
      actor: z.string().max(200).optional(),
      /** The starter's signature over the start (start-auth.ts): proves `actor` when they have a key in approval.keys. */
      startSignature: startSignatureSchema.optional(),
      /** What started it, for filtering in the Web UI. */
      trigger: z.enum(['manual', 'alert', 'detection', 'schedule']).default('manual'),
      /** Preferred target order (adaptive ranking, passed by detection); proximity order otherwise. */
      prefer: z.array(name).max(100).optional(),
      /** Replication offsets detection last saw per destination: the RPO estimate when the source is down. */
      lastSeenOffsets: z.record(z.string(), z.number().int().min(0)).optional(),
      /** When detection last saw each destination answer (ms since epoch): the age of lastSeenOffsets. */
      lastSeenAt: z.record(z.string(), z.number().int().min(0)).optional(),
      /** When detection saw each failing destination's failure begin (ms since epoch): outage metrics start there. */
      firstFailedAt: z.record(z.string(), z.number().int().min(0)).optional(),
      /** Promote a target known not to hold all of the source's data; the estimated loss is recorded. */
      acceptDataLoss: z.boolean().optional(),
    })
    .refine((r) => !(r.planned && r.acceptDataLoss), {
      message: 'a planned switchover loses nothing: drop "acceptDataLoss" or "planned"',
      path: ['acceptDataLoss'],
    }),
);
export type FailoverInput = z.input<typeof failoverInputSchema>;
export type FailoverRequest = z.output<typeof failoverInputSchema>;

export const detectionInputSchema = z.lazy(() =>
  z.strictObject({
    service: name,
    /** State carried over continue-as-new; never typed by a person. */
    carried: detectionStateSchema.optional(),
    /** Load at least this live config version (the supervisor's, after a change). */
    configVersion: z.number().int().min(1).optional(),
    /** The brakes on this service when it starts (the supervisor's). */
    suspended: z.strictObject({ by: z.string(), reason: z.string(), at: z.string() }).nullable().optional(),
  }),
);
export type DetectionInput = z.input<typeof detectionInputSchema>;

export const redundancyInputSchema = z.lazy(() =>
  z.strictObject({
    service: name,
    /** Verdict changes carried over continue-as-new. */
    carried: z
      .object({
        events: z.array(z.looseObject({ at: z.string(), to: z.string(), reasons: z.array(z.string()) })).max(100),
      })
      .optional(),
  }),
);

export const consistencyInputSchema = z.lazy(() =>
  z.strictObject({
    service: name,
    source: name,
    target: name,
    maxLag: z.number().int().min(0).optional(),
    timeout: boundedDuration('100ms', '1h').optional(),
  }),
);
export type ConsistencyInput = z.input<typeof consistencyInputSchema>;

export const rollbackInputSchema = z.lazy(() =>
  z
    .strictObject({
      service: name,
      /** Run id of a finished failover/recovery of this service whose starting routing is to be restored. */
      run: name.optional(),
      /** Or the weights to restore, given directly. Neither: the latest finished failover/recovery. */
      weights: z.record(z.string(), z.number().int().min(0).max(256)).optional(),
      /** Restore at once instead of in reverse steps. */
      immediate: z.boolean().default(false),
      reason: z.string().max(500).optional(),
      actor: z.string().max(200).optional(),
      /** The starter's signature over the start (start-auth.ts): proves `actor` when they have a key in approval.keys. */
      startSignature: startSignatureSchema.optional(),
      trigger: z.enum(['manual', 'alert', 'detection', 'schedule']).default('manual'),
    })
    .refine((r) => r.run === undefined || r.weights === undefined, { message: 'expected at most one of "run" or "weights"' }),
);
export type RollbackInput = z.input<typeof rollbackInputSchema>;
export type RollbackRequest = z.output<typeof rollbackInputSchema>;

export const recoveryInputSchema = z.lazy(() =>
  z.strictObject({
    service: name,
    /** The destination that came back. */
    destination: name,
    /** Move traffic back to it once resynced (default), or only restore it as a standby. */
    failback: z.boolean().default(true),
    reason: z.string().max(500).optional(),
    actor: z.string().max(200).optional(),
    /** The starter's signature over the start (start-auth.ts): proves `actor` when they have a key in approval.keys. */
    startSignature: startSignatureSchema.optional(),
    trigger: z.enum(['manual', 'alert', 'detection', 'schedule']).default('manual'),
  }),
);
export type RecoveryInput = z.input<typeof recoveryInputSchema>;
export type RecoveryRequest = z.output<typeof recoveryInputSchema>;

const scopeSchema = z.lazy(() =>
  z.union([z.strictObject({ zone: name }), z.strictObject({ region: name }), z.strictObject({ destinations: z.array(name).min(1) })], {
    error: 'expected {"zone": …}, {"region": …} or {"destinations": […]}',
  }),
);

export const rebalanceInputSchema = z.lazy(() =>
  z.strictObject({
    service: name,
    /** Take a whole zone, region or list of destinations out of service in one plan. */
    drain: scopeSchema.optional(),
    reason: z.string().max(500).optional(),
    actor: z.string().max(200).optional(),
    /** The starter's signature over the start (start-auth.ts): proves `actor` when they have a key in approval.keys. */
    startSignature: startSignatureSchema.optional(),
    trigger: z.enum(['manual', 'alert', 'detection', 'schedule']).default('manual'),
  }),
);
export type RebalanceInput = z.input<typeof rebalanceInputSchema>;
export type RebalanceRequest = z.output<typeof rebalanceInputSchema>;

/** A duration above zero ("30s", "2h"): how long a maintenance keeps its destination drained. */
export const maintenanceWindowSchema = z.lazy(() => boundedDuration('1s', '30d'));

export const maintenanceInputSchema = z.lazy(() =>
  z.strictObject({
    service: name,
    /** The destination to take out of service. */
    destination: name,
    /** How long it stays drained before it is brought back; an `abort` during the window ends it early. */
    window: maintenanceWindowSchema,
    reason: z.string().max(500).optional(),
    actor: z.string().max(200).optional(),
    /** The starter's signature over the start (start-auth.ts): proves `actor` when they have a key in approval.keys. */
    startSignature: startSignatureSchema.optional(),
    trigger: z.enum(['manual', 'alert', 'detection', 'schedule']).default('manual'),
  }),
);
export type MaintenanceInput = z.input<typeof maintenanceInputSchema>;
export type MaintenanceRequest = z.output<typeof maintenanceInputSchema>;

export const reassertInputSchema = z.lazy(() =>
  z.strictObject({
    service: name,
    /** The routing the manager decided, to write back. */
    weights: z.record(z.string(), z.number().int().min(0).max(256)),
    /** Its generation when decided (for the record; the write is compare-and-set on the router's current one). */
    generation: z.number().int().min(0),
    reason: z.string().max(500).optional(),
    actor: z.string().max(200).optional(),
    /** The starter's signature over the start (start-auth.ts): proves `actor` when they have a key in approval.keys. */
    startSignature: startSignatureSchema.optional(),
    trigger: z.enum(['manual', 'alert', 'detection', 'schedule']).default('detection'),
  }),
);
export type ReassertInput = z.input<typeof reassertInputSchema>;
export type ReassertRequest = z.output<typeof reassertInputSchema>;
