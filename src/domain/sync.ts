import type { DestinationConfig, ServiceConfig } from './config';
import { redisEndpointOf } from './config';

/**
 * Is a backup a copy of the primary? A returned old primary, a standby that restarted empty or lost
 * its link holds none (or only part) of the data: it must not count as a healthy backup, and must
 * never be promoted as if it did. Pure: the watch, detection, the runbooks, `plan` and redundancy
 * all classify with these functions.
 */

/** What a probe saw of one destination's replication (raw; classified against the routed primary). */
export interface ReplicationObservation {
  role: 'primary' | 'replica';
  /** Where a replica copies from as it reports it: "host:port" for Redis; absent when the driver cannot say. */
  upstream?: string;
  /** The replica's link to its upstream is live (NATS: the standby advances). */
  linkUp?: boolean;
  /** How long the link has been down, as the replica reports it (Redis). */
  linkDownForMs?: number;
  /** Replication offset (Redis bytes; NATS last sequence). */
  offset: number;
  /** Lag as the destination itself reports it (NATS); otherwise derived from the primary's offset. */
  lag?: number;
}

/**
 * `in-sync`: replicates from the primary, link up, lag within bound — a healthy backup.
 * `catching-up`: replicates from the primary but its link is down or it lags — not yet a backup.
 * `diverged`: not replicating from the primary at all (a standalone primary, or a replica of
 * something else) — needs a resync, and its data may differ from the primary's.
 * `unknown`: nothing observed (down, or a probe that cannot see replication).
 */
export type SyncState = 'in-sync' | 'catching-up' | 'diverged' | 'unknown';

export interface SyncVerdict {
  state: SyncState;
  reason: string;
  lag?: number;
}

/** A backup that is not a copy of the primary (yet): not counted, not promoted as one. */
export function isResyncing(state: SyncState | undefined): boolean {
  return state === 'catching-up' || state === 'diverged';
}

function normHost(h: string): string {
  return h === 'localhost' || h === '::1' ? '127.0.0.1' : h;
}

/** How replicas name this destination as their upstream, when the driver reports it ("host:port" for Redis). */
export function upstreamKeyOf(dest: DestinationConfig): string | undefined {
  if (dest.replication.type !== 'redis') return undefined;
  const ep = redisEndpointOf(dest);
  return `${normHost(ep.host)}:${ep.port}`;
}

export function sameUpstream(reported: string, expected: string): boolean {
  const i = reported.lastIndexOf(':');
  return i > 0 && `${normHost(reported.slice(0, i))}:${reported.slice(i + 1)}` === expected;
}

/** Single-writer replication: only one destination takes writes, the others copy it. */
export function replicates(service: ServiceConfig): boolean {
  return service.destinations.some((d) => d.replication.type !== 'none' && d.replication.type !== 'rabbitmq');
}

/** Where `id` stands against the primary, from the latest observations of both. */
export function syncStateOf(
  service: ServiceConfig,
  id: string,
  primary: string | undefined,
  observed: Readonly<Record<string, ReplicationObservation | undefined>>,
  maxLag: number,
): SyncVerdict {
  const obs = observed[id];
  if (!primary || id === primary) return { state: 'unknown', reason: id === primary ? 'carries the traffic' : 'no primary' };
  if (!obs) return { state: 'unknown', reason: 'replication not observed' };
  if (obs.role === 'primary') return { state: 'diverged', reason: `a standalone primary at offset ${obs.offset}, not replicating from ${primary}` };
  const expected = upstreamKeyOf(service.destinations.find((d) => d.id === primary)!);
  if (obs.upstream !== undefined && expected !== undefined && !sameUpstream(obs.upstream, expected)) {
    return { state: 'diverged', reason: `replicates from ${obs.upstream}, not from ${primary} (${expected})` };
  }
  const primaryObs = observed[primary];
  const lag = obs.lag ?? (primaryObs ? Math.max(0, primaryObs.offset - obs.offset) : undefined);
  const withLag = lag !== undefined ? { lag } : {};
  if (obs.linkUp === false) {
    const since = obs.linkDownForMs !== undefined ? ` for ${Math.round(obs.linkDownForMs / 1000)}s` : '';
    return { state: 'catching-up', reason: `link to ${primary} down${since}`, ...withLag };
  }
  if (lag !== undefined && lag > maxLag) return { state: 'catching-up', reason: `lag ${lag} > max_lag ${maxLag} behind ${primary}`, ...withLag };
  return { state: 'in-sync', reason: `replicates from ${primary}${lag !== undefined ? `, lag ${lag}` : ''}`, ...withLag };
}

