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

const UNIT_MESSAGE = 'expected a duration with a unit, such as "500ms", "30s" or "5m"';

/** A duration with its unit written out ("30" alone would be read as milliseconds). */
function hasUnit(s: string): boolean {
  return /[a-z]\s*$/i.test(s.trim());
}

/** A duration string as Temporal accepts it; kept as the string so it reads the same in history and config. */
export const durationSchema = z.string().refine((s) => durationToMs(s) !== undefined && hasUnit(s), { message: UNIT_MESSAGE });

/**
 * A duration within bounds that make sense for its key: no 0 where 0 would switch a safety off,
 * no "100000y" where a day is already absurd.
 */
export function boundedDuration(min: string, max: string) {
  const lo = durationToMs(min)!;
  const hi = durationToMs(max)!;
  return z.string().superRefine((s, ctx) => {
    const ms = durationToMs(s);
    if (ms === undefined || !hasUnit(s)) return void ctx.addIssue({ code: 'custom', message: UNIT_MESSAGE });
    if (ms < lo) ctx.addIssue({ code: 'custom', message: `expected at least ${min}` });
    if (ms > hi) ctx.addIssue({ code: 'custom', message: `expected at most ${max}` });
  });
}

export function requireMs(value: string): number {
  const ms = durationToMs(value);
  if (ms === undefined) throw new Error(`not a duration: ${JSON.stringify(value)}`);
  return ms;
}
