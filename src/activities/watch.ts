import { Context, heartbeat, sleep } from '@temporalio/activity';
import type { ServiceConfig } from '../domain/config';
import { observe, observeSync, type DestinationHealth, type HealthEvent, type HealthThresholds } from '../domain/health';
import { syncStates, type ReplicationObservation } from '../domain/sync';
import { emptyRanking, update as learn, type RankingState } from '../domain/ranking';
import { runProbe } from './probes';

export interface WatchInput {
  service: ServiceConfig;
  health: Record<string, DestinationHealth>;
  thresholds: HealthThresholds;
  intervalMs: number;
  probeTimeoutMs: number;
  /** Return with no change after this long, so the workflow can take stock (e.g. continue-as-new). */
  maxDurationMs: number;
  /** Adaptive ranking learned so far; every probe updates it. */
  ranking?: RankingState;
  /** The routed primary: backups are classified against it (in sync, catching up, diverged). */
  primary?: string;
  /** Lag bound for "in sync" (consistency_check.max_lag). */
  maxLag?: number;
}

export interface WatchResult {
  health: Record<string, DestinationHealth>;
  events: HealthEvent[];
  ranking: RankingState;
  ticks: number;
  returned: 'change' | 'max-duration';
}

/**
 * Detection's hot path: probes every destination each interval inside the worker and returns only
 * on a state change, so an idle service writes no history however short the interval. The window
 * (consecutive counts, score) rides in heartbeat details: a retry on another worker resumes it.
 */
export async function watchDestinations(input: WatchInput): Promise<WatchResult> {
  const ctx = Context.current();
  const resumed = ctx.info.heartbeatDetails as { health: Record<string, DestinationHealth>; ranking?: RankingState } | undefined;
  let health = { ...input.health, ...(resumed?.health ?? {}) };
  let ranking = resumed?.ranking ?? input.ranking ?? emptyRanking();
  const started = Date.now();
  let ticks = 0;
  for (;;) {
    const tickStart = Date.now();
    const results = await Promise.all(input.service.destinations.map(async (d) => [d.id, await runProbe(d.probe, input.probeTimeoutMs)] as const));
    const events: HealthEvent[] = [];
    const next = { ...health };
    const now = Date.now();
    const replication: Record<string, ReplicationObservation | undefined> = {};
    for (const [id, r] of results) {
      ranking = learn(ranking, { destination: id, kind: 'probe', up: r.up, latencyMs: r.latencyMs }, now);
      const { health: h, event } = observe(id, next[id]!, { ...r, atMs: now }, input.thresholds);
      next[id] = h;
      if (event) events.push(event);
      if (r.up) replication[id] = r.replication;
    }
    // Whether each backup is a copy of the primary: settling into another state is a change worth
    // returning for (status and decisions read it), and a backup that answers but stopped copying is an event.
    let syncChanged = false;
    for (const [id, verdict] of Object.entries(syncStates(input.service, input.primary, replication, input.maxLag ?? 0))) {
      const { health: h, event, settled } = observeSync(id, next[id]!, verdict, input.thresholds, health[id]!.status === 'up');
      next[id] = h;
      syncChanged ||= settled;
      if (event) events.push(event);
    }
    if (input.primary && next[input.primary]?.sync !== undefined) {
      const { sync: _s, syncReason: _r, syncPending: _p, ...rest } = next[input.primary]!;
      next[input.primary] = rest; // the primary is not a backup
    }
    health = next;
    ticks++;
    heartbeat({ health, ranking });
    if (events.length > 0 || syncChanged) return { health, events, ranking, ticks, returned: 'change' };
    if (Date.now() - started >= input.maxDurationMs) return { health, events, ranking, ticks, returned: 'max-duration' };
    await sleep(Math.max(0, input.intervalMs - (Date.now() - tickStart))); // throws when cancelled
  }
}
