/** A service's routing: weight per destination id, plus a generation bumped by every change. */
export interface Routing {
  generation: number;
  weights: Record<string, number>;
}

/** The destination carrying traffic in an active-passive service: the heaviest one (ties: first by id). */
export function primaryOf(routing: Routing): string | undefined {
  let best: [string, number] | undefined;
  for (const [id, w] of Object.entries(routing.weights).sort(([a], [b]) => a.localeCompare(b))) {
    if (w > 0 && (!best || w > best[1])) best = [id, w];
  }
  return best?.[0];
}

/** Weights that send everything to `target` at `weight`, nothing elsewhere. */
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
    const targets = Object.entries(weights).filter(([, w]) => w > 0).map(([id]) => id);
    return targets.length === 0
      ? 'proposed routing sends traffic nowhere'
      : `proposed routing sends all traffic to down destinations: ${targets.join(', ')}`;
  }
  return undefined;
}
