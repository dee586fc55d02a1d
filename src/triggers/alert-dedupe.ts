/**
 * Drops repeated deliveries of the same alert state within a window (Alertmanager resends a whole
 * group on every change and retries on errors). The detection workflow deduplicates too; this
 * saves the signals. A delivery already under way is shared, not repeated.
 */
export class AlertDeduper {
  private readonly seen = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Runs `deliver` unless `scope` (service + fingerprint) was delivered with this `status` within
   * the window; resolves 'delivered' or 'duplicate'. A failed delivery is not remembered.
   */
  async run(scope: string, status: 'firing' | 'resolved', deliver: () => Promise<void>): Promise<'delivered' | 'duplicate'> {
    const key = `${scope}|${status}`;
    const at = this.seen.get(key);
    if (at !== undefined && this.now() - at < this.windowMs) return 'duplicate';
    const running = this.inflight.get(key);
    if (running) {
      await running;
      return 'duplicate';
    }
    const p = deliver().then(() => this.remember(scope, status));
    this.inflight.set(key, p);
    try {
      await p;
    } finally {
      this.inflight.delete(key);
    }
    return 'delivered';
  }

  get size(): number {
    return this.seen.size;
  }

  private remember(scope: string, status: 'firing' | 'resolved'): void {
    // A new state clears the other one, so an alert that fires again after resolving is not dropped.
    this.seen.delete(`${scope}|${status === 'firing' ? 'resolved' : 'firing'}`);
    const key = `${scope}|${status}`;
    this.seen.delete(key);
    this.seen.set(key, this.now());
    // Insertion order is age order: drop expired entries, then the oldest beyond the bound.
    for (const [k, t] of this.seen) {
      if (this.seen.size > this.maxEntries || this.now() - t >= this.windowMs) this.seen.delete(k);
      else break;
    }
  }
}
