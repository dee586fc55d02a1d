import { z } from 'zod';

const name = z.string().min(1, 'expected a non-empty name');

/** What a person types into the Web UI's Start Workflow form, or the CLI sends. */
export const failoverInputSchema = z.strictObject({
  service: name,
  /** Destination to move traffic to; chosen by tier and proximity when left out. */
  to: name.optional(),
  /** Planned switchover: the source is healthy and nothing acknowledged may be lost. */
  planned: z.boolean().default(false),
  reason: z.string().max(500).optional(),
  /** Who or what asked (operator name, alert fingerprint, schedule id). */
  actor: z.string().max(200).optional(),
  /** What started it, for filtering in the Web UI. */
  trigger: z.enum(['manual', 'alert', 'detection', 'schedule']).default('manual'),
});
export type FailoverInput = z.input<typeof failoverInputSchema>;
export type FailoverRequest = z.output<typeof failoverInputSchema>;
