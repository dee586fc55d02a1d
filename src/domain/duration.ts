import { msToNumber } from '@temporalio/common/lib/time';
import { z } from 'zod';

/** Converts a Temporal-style duration ("500ms", "30s", "5m") to milliseconds, or undefined if it is not one. */
export function durationToMs(value: string): number | undefined {
  try {
    const ms = msToNumber(value as Parameters<typeof msToNumber>[0]);
    return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
  } catch {
    return undefined;
  }
}

/** A duration string as Temporal accepts it; kept as the string so it reads the same in history and config. */
export const durationSchema = z.string().refine((s) => durationToMs(s) !== undefined, {
  message: 'expected a duration such as "500ms", "30s" or "5m"',
});

export function requireMs(value: string): number {
  const ms = durationToMs(value);
  if (ms === undefined) throw new Error(`not a duration: ${JSON.stringify(value)}`);
  return ms;
}
