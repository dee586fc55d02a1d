/**
 * Brakes on automatic actions, decided in one place (the supervisor) for the whole fleet:
 * a kill switch per service and for all, and a cap on automatic runbooks per window. Pure: the
 * supervisor workflow keeps the state and calls these.
 */

export interface Suspension {
  by: string;
  reason: string;
  at: string;
}

/** What the brakes hold. Runbooks that only repair a standby (resync) are not counted by the cap. */
export type AutomaticKind = 'failover' | 'failback' | 'rebalance' | 'resync';

export interface Grant {
  service: string;
  kind: AutomaticKind;
  atMs: number;
}

export interface Hold {
  service: string;
  kind: AutomaticKind;
  at: string;
  reason: string;
}

export interface BrakeState {
  /** Suspended for every service / per service name. */
  all?: Suspension;
  services: Record<string, Suspension>;
  /** Automatic runbooks admitted inside the current window (oldest first). */
  grants: Grant[];
  /** What the brakes held back, newest last (bounded). */
  holds: Hold[];
}

export interface CapPolicy {
  maxAutomaticRunbooks: number;
  windowMs: number;
}

export type Admission = { admitted: true; note?: string } | { admitted: false; reason: string; retryAtMs?: number; suspended: boolean };

export function emptyBrakes(): BrakeState {
  return { services: {}, grants: [], holds: [] };
}

const KEEP_HOLDS = 50;

export function suspensionOf(state: BrakeState, service: string): Suspension | undefined {
  return state.services[service] ?? state.all;
}

/**
 * May `service` start an automatic runbook of `kind` now? Suspension holds every kind; the cap
 * holds runbooks that move traffic. Returns the new state (a grant or a hold recorded) and the answer.
 */
export function admit(
  state: BrakeState,
  req: { service: string; kind: AutomaticKind; nowMs: number },
  cap: CapPolicy,
): { state: BrakeState; admission: Admission } {
  const grants = state.grants.filter((g) => req.nowMs - g.atMs < cap.windowMs);
  const hold = (reason: string, suspended: boolean, retryAtMs?: number) => ({
    state: {
      ...state,
      grants,
      holds: [...state.holds, { service: req.service, kind: req.kind, at: new Date(req.nowMs).toISOString(), reason }].slice(-KEEP_HOLDS),
    },
    admission: { admitted: false as const, reason, suspended, ...(retryAtMs !== undefined ? { retryAtMs } : {}) },
  });
  const s = suspensionOf(state, req.service);
  if (s)
    return hold(
      `automatic runbooks ${state.services[req.service] ? `of ${req.service}` : 'of every service'} suspended by ${s.by} since ${s.at}: ${s.reason}`,
      true,
    );
  if (req.kind === 'resync') return { state: { ...state, grants }, admission: { admitted: true, note: 'standby repair: not counted by the cap' } };
  if (grants.length >= cap.maxAutomaticRunbooks) {
    const window = Math.round(cap.windowMs / 1000);
    const recent = grants.map((g) => `${g.kind} of ${g.service}`).join(', ');
    return hold(
      `fleet cap: ${grants.length} automatic runbooks in the last ${window}s (max ${cap.maxAutomaticRunbooks}: ${recent})`,
      false,
      grants[0]!.atMs + cap.windowMs,
    );
  }
  return { state: { ...state, grants: [...grants, { service: req.service, kind: req.kind, atMs: req.nowMs }] }, admission: { admitted: true } };
}

export function suspend(state: BrakeState, scope: { service?: string }, s: Suspension): BrakeState {
  return scope.service ? { ...state, services: { ...state.services, [scope.service]: s } } : { ...state, all: s };
}

/** Lifts a suspension; `all` lifts the fleet-wide one and every per-service one. */
export function resume(state: BrakeState, scope: { service?: string }): BrakeState {
  if (scope.service) {
    const { [scope.service]: _, ...rest } = state.services;
    return { ...state, services: rest };
  }
  const { all: _, ...rest } = state;
  return { ...rest, services: {} };
}
