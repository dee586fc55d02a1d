import type { HealthEvent } from './health';
import type { SyncVerdict } from './sync';

export type Decision =
  | { action: 'failover'; from: string; reason: string }
  /**
   * Start a recovery runbook: `failback` moves traffic back after the resync; without it the
   * destination is only resynced as a standby. `retryAtMs`: look again then (failback after the cooldown).
   */
  | { action: 'recovery'; destination: string; failback: boolean; reason: string; retryAtMs?: number }
  /** Active-active: recompute the weights (a member failed, or came back). */
  | { action: 'rebalance'; destination: string; reason: string }
  /** A second writable primary: pause its writes now (its resync demotes it). */
  | { action: 'fence'; destination: string; reason: string }
  /** The router drifted from the decided routing: write it back. */
  | { action: 'reassert'; destination: string; reason: string }
  /** `retryAtMs`: the same event deserves another look then (e.g. a recovery held by the cooldown). */
  | { action: 'none'; reason: string; retryAtMs?: number };

export interface DecisionContext {
  /** Destination carrying traffic now (active-passive primary). */
  primary: string | undefined;
  nowMs: number;
  cooldownMs: number;
  /** When a failover away from each destination last started. */
  lastFailoverFrom: Record<string, number>;
  automaticFailover: boolean;
  automaticRecovery: boolean;
  /** Destinations traffic was moved away from and that have not been recovered since. */
  failedOver: string[];
  /** Active-active: weights spread over several destinations; these carry traffic now. */
  activeActive?: { carrying: string[] };
  /** Single writer: each backup against the primary (see syncStateOf). */
  sync?: Record<string, SyncVerdict>;
  /** recovery_management.resync_returning: re-attach a diverged backup at once. */
  resyncReturning?: boolean;
  /** A failed resync/failback of a destination is backed off until then (ms). */
  repairNotBefore?: Record<string, number>;
  /**
   * Destinations answering as a second writable primary whose writes detection has not paused yet
   * (see unfencedWriters): whatever event comes for one, it is fenced first.
   */
  unfencedWriters?: string[];
  /**
   * recovery_strategy: intelligent — fail back by itself only to a destination in a more preferred
   * tier than the primary's (tier per destination); within the same tier traffic stays where it is.
   */
  failbackOnlyToBetterTier?: { tiers: Record<string, number> };
}

/** The decision context's part for recovery_strategy: intelligent (empty for any other strategy). */
export function recoveryStrategyContext(
  strategy: string | undefined,
  service: { destinations: readonly { id: string; tier: number }[] },
): Pick<DecisionContext, 'failbackOnlyToBetterTier'> {
  return strategy === 'intelligent' ? { failbackOnlyToBetterTier: { tiers: Object.fromEntries(service.destinations.map((d) => [d.id, d.tier])) } } : {};
}

/**
 * Destinations that answer as a writable primary without being the primary, and whose writes
 * detection has not paused (`fenced`): each must be fenced before any runbook is started for it.
 */
export function unfencedWriters(health: Record<string, { writable?: boolean }>, primary: string | undefined, fenced: readonly string[]): string[] {
  return Object.entries(health)
    .filter(([id, h]) => h.writable === true && id !== primary && !fenced.includes(id))
    .map(([id]) => id);
}

/** Whether automatic failback to `id` buys anything under recovery_strategy: intelligent. */
function failbackWorthIt(id: string, ctx: DecisionContext): boolean {
  const t = ctx.failbackOnlyToBetterTier?.tiers;
  if (!t || ctx.primary === undefined) return true;
  return (t[id] ?? 0) < (t[ctx.primary] ?? 0);
}

/**
 * What detection does about one health transition. Anti-flap: a cooldown per source destination
 * after a failover away from it; it never suppresses a *different* destination's failure.
 */
export function decide(event: HealthEvent, ctx: DecisionContext): Decision {
  const { destination: id } = event;
  if (event.kind === 'drift') return { action: 'reassert', destination: id, reason: `${event.reason}; writing the decided routing back` };
  if (event.kind === 'writable') {
    if (id === ctx.primary) return { action: 'none', reason: `${id} is the primary; writable as it should be` };
    return { action: 'fence', destination: id, reason: `${event.reason}; its writes are paused until it is resynced` };
  }
  // A resync of a second writer started before its fence would leave it taking writes meanwhile.
  if (id !== ctx.primary && ctx.unfencedWriters?.includes(id)) {
    return {
      action: 'fence',
      destination: id,
      reason: `${id} ${event.kind}, but it answers as a writable primary and ${ctx.primary ?? 'another'} is the primary: its writes are paused before anything else is done for it`,
    };
  }
  if (ctx.activeActive) return decideActiveActive(event, ctx, ctx.activeActive.carrying);
  if (event.kind === 'down' || event.kind === 'degraded') {
    if (id !== ctx.primary)
      return { action: 'none', reason: `${id} ${event.kind} but carries no traffic (primary ${ctx.primary ?? 'none'}); redundancy reduced` };
    if (!ctx.automaticFailover) return { action: 'none', reason: `${id} ${event.kind}; automatic_failover is off, an operator must act` };
    const last = ctx.lastFailoverFrom[id];
    if (last !== undefined && ctx.nowMs - last < ctx.cooldownMs) {
      return {
        action: 'none',
        reason: `${id} ${event.kind} again ${Math.round((ctx.nowMs - last) / 1000)}s after a failover away from it; cooldown ${Math.round(ctx.cooldownMs / 1000)}s holds`,
      };
    }
    return { action: 'failover', from: id, reason: `${id} ${event.kind}: ${event.reason}` };
  }
  return decideReturning(event, ctx);
}

