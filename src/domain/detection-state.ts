import { z } from 'zod';

/**
 * What a detection run hands to the next one across continue-as-new (or a restart by the
 * supervisor). It arrives as workflow input, so it is checked like any input: a malformed field
 * ends the run with a non-retryable failure naming it, instead of a workflow-task failure that
 * Temporal would retry forever.
 */

const ms = z.number().finite().min(0);
const count = z.number().int().min(0);

export const replicationObservationSchema = z.lazy(() =>
  z.object({
    role: z.enum(['primary', 'replica']),
    upstream: z.string().max(300).optional(),
    linkUp: z.boolean().optional(),
    linkDownForMs: ms.optional(),
    offset: z.number().finite(),
    lag: z.number().finite().min(0).optional(),
  }),
);

const syncStateSchema = z.lazy(() => z.enum(['in-sync', 'catching-up', 'diverged', 'unknown']));

export const destinationHealthSchema = z.lazy(() =>
  z.object({
    status: z.enum(['up', 'degraded', 'down']),
    consecutiveFailures: count,
    consecutiveSuccesses: count,
    window: z.array(z.number().min(0).max(1)).max(10_000),
    score: z.number().min(0).max(1),
    lastLatencyMs: z.number().finite().optional(),
    lastError: z.string().optional(),
    lastOffset: z.number().finite().optional(),
    alerts: z.array(z.string()).max(1000),
    lastUpAtMs: ms.optional(),
    replication: replicationObservationSchema.optional(),
    sync: syncStateSchema.optional(),
    syncReason: z.string().optional(),
    syncPending: z.object({ state: syncStateSchema, count }).optional(),
    writable: z.boolean().optional(),
    firstFailedAtMs: ms.optional(),
  }),
);

const healthEventSchema = z.lazy(() =>
  z.object({
    destination: z.string().min(1),
    kind: z.enum(['down', 'degraded', 'recovered', 'diverged', 'writable', 'drift']),
    reason: z.string(),
  }),
);

const rankingRecordSchema = z.lazy(() =>
  z.object({
    probes: z.object({ good: z.number().finite().min(0), total: z.number().finite().min(0), at: ms.nullable() }),
    latency: z.object({
      mean: z.number().finite().nullable(),
      variance: z.number().finite().min(0),
      samples: count,
      degradedStreak: count,
      lastDegraded: z.boolean(),
    }),
    failovers: z.object({ success: z.number().finite().min(0), rollback: z.number().finite().min(0), at: ms.nullable() }),
  }),
);

/** A failed automatic runbook for a destination, retried with backoff. */
export const retryStateSchema = z.lazy(() =>
  z.object({
    kind: z.enum(['failover', 'resync', 'failback', 'reassert']),
    attempts: count,
    lastError: z.string().max(2000).optional(),
    nextAtMs: ms,
    /** The alert event for `alert_after_attempts` failures was raised. */
    alerted: z.boolean().default(false),
  }),
);
export type RetryState = z.output<typeof retryStateSchema>;

/** A runbook detection started and has not seen the end of (yet). */
export const inflightRunbookSchema = z.lazy(() =>
  z.object({
    workflowId: z.string().min(1),
    runId: z.string().min(1),
    kind: z.enum(['failover', 'recovery', 'rebalance', 'reassert']),
    destination: z.string().min(1),
    failback: z.boolean().optional(),
    startedAtMs: ms,
  }),
);
export type InflightRunbook = z.output<typeof inflightRunbookSchema>;

/** The `runbookEnded` signal's payload: which run ended, and how (a result, or a failure's type, message and details). */
export const runbookEndedSchema = z.lazy(() =>
  z.object({
    workflowId: z.string().min(1),
    runId: z.string().min(1),
    outcome: z.discriminatedUnion('ok', [
      z.object({ ok: z.literal(true), result: z.record(z.string(), z.unknown()) }),
      z.object({ ok: z.literal(false), type: z.string().optional(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
    ]),
  }),
);

export const decisionRecordSchema = z.lazy(() =>
  z.object({
    at: z.string(),
    event: healthEventSchema,
    decision: z.looseObject({ action: z.string(), reason: z.string() }),
    runbook: z.string().optional(),
    runId: z.string().optional(),
    outcome: z.string().optional(),
    held: z.string().optional(),
    note: z.string().optional(),
    votes: z.record(z.string(), z.string()).optional(),
  }),
);

export const detectionStateSchema = z.lazy(() =>
  z.object({
    health: z.record(z.string(), destinationHealthSchema),
    lastFailoverFrom: z.record(z.string(), ms),
    failedOver: z.array(z.string()).max(1000),
    decisions: z.array(decisionRecordSchema).max(1000),
    seenAlerts: z.array(z.string()).max(10_000),
    ranking: z.object({ version: z.literal(1), destinations: z.record(z.string(), rankingRecordSchema) }).optional(),
    revisit: z
      .array(z.object({ at: ms, event: healthEventSchema }))
      .max(1000)
      .optional(),
    retries: z.record(z.string(), retryStateSchema).optional(),
    inflight: inflightRunbookSchema.optional(),
    /** Events whose runbook the brakes held (suspension), decided again when they are lifted. */
    held: z.array(healthEventSchema).max(1000).optional(),
    /** The routing the manager decided: what the router must have (see drift). */
    routing: z.object({ generation: z.number().int().min(0), weights: z.record(z.string(), z.number()) }).optional(),
    /** Second writable primaries whose writes detection paused, until they stop answering as writers. */
    fenced: z.array(z.string()).max(1000).optional(),
    /** Each observer's own view when several vote (see quorum.ts). */
    observers: z.record(z.string(), z.object({ health: z.record(z.string(), destinationHealthSchema), isolated: z.boolean() })).optional(),
  }),
);
export type CarriedDetectionState = z.output<typeof detectionStateSchema>;
