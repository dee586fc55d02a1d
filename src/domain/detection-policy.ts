import type { HealthEvent } from './health';

export type Decision =
  | { action: 'failover'; from: string; reason: string }
  | { action: 'recovery'; destination: string; reason: string }
  /** Active-active: recompute the weights (a member failed, or came back). */
  | { action: 'rebalance'; destination: string; reason: string }
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
}

/**
 * What detection does about one health transition. Anti-flap: a cooldown per source destination
 * after a failover away from it; it never suppresses a *different* destination's failure.
 */
export function decide(event: HealthEvent, ctx: DecisionContext): Decision {
  const { destination: id } = event;
  if (ctx.activeActive) return decideActiveActive(event, ctx, ctx.activeActive.carrying);
  if (event.kind === 'down' || event.kind === 'degraded') {
    if (id !== ctx.primary) return { action: 'none', reason: `${id} ${event.kind} but carries no traffic (primary ${ctx.primary ?? 'none'}); redundancy reduced` };
    if (!ctx.automaticFailover) return { action: 'none', reason: `${id} ${event.kind}; automatic_failover is off, an operator must act` };
    const last = ctx.lastFailoverFrom[id];
    if (last !== undefined && ctx.nowMs - last < ctx.cooldownMs) {
      return { action: 'none', reason: `${id} ${event.kind} again ${Math.round((ctx.nowMs - last) / 1000)}s after a failover away from it; cooldown ${Math.round(ctx.cooldownMs / 1000)}s holds` };
    }
    return { action: 'failover', from: id, reason: `${id} ${event.kind}: ${event.reason}` };
  }
  // recovered
  if (!ctx.failedOver.includes(id)) return { action: 'none', reason: `${id} recovered: ${event.reason}` };
  if (!ctx.automaticRecovery) return { action: 'none', reason: `${id} recovered; automatic_recovery is off, start a recovery runbook to fail back` };
  const last = ctx.lastFailoverFrom[id];
  if (last !== undefined && ctx.nowMs - last < ctx.cooldownMs) {
    return { action: 'none', reason: `${id} recovered within the cooldown after failing; waiting before failback`, retryAtMs: last + ctx.cooldownMs };
  }
  return { action: 'recovery', destination: id, reason: `${id} recovered: ${event.reason}` };
}

/** Active-active: a failing member's share is redistributed; a recovered one is slow-started back. */
function decideActiveActive(event: HealthEvent, ctx: DecisionContext, carrying: string[]): Decision {
  const id = event.destination;
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
