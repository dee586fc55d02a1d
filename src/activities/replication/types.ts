export interface LagReading {
  /** Driver units (bytes of replication stream for Redis). */
  lag: number;
  sourceOffset: number;
  targetOffset: number;
  /** The target replicates from the source and its link is up. */
  linked: boolean;
  detail?: string;
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
}
