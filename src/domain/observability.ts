/**
 * The judgements behind the manager's metrics, kept pure so tests pin them: what a runbook's
 * outcome label is, which automatic runbook a brake held and why, which detection decisions were
 * later judged false, and how long a service had no healthy destination carrying its traffic.
 */
import type { DestinationHealth, HealthEvent } from './health';

/** Runbook types that move traffic: counted as runbooks (started, finished, duration). */
export const MUTATING_RUNBOOKS = ['failover', 'recovery', 'rollback', 'rebalance', 'maintenance'] as const;

/** A label value from input a person may have typed: bounded, or "invalid". */
export function labelValue(value: unknown, fallback: string): string {
  if (value === undefined || value === null) return fallback;
  return typeof value === 'string' && /^[A-Za-z0-9._:/-]{1,100}$/.test(value) ? value : 'invalid';
}

/**
 * The `kind` label of a runbook: its workflow type, except that a planned failover is a
 * `switchover` (so failover frequency counts only unplanned ones).
 */
export function runbookKind(type: string, input: unknown): string {
  const planned = typeof input === 'object' && input !== null && (input as { planned?: unknown }).planned === true;
  return type === 'failover' && planned ? 'switchover' : type;
}

/** The `outcome` label of a finished runbook: its result's outcome, or what its failure says. */
export function runbookOutcome(ended: { ok: true; result: unknown } | { ok: false; type?: string | undefined; cancelled?: boolean }): string {
  if (ended.ok) {
    const outcome = typeof ended.result === 'object' && ended.result !== null ? (ended.result as { outcome?: unknown }).outcome : undefined;
    return typeof outcome === 'string' ? labelValue(outcome, 'completed') : 'completed';
  }
  if (ended.cancelled) return 'cancelled';
  if (ended.type === 'RolledBack') return 'rolled-back';
  if (ended.type === 'Aborted') return 'aborted';
  return 'failed';
}

export type HoldReason = 'suspension' | 'cap' | 'cooldown';

/**
 * Why an automatic runbook was held back, if it was: by a suspension or the fleet cap (the
 * brakes' answer, recorded as `held` on the decision), or by the anti-flap cooldown (a decision
 * that waits for the cooldown to end).
 */
export function holdReason(decision: { action: string; reason: string; retryAtMs?: number }, held: string | undefined): HoldReason | undefined {
  if (held !== undefined) return /\bsuspended\b/.test(held) ? 'suspension' : 'cap';
  const cooldown = /\bcooldown\b/.test(decision.reason);
  if (decision.action === 'none' && cooldown) return 'cooldown';
  // A resync that goes ahead while the failback waits for the cooldown.
  if (decision.action === 'recovery' && cooldown && decision.retryAtMs !== undefined) return 'cooldown';
  return undefined;
}

export interface DecisionLike {
  at: string;
  event: { destination: string; kind: string };
  decision: { action: string };
}

export type FalseDecisionReason = 'recovered' | 'rolled-back-healthy-source';

/**
 * How soon after a `down` decision a destination must be `recovered` for that decision to be
 * judged false: as long as it takes to call a destination down and up again, plus one probe
 * timeout. A real outage lasts until someone repairs something; a flap is over within this.
 */
export function falseDownWindowMs(p: { failureThreshold: number; recoveryThreshold: number; intervalMs: number; probeTimeoutMs: number }): number {
  return (p.failureThreshold + p.recoveryThreshold) * p.intervalMs + p.probeTimeoutMs;
}

/**
 * A `recovered` event judges the latest decision about the same destination: when that was a
 * `down`/`degraded` decision made no longer than `windowMs` ago, the destination healed by
 * itself and the decision was false. Returns the judged decision, or undefined.
 */
export function judgeFalseDown(event: HealthEvent, decisions: readonly DecisionLike[], nowMs: number, windowMs: number): DecisionLike | undefined {
  if (event.kind !== 'recovered') return undefined;
  const last = [...decisions].reverse().find((d) => d.event.destination === event.destination);
  if (!last || (last.event.kind !== 'down' && last.event.kind !== 'degraded')) return undefined;
  const at = Date.parse(last.at);
  return Number.isFinite(at) && nowMs - at <= windowMs ? last : undefined;
}

/**
 * A failover detection started that ended rolled back while its source was up: the source was
 * healthy enough to carry the traffic again, so the decision to leave it was false.
 */
export function rolledBackToHealthySource(ended: { kind: string; ok: boolean; type?: string | undefined }, source: DestinationHealth | undefined): boolean {
  return ended.kind === 'failover' && !ended.ok && ended.type === 'RolledBack' && source?.status === 'up';
}

/** The failing destinations' failure starts, as a failover's `firstFailedAt` input (absent when none fails). */
export function failingSince(health: Readonly<Record<string, DestinationHealth>>): { firstFailedAt?: Record<string, number> } {
  const since = Object.entries(health).flatMap(([id, h]) => (h.firstFailedAtMs !== undefined ? [[id, h.firstFailedAtMs] as const] : []));
  return since.length > 0 ? { firstFailedAt: Object.fromEntries(since) } : {};
}

/**
 * A service is available while at least one destination carrying its traffic is up. An outage
 * starts at the first failed probe of the carrying destinations (when known, else when it is
 * seen) and its seconds are reported as they are seen, so a counter of them stays current
 * during a long outage and exact once it ends.
 */
export class AvailabilityTracker {
  private downSinceMs: number | undefined;
  private countedUntilMs = 0;

  /** Folds the current view in; returns whether the service is available and the unavailable seconds not reported yet. */
  update(
    nowMs: number,
    carrying: readonly string[],
    health: Readonly<Record<string, DestinationHealth>>,
  ): { available: boolean; unavailableSeconds: number; outageEnded: boolean } {
    const available = carrying.some((id) => health[id]?.status === 'up');
    if (!available && this.downSinceMs === undefined) {
      const starts = carrying.flatMap((id) => (health[id]?.firstFailedAtMs !== undefined ? [health[id]!.firstFailedAtMs!] : []));
      this.downSinceMs = Math.min(nowMs, ...starts);
      this.countedUntilMs = this.downSinceMs;
    }
    let unavailableSeconds = 0;
    if (this.downSinceMs !== undefined) {
      unavailableSeconds = Math.max(0, nowMs - this.countedUntilMs) / 1000;
      this.countedUntilMs = Math.max(this.countedUntilMs, nowMs);
    }
    const outageEnded = available && this.downSinceMs !== undefined;
    if (available) this.downSinceMs = undefined;
    return { available, unavailableSeconds, outageEnded };
  }
}
