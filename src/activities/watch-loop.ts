import type { ProbeConfig, ServiceConfig } from '../domain/config';
import { observe, observeSync, type DestinationHealth, type HealthEvent, type HealthThresholds } from '../domain/health';
import { replicates, sameUpstream, syncStates, upstreamKeyOf, type ReplicationObservation } from '../domain/sync';
import { emptyRanking, update as learn, type RankingState } from '../domain/ranking';
import { runProbe, type ProbeResult } from '../drivers/probes';
import { routerFor } from '../drivers';
import { sameWeights, type Routing } from '../domain/routing';

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
  /** Down after one failed probe when the evidence is certain (see certainEvidence). */
  intelligent?: boolean;
  /** The routing the manager decided: the router is read every routerCheckMs and a difference returns. */
  expected?: Routing;
  routerCheckMs?: number;
}

export interface WatchResult {
  health: Record<string, DestinationHealth>;
  events: HealthEvent[];
  ranking: RankingState;
  ticks: number;
  returned: 'change' | 'max-duration';
  /** The observer (this worker process) cannot reach most destinations it probes: its votes should not count. */
  isolated?: boolean;
  /** The router's routing when it differs from `expected` (drift, or a change by a runbook). */
  routing?: Routing;
}

/** Where this worker process probes from. */
export interface ObserverOptions {
  /** The observer zone it serves (`--zone`); see failover_detection.observers. */
  zone?: string;
  /** Probe `host:port` through another `host:port` (this observer's own path, e.g. a local proxy). */
  routes?: Record<string, string>;
}

/**
 * What an observer saw of every destination it probes, for all services at once: an observer that
 * cannot reach most of them is isolated (its own network is the likely fault). Needs a few
 * destinations to judge; one service's two cannot tell a partition from an outage.
 */
const MIN_FOR_ISOLATION = 3;

export class ObserverView {
  private readonly seen = new Map<string, { up: boolean; atMs: number }>();
  private down = 0;
  private sweptAtMs = 0;

  note(key: string, up: boolean, atMs: number): void {
    const before = this.seen.get(key);
    if (before && !before.up) this.down--;
    if (!up) this.down++;
    this.seen.set(key, { up, atMs });
  }

  /** Every watch asks each tick: counts are kept as results arrive, stale entries swept once a second. */
  isolated(nowMs = Date.now()): boolean {
    if (nowMs - this.sweptAtMs >= 1000) {
      this.sweptAtMs = nowMs;
      for (const [key, v] of this.seen) {
        if (nowMs - v.atMs <= 30_000) continue;
        this.seen.delete(key);
        if (!v.up) this.down--;
      }
    }
    return this.seen.size >= MIN_FOR_ISOLATION && this.down / this.seen.size > 0.5;
  }
}

export function routed(probe: ProbeConfig, routes: Record<string, string> | undefined): ProbeConfig {
  if (!routes || !('host' in probe) || !('port' in probe)) return probe;
  const via = routes[`${probe.host}:${probe.port}`];
  if (!via) return probe;
  const i = via.lastIndexOf(':');
  return { ...probe, host: via.slice(0, i), port: Number(via.slice(i + 1)) } as ProbeConfig;
}

function viewKey(p: ProbeConfig): string {
  return 'host' in p && 'port' in p ? `${p.type}:${p.host}:${p.port}` : `${p.type}:${JSON.stringify(p)}`;
}

/**
 * Intelligent detection: is `id` certainly gone, not slow and not flapping? Its port refuses (the
 * host answers, the process does not), it was clean before this failure streak, every replica of it
 * reports its link down, and — where the service has an entrypoint and `id` carries its traffic —
 * the router's own path to it fails too. Returns the evidence, or undefined (the full threshold applies).
 */
async function certainEvidence(
  input: WatchInput,
  id: string,
  results: ReadonlyMap<string, ProbeResult>,
  prev: DestinationHealth,
  probe: (p: ProbeConfig) => Promise<ProbeResult>,
): Promise<string | undefined> {
  const r = results.get(id)!;
  if (r.up || r.failure !== 'refused') return undefined;
  const before = prev.window.slice(0, Math.max(0, prev.window.length - prev.consecutiveFailures));
  if (before.length < input.thresholds.recoveryThreshold || before.some((v) => v !== 1)) return undefined;
  const dest = input.service.destinations.find((d) => d.id === id)!;
  const key = upstreamKeyOf(dest);
  if (!key) return undefined;
  const replicas = input.service.destinations.filter((d) => {
    const up = d.id !== id ? results.get(d.id)?.replication?.upstream : undefined;
    return up !== undefined && sameUpstream(up, key);
  });
  if (replicas.length === 0 || replicas.some((d) => results.get(d.id)!.replication!.linkUp !== false)) return undefined;
  let router = 'no entrypoint to check';
  if (input.service.entrypoint && id === input.primary) {
    const e = await probe(input.service.entrypoint);
    if (e.up) return undefined;
    router = `the entrypoint fails too (${e.failure ?? 'error'})`;
  }
  return `port refused (${r.error}); ${replicas.map((d) => d.id).join(', ')} report their link to ${id} down; ${router}`;
}

