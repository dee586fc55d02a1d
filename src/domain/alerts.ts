import { z } from 'zod';

/** Evidence from monitoring, delivered to a service's detection workflow as the `alert` signal. */
export const alertEvidenceSchema = z.lazy(() =>
  z.strictObject({
    /** Stable id of the alert (Alertmanager fingerprint); repeated deliveries are deduplicated by it. */
    fingerprint: z.string().min(1).max(200),
    status: z.enum(['firing', 'resolved']),
    /** Destination the alert is about; absent = the service as a whole (its current primary). */
    destination: z.string().min(1).optional(),
    summary: z.string().max(1000).default(''),
    source: z.string().max(200).default('monitoring'),
    startsAt: z.string().optional(),
    /**
     * What the alert says of its destination while it fires (the receiver's route decides): `down`
     * and `degraded` hold it there until resolved; `recovered` lifts every hold on it.
     */
    means: z.enum(['down', 'degraded', 'recovered']).default('down'),
  }),
);
export type AlertEvidence = z.input<typeof alertEvidenceSchema>;
export type Alert = z.output<typeof alertEvidenceSchema>;
