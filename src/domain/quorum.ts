import type { DestinationHealth, HealthEvent, HealthStatus } from './health';

/**
 * Several observers (workers in different zones) probe the same destinations; a destination is down
 * only when `quorum` of them see it down, so one observer that lost its own network path cannot
 * fail over a healthy primary. An observer that cannot reach most of what it watches is isolated:
 * its votes do not count. Pure: detection folds every observer's report through `combine`.
 */

export interface ObserverReport {
  health: Record<string, DestinationHealth>;
  /** It cannot reach most destinations it probes: its network, not the destinations, is in trouble. */
  isolated: boolean;
}

/** What each observer said of a destination: its status, or that it is isolated. */
export type Votes = Record<string, HealthStatus | 'isolated' | 'unknown'>;

export interface Combined {
  /** The health detection decides on: one observer's record with the status the quorum gives. */
  health: Record<string, DestinationHealth>;
  events: HealthEvent[];
  /** An observer saw a change the quorum did not confirm: recorded, not acted on. */
  unconfirmed: { destination: string; reason: string }[];
  votes: Record<string, Votes>;
}

export function votesFor(id: string, observers: Readonly<Record<string, ObserverReport>>): Votes {
  return Object.fromEntries(Object.entries(observers).map(([name, o]) => [name, o.isolated ? 'isolated' : (o.health[id]?.status ?? 'unknown')]));
}

function describeVotes(v: Votes): string {
  // In name order: the same votes read the same whatever order the observers reported in.
  return Object.entries(v)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, s]) => `${name}: ${s}`)
    .join(', ');
}

/**
 * The status the quorum gives a destination, with hysteresis: down once `quorum` observers see it
 * down (degraded: down or degraded), and up again only once `quorum` see it up. With no observer
 * able to vote (all isolated or silent) it keeps its status.
 */
export function quorumStatus(previous: HealthStatus, votes: Votes, quorum: number): HealthStatus {
  const counted = Object.values(votes).filter((s) => s !== 'isolated' && s !== 'unknown');
  if (counted.length === 0) return previous;
  const down = counted.filter((s) => s === 'down').length;
  const bad = counted.filter((s) => s !== 'up').length;
  const up = counted.length - bad;
  if (down >= quorum) return 'down';
  if (bad >= quorum) return 'degraded';
  if (previous === 'up') return 'up';
  // Back up once the quorum (or every observer able to vote, when fewer can) sees it up.
  return up >= Math.min(quorum, counted.length) ? 'up' : previous;
}

/**
 * Folds every observer's latest report into the health detection decides on. `events` are the
 * observers' own events (with their reasons) for the observer that reported last; with one
 * observer and quorum 1 the result is exactly that observer's view.
 */
export function combine(a: {
  destinations: readonly string[];
  observers: Readonly<Record<string, ObserverReport>>;
  /** The observer whose report is newest: its records and reasons are used. */
  reporter: string;
  reporterEvents: readonly HealthEvent[];
  quorum: number;
  previous: Readonly<Record<string, DestinationHealth>>;
}): Combined {
  const reporter = a.observers[a.reporter]!;
  const out: Combined = { health: {}, events: [], unconfirmed: [], votes: {} };
  const multi = Object.keys(a.observers).length > 1;
  for (const id of a.destinations) {
    const prev = a.previous[id]!;
    const votes = votesFor(id, a.observers);
    out.votes[id] = votes;
    // Alert evidence (monitoring) holds a destination where the alert put it, or worse if the probes say so.
    const byVotes = quorumStatus(prev.status, votes, a.quorum);
    const status = prev.alerts.length > 0 ? worst(byVotes, prev.status) : byVotes;
    const base = reporter.health[id] ?? prev;
    out.health[id] = { ...base, status, alerts: prev.alerts };
    const own = a.reporterEvents.filter((e) => e.destination === id);
    const seen = own.find((e) => e.kind === 'down' || e.kind === 'degraded' || e.kind === 'recovered');
    if (status !== prev.status) {
      const kind = status === 'up' ? 'recovered' : status;
      const why = seen && seen.kind === kind ? seen.reason : `observers: ${describeVotes(votes)}`;
      out.events.push({ destination: id, kind, reason: multi ? `${why} (${describeVotes(votes)}; quorum ${a.quorum})` : why } as HealthEvent);
    } else if (seen && (seen.kind === 'recovered') !== (status === 'up')) {
      out.unconfirmed.push({
        destination: id,
        reason: `${id} ${seen.kind} for ${a.reporter} (${seen.reason}), not confirmed: ${describeVotes(votes)}; quorum ${a.quorum}`,
      });
    }
    // What a node said when it answered needs no vote: one observer that reached it heard it. A
    // second writer is reported whatever the others see; a divergence only of a node that is up.
    for (const e of own) if (e.kind === 'writable' || (e.kind === 'diverged' && status === 'up')) out.events.push(e);
  }
  return out;
}

const rank: Record<HealthStatus, number> = { up: 0, degraded: 1, down: 2 };

function worst(a: HealthStatus, b: HealthStatus): HealthStatus {
  return rank[a] >= rank[b] ? a : b;
}
