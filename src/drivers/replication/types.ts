export interface LagReading {
  /** Driver units (bytes of replication stream for Redis). */
  lag: number;
  sourceOffset: number;
  targetOffset: number;
  /** The target replicates from the source and its link is up. */
  linked: boolean;
  detail?: string;
}

/** What a destination holds that the primary does not, measured before a resync discards it. */
export interface Divergence {
  /** The destination's replication offset and number of keys/messages. */
  offset: number;
  items: number;
  primaryOffset: number;
  /** Replication units the destination holds beyond the primary's history; null = unrelated histories, all of it may be unique. */
  tail: number | null;
  detail: string;
}

/** Lag, fence, promote, resync for one replication technology. All calls are idempotent. */
export interface Replicator {
  lag(source: string, target: string): Promise<LagReading>;
  /** Stop the destination accepting writes for at most `holdMs` (so a lost runbook cannot wedge it forever). */
  fence(dest: string, holdMs: number): Promise<{ fenced: boolean; detail: string }>;
  unfence(dest: string): Promise<void>;
  promote(dest: string): Promise<{ detail: string }>;
  /** Make `dest` follow `primary` (resync), then let its clients go (they now get read-only errors). */
  follow(dest: string, primary: string): Promise<{ detail: string }>;
  /**
   * `dest` was promoted out of `source`'s history (drivers that can tell): how far behind the
   * source it was at that moment; null when they are not related that way (not promoted from it,
   * or the source already follows it).
   */
  promotedFrom?(dest: string, source: string): Promise<{ lag: number; detail: string } | null>;
  /** What `dest` holds that `primary` lacks (drivers that can tell). */
  divergence?(dest: string, primary: string): Promise<Divergence>;
  /** Saves everything `dest` holds to `file` on this host (drivers that can). */
  snapshot?(dest: string, file: string, progress: (bytes: number) => void): Promise<{ bytes: number }>;
}
