/** A service's routing: weight per destination id, plus a generation bumped by every change. */
export interface Routing {
  generation: number;
  weights: Record<string, number>;
  /**
   * Set when the weights alone do not say which destination takes the writes (several tied for the
   * most weight, as with the role-checking HAProxy config): the one whose role says primary.
   */
  primary?: string;
}

/**
 * The destination carrying traffic in an active-passive service: the one the roles named when
 * weights tie (see resolvePrimary), else the heaviest one (ties: first by id).
 */
export function primaryOf(routing: Routing): string | undefined {
  if (routing.primary !== undefined && (routing.weights[routing.primary] ?? 0) > 0) return routing.primary;
  let best: [string, number] | undefined;
  for (const [id, w] of Object.entries(routing.weights).sort(([a], [b]) => a.localeCompare(b))) {
    if (w > 0 && (!best || w > best[1])) best = [id, w];
  }
  return best?.[0];
}

/** Weights that send everything to `target` at `weight`, nothing elsewhere. */
/** A destination's full weight: a configured (or routed) 0 stands for the default 100. */
export function fullWeight(weight: number | undefined): number {
  return weight || 100;
}

/** "a=100 b=0": weights as runbook steps, dry runs and the CLI print them. */
export function fmtWeights(w: Readonly<Record<string, number>>): string {
  return Object.entries(w)
    .map(([id, v]) => `${id}=${v}`)
    .join(' ');
}

export function allTo(routing: Routing, target: string, weight: number): Record<string, number> {
  return Object.fromEntries(Object.keys(routing.weights).map((id) => [id, id === target ? weight : 0]));
}

export function sameWeights(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if ((a[k] ?? 0) !== (b[k] ?? 0)) return false;
  return true;
}

/**
 * Invariant 1: never send all weight to destinations known to be down.
 * Returns a reason when the proposed weights break it.
 */
export function checkNotAllDown(weights: Record<string, number>, down: ReadonlySet<string>): string | undefined {
  const live = Object.entries(weights).filter(([id, w]) => w > 0 && !down.has(id));
  if (live.length === 0) {
    const targets = Object.entries(weights)
      .filter(([, w]) => w > 0)
      .map(([id]) => id);
    return targets.length === 0 ? 'proposed routing sends traffic nowhere' : `proposed routing sends all traffic to down destinations: ${targets.join(', ')}`;
  }
  return undefined;
}

/** Destinations tied for the most weight (more than one: the router alone does not say which takes the writes). */
export function tiedForMostWeight(routing: Routing): string[] {
  const max = Math.max(0, ...Object.values(routing.weights));
  if (max <= 0) return [];
  return Object.entries(routing.weights)
    .filter(([, w]) => w === max)
    .map(([id]) => id)
    .sort();
}

export interface RoleReading {
  /** What the destination says it is (Redis: INFO replication); undefined when it did not answer or cannot tell. */
  role?: 'primary' | 'replica' | undefined;
  up: boolean;
}

/**
 * For a single-writer service whose router gives several destinations the same, highest weight
 * (both servers `ready` with equal weights, HAProxy picking the writer by a `role:master` check):
 * which one is the primary, asked of the destinations themselves rather than guessed by name.
 * `problem` when the roles do not name exactly one, or the router's own check disagrees with them.
 * Undefined when there is nothing to resolve (no tie) or no destination reports a role.
 */
export function resolvePrimary(input: {
  routing: Routing;
  roles: Readonly<Record<string, RoleReading>>;
  /** The router's health check per destination (HAProxy: server UP), when it has one. */
  routerUp?: Readonly<Record<string, boolean | undefined>>;
  /** How to name the router in messages, e.g. `HAProxy backend orders`. */
  router: string;
}): { primary: string } | { problem: string } | undefined {
  const tied = tiedForMostWeight(input.routing);
  if (tied.length < 2) return undefined;
  if (!tied.some((id) => input.roles[id]?.role !== undefined)) return undefined;
  const weight = input.routing.weights[tied[0]!];
  const both = `${input.router} gives ${tied.join(', ')} the same weight ${weight}`;
  const primaries = tied.filter((id) => input.roles[id]?.role === 'primary');
  const said = tied.map((id) => `${id} ${input.roles[id]?.up === false ? 'does not answer' : `reports ${input.roles[id]?.role ?? 'no role'}`}`).join(', ');
  if (primaries.length === 0) return { problem: `${both}, and none of them reports role primary (${said}); refusing to guess which one takes the writes` };
  if (primaries.length > 1) {
    const who = `${primaries.join(' and ')} ${primaries.length === 2 ? 'both' : 'all'}`;
    return { problem: `${both}, and ${who} report role primary: two writers (${said}); make one a replica (REPLICAOF) or take one out of the router` };
  }
  const primary = primaries[0]!;
  const routedUp = input.routerUp ? tied.filter((id) => input.routerUp![id] === true) : [];
  if (input.routerUp && input.routerUp[primary] === false && routedUp.length > 0) {
    return {
      problem:
        `${input.router} sends the traffic to ${routedUp.join(', ')} (its health check sees ${primary} down), ` +
        `but ${primary} reports role primary (${said}); router and roles disagree, refusing to act until they agree`,
    };
  }
  return { primary };
}
