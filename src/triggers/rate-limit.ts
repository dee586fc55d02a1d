/**
 * A token bucket per sending address: `perSecond` requests on average, `burst` at once. The table of
 * addresses is bounded; when full, the address seen longest ago is forgotten (it starts with a full bucket again).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly maxSources = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one token for `source`; when none is left, how many seconds until one is. */
  take(source: string): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = this.now();
    const b = this.buckets.get(source) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    // Re-inserted: the map's order is the order of last use.
    this.buckets.delete(source);
    this.buckets.set(source, b);
    if (this.buckets.size > this.maxSources) this.buckets.delete(this.buckets.keys().next().value!);
    if (b.tokens < 1) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond)) };
    b.tokens -= 1;
    return { ok: true };
  }
}
