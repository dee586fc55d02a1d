/**
 * The consistency rule of a replication link, shared by the activity that waits for it and the
 * runbook that decides with the reading: a replica is consistent only on a live link and within the
 * lag bound. A replica whose link is down is never consistent, whatever lag it last reported.
 */

export interface LinkReading {
  lag: number;
  sourceOffset: number;
  targetOffset: number;
  /** The target replicates from the source and its link is live. */
  linked: boolean;
  detail?: string;
}

export function isConsistent(reading: Pick<LinkReading, 'linked' | 'lag'>, maxLag: number): boolean {
  return reading.linked && reading.lag <= maxLag;
}

/** The sentence a lag gate records: the numbers that decided it. */
export function lagVerdict(reading: LinkReading, maxLag: number, waitedMs: number, source: string, target: string): string {
  if (isConsistent(reading, maxLag)) {
    return `lag ${reading.lag} ≤ ${maxLag} after ${waitedMs}ms (source offset ${reading.sourceOffset}, target ${reading.targetOffset})`;
  }
  return reading.linked
    ? `lag ${reading.lag} still > ${maxLag} after ${waitedMs}ms (source offset ${reading.sourceOffset}, target ${reading.targetOffset})`
    : `${target} is not replicating from ${source}: ${reading.detail ?? 'link down'}`;
}