/** Longest time between heartbeats while nothing that decides changes, unless the watch's heartbeat timeout says. */
const HEARTBEAT_EVERY_MS = 3_000;

/** What a resumed watch must not lose: the counts and states decisions are made from (not latency or score drift). */
function decidingState(health: Record<string, DestinationHealth>): string {
  let mark = '';
  for (const id in health) {
    const h = health[id]!;
    mark += `${id}:${h.status}:${h.consecutiveFailures}:${h.status === 'up' ? 0 : h.consecutiveSuccesses}:${h.sync ?? ''}:${h.syncPending?.count ?? 0}:${h.alerts.length};`;
  }
  return mark;
}

/** What a watch needs from where it runs (the probe thread): probes, the observer's view, its heartbeat. */
export interface WatchEnv {
  probe: (p: ProbeConfig, timeoutMs: number) => Promise<ProbeResult>;
  view: ObserverView;
  routes?: Record<string, string>;
  /** The window a retry resumes from (activity heartbeat details). */
  beat: (details: WatchProgress) => void;
  /** Keep-alive beats this often while nothing that decides changes (a quarter of the heartbeat timeout). */
  beatEveryMs?: number;
  /** Waits; rejects once the watch is stopped (its activity cancelled). */
  sleep: (ms: number) => Promise<void>;
}

export interface WatchProgress {
  health: Record<string, DestinationHealth>;
  ranking?: RankingState;
}

/**
 * Detection's hot path: probes every destination each interval and returns only on a state
 * change, so an idle service writes no history however short the interval. The window
 * (consecutive counts, score) rides in heartbeat details: a retry on another worker resumes it.
 */
export async function watchLoop(input: WatchInput, resumed: WatchProgress | undefined, env: WatchEnv): Promise<WatchResult> {
  let health = { ...input.health, ...(resumed?.health ?? {}) };
  let ranking = resumed?.ranking ?? input.ranking ?? emptyRanking();
  const started = Date.now();
  const isolatedAtStart = env.view.isolated();
  let ticks = 0;
  let routerReadAt = Date.now();
  let beatMark = '';
  let beatAt = 0;
  // Spread the ticks of many watches over the interval.
  if (!resumed) await env.sleep(Math.floor(Math.random() * Math.min(input.intervalMs, 1000)));
  for (;;) {
    const tickStart = Date.now();
    const results = new Map(await Promise.all(input.service.destinations.map(async (d) => [d.id, await env.probe(d.probe, input.probeTimeoutMs)] as const)));
    const events: HealthEvent[] = [];
    const next = { ...health };
    const now = Date.now();
    const replication: Record<string, ReplicationObservation | undefined> = {};
    for (const d of input.service.destinations) {
      const r = results.get(d.id)!;
      env.view.note(viewKey(routed(d.probe, env.routes)), r.up, now);
      ranking = learn(ranking, { destination: d.id, kind: 'probe', up: r.up, latencyMs: r.latencyMs }, now);
      const certain = input.intelligent ? await certainEvidence(input, d.id, results, next[d.id]!, (p) => env.probe(p, input.probeTimeoutMs)) : undefined;
      const { health: h, event } = observe(d.id, next[d.id]!, { ...r, atMs: now }, input.thresholds, certain);
      next[d.id] = h;
      if (event) events.push(event);
      if (r.up) replication[d.id] = r.replication;
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
    // A second writer is reported at the first probe that sees it, not after a threshold.
    if (input.primary && replicates(input.service)) {
      for (const d of input.service.destinations) {
        const writable = d.id !== input.primary && results.get(d.id)!.up && replication[d.id]?.role === 'primary';
        if (writable && !next[d.id]!.writable) {
          events.push({ destination: d.id, kind: 'writable', reason: `${d.id} answers as a writable primary, but ${input.primary} is the primary` });
        }
        if (writable !== (next[d.id]!.writable === true)) next[d.id] = { ...next[d.id]!, writable };
      }
    }
    let routing: Routing | undefined;
    if (input.expected && input.routerCheckMs !== undefined && now - routerReadAt >= input.routerCheckMs) {
      routerReadAt = now;
      const read = await routerFor(input.service)
        .read()
        .catch(() => undefined);
      if (read && (read.routing.generation !== input.expected.generation || !sameWeights(read.routing.weights, input.expected.weights))) routing = read.routing;
    }
    health = next;
    ticks++;
    // The heartbeat carries the window a retry resumes from. Encoding it every tick for thousands
    // of watches costs more than the probes: sent when a count that decides moves, else every few seconds.
    const mark = decidingState(health);
    if (mark !== beatMark || now - beatAt >= (env.beatEveryMs ?? HEARTBEAT_EVERY_MS)) {
      env.beat({ health, ranking });
      beatMark = mark;
      beatAt = now;
    }
    const isolated = env.view.isolated();
    if (events.length > 0 || syncChanged || isolated !== isolatedAtStart || routing) {
      return { health, events, ranking, ticks, returned: 'change', isolated, ...(routing ? { routing } : {}) };
    }
    if (Date.now() - started >= input.maxDurationMs) return { health, events, ranking, ticks, returned: 'max-duration', isolated };
    await env.sleep(Math.max(0, input.intervalMs - (Date.now() - tickStart))); // throws when stopped
  }
}
