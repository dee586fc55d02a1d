/**
 * Refuses a signed request seen before. A signature covers the timestamp and the body, so the same
 * signature is the same request; it needs remembering only while its timestamp is still accepted
 * (signed time + allowed skew). A request is reserved while it is handled and forgotten again when
 * it fails, so the sender's own retry of a refused delivery goes through.
 */
export class ReplayGuard {
  /** signature → until when it is remembered (ms); insertion order is close to expiry order. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly maxSkewMs: number,
    private readonly capacity: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** 'ok' (now reserved), 'replay' (seen and not expired), or 'full' (every slot holds a live signature). */
  reserve(signature: string, signedAtMs: number): 'ok' | 'replay' | 'full' {
    const now = this.now();
    const until = this.seen.get(signature);
    if (until !== undefined && until >= now) return 'replay';
    this.expire(now);
    // Full of live entries: refusing is safe (the sender retries), forgetting one would let it replay.
    if (this.seen.size >= this.capacity) return 'full';
    this.seen.delete(signature);
    this.seen.set(signature, signedAtMs + this.maxSkewMs + 1000);
    return 'ok';
  }

  /** Forgets a reserved signature whose request was not accepted. */
  release(signature: string): void {
    this.seen.delete(signature);
  }

  get size(): number {
    return this.seen.size;
  }

  private expire(now: number): void {
    for (const [k, until] of this.seen) {
      if (until >= now) {
        // Entries are not strictly ordered (timestamps may be skewed); stop at the first live one, sweep fully when full.
        if (this.seen.size < this.capacity) return;
        continue;
      }
      this.seen.delete(k);
    }
  }
}