/** Every backup's verdict against `primary` (the primary itself is left out). */
export function syncStates(
  service: ServiceConfig,
  primary: string | undefined,
  observed: Readonly<Record<string, ReplicationObservation | undefined>>,
  maxLag: number,
): Record<string, SyncVerdict> {
  if (!replicates(service)) return {};
  return Object.fromEntries(service.destinations.filter((d) => d.id !== primary).map((d) => [d.id, syncStateOf(service, d.id, primary, observed, maxLag)]));
}

/** What is known of the failed source when a target is chosen: its last good observation. */
export interface SourceLastSeen {
  offset: number;
  atMs: number;
}

export interface TargetCheck {
  /** May be promoted without someone accepting a loss. */
  safe: boolean;
  reasons: string[];
  /** Replication units acknowledged on the source and missing on the target, as far as observed; null = unknown. */
  estimatedLoss: number | null;
}

/**
 * May `target` be promoted in place of `source` without losing what the source acknowledged?
 * With the source up the lag gate decides the numbers; this only rules out targets that are not
 * replicating from it at all. With the source down: the target must have replicated from it, and
 * be within `maxLag` of the source's last observed offset; with no observation of the source, a
 * link down for longer than `maxLinkDownMs` makes the target unsafe (as Sentinel's replica
 * validity rule does).
 */
export function checkFailoverTarget(a: {
  service: ServiceConfig;
  source: string;
  target: string;
  sourceUp: boolean;
  /** The target's replication now (its probe in this runbook); undefined when the driver cannot see it. */
  targetObs?: ReplicationObservation;
  sourceLastSeen?: SourceLastSeen;
  maxLag: number;
  maxLinkDownMs: number;
  nowMs: number;
}): TargetCheck {
  const { source, target } = a;
  const obs = a.targetObs;
  const loss = obs && a.sourceLastSeen ? Math.max(0, a.sourceLastSeen.offset - obs.offset) : null;
  const seen = a.sourceLastSeen
    ? ` (${source} last seen at offset ${a.sourceLastSeen.offset}, ${Math.round((a.nowMs - a.sourceLastSeen.atMs) / 1000)}s ago)`
    : '';
  if (!obs) return { safe: true, reasons: [`${target}: replication not observable by its probe; the lag gate decides`], estimatedLoss: null };
  if (obs.role === 'primary') {
    return { safe: false, reasons: [`${target} is a standalone primary at offset ${obs.offset}, not a replica of ${source}${seen}`], estimatedLoss: loss };
  }
  const expected = upstreamKeyOf(a.service.destinations.find((d) => d.id === source)!);
  if (obs.upstream !== undefined && expected !== undefined && !sameUpstream(obs.upstream, expected)) {
    return { safe: false, reasons: [`${target} replicates from ${obs.upstream}, not from ${source} (${expected})${seen}`], estimatedLoss: loss };
  }
  if (a.sourceUp) return { safe: true, reasons: [`${target} replicates from ${source}`], estimatedLoss: null };
  if (loss !== null) {
    if (loss > a.maxLag)
      return {
        safe: false,
        reasons: [`${target} is at offset ${obs.offset}, ${loss} behind ${source}'s last observed offset (max_lag ${a.maxLag})${seen}`],
        estimatedLoss: loss,
      };
    return { safe: true, reasons: [`${target} replicated from ${source}, ${loss} behind its last observed offset${seen}`], estimatedLoss: loss };
  }
  if (obs.linkUp === false && obs.linkDownForMs !== undefined && obs.linkDownForMs > a.maxLinkDownMs) {
    return {
      safe: false,
      reasons: [
        `${target}'s link to ${source} has been down for ${Math.round(obs.linkDownForMs / 1000)}s (> ${Math.round(a.maxLinkDownMs / 1000)}s) and ${source} was never observed: what it holds is unknown`,
      ],
      estimatedLoss: null,
    };
  }
  return { safe: true, reasons: [`${target} replicates from ${source}; ${source} was never observed, loss unknown`], estimatedLoss: null };
}