/**
 * A backup answers again (`recovered`) or stopped copying the primary (`diverged`). Resync comes
 * first and needs no cooldown: a standby that holds none of the data must not stay one. Failback
 * (traffic back to a failed-over destination) is automatic_recovery's and waits for the cooldown.
 */
function decideReturning(event: HealthEvent, ctx: DecisionContext): Decision {
  const id = event.destination;
  if (id === ctx.primary) return { action: 'none', reason: `${id} ${event.kind}: ${event.reason}; it carries the traffic` };
  const sync = ctx.sync?.[id];
  const diverged = sync?.state === 'diverged';
  const resync = diverged && ctx.resyncReturning === true;
  const stays = ctx.failedOver.includes(id) && ctx.automaticRecovery && !failbackWorthIt(id, ctx);
  const failback = ctx.failedOver.includes(id) && ctx.automaticRecovery && !stays;
  const notBefore = ctx.repairNotBefore?.[id];
  if ((resync || failback) && notBefore !== undefined && ctx.nowMs < notBefore) {
    return {
      action: 'none',
      reason: `${id} ${event.kind}; its last resync/failback failed, next attempt in ${Math.ceil((notBefore - ctx.nowMs) / 1000)}s`,
      retryAtMs: notBefore,
    };
  }
  const why = `${id} ${event.kind}: ${diverged ? sync!.reason : event.reason}`;
  if (failback) {
    const last = ctx.lastFailoverFrom[id];
    if (last !== undefined && ctx.nowMs - last < ctx.cooldownMs) {
      const retryAtMs = last + ctx.cooldownMs;
      if (resync)
        return { action: 'recovery', destination: id, failback: false, reason: `${why}; resync it as a standby now, fail back after the cooldown`, retryAtMs };
      return { action: 'none', reason: `${id} recovered within the cooldown after failing; waiting before failback`, retryAtMs };
    }
    return { action: 'recovery', destination: id, failback: true, reason: why };
  }
  const staysWhy = `recovery_strategy intelligent: ${id} is in no better tier than ${ctx.primary}, so traffic stays on ${ctx.primary}`;
  if (resync)
    return { action: 'recovery', destination: id, failback: false, reason: `${why}; resync it as a standby of ${ctx.primary}${stays ? ` (${staysWhy})` : ''}` };
  if (stays) return { action: 'none', reason: `${id} ${event.kind}; ${staysWhy} (start recovery <service> --destination ${id} to fail back by hand)` };
  if (diverged)
    return { action: 'none', reason: `${why}; resync_returning is off: resync it by hand (start recovery <service> --destination ${id} --standby)` };
  if (ctx.failedOver.includes(id)) return { action: 'none', reason: `${id} recovered; automatic_recovery is off, start a recovery runbook to fail back` };
  return { action: 'none', reason: `${id} ${event.kind}: ${event.reason}` };
}

/** Active-active: a failing member's share is redistributed; a recovered one is slow-started back. */
function decideActiveActive(event: HealthEvent, ctx: DecisionContext, carrying: string[]): Decision {
  const id = event.destination;
  if (event.kind === 'diverged') return { action: 'none', reason: `${id} diverged (${event.reason}); active-active destinations are independent` };
  if (!ctx.automaticFailover) return { action: 'none', reason: `${id} ${event.kind}; automatic_failover is off, an operator must rebalance` };
  if (event.kind === 'recovered') {
    if (carrying.includes(id)) return { action: 'none', reason: `${id} recovered and still carries traffic` };
    const last = ctx.lastFailoverFrom[id];
    if (last !== undefined && ctx.nowMs - last < ctx.cooldownMs) {
      return { action: 'none', reason: `${id} recovered within the cooldown after failing; waiting before slow start`, retryAtMs: last + ctx.cooldownMs };
    }
    return { action: 'rebalance', destination: id, reason: `${id} recovered: ${event.reason}; slow start back` };
  }
  if (!carrying.includes(id)) return { action: 'none', reason: `${id} ${event.kind} but carries no traffic` };
  return { action: 'rebalance', destination: id, reason: `${id} ${event.kind}: ${event.reason}; its share moves to the rest` };
}
