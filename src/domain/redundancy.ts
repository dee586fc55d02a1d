import type { DestinationConfig, Policy, ServiceConfig } from './config';
import { distribute } from './distribution';
import { rankCandidates, type Candidate, type Proximity } from './plan';
import { rankBackups, type RankingParams, type RankingState } from './ranking';
import { primaryOf, type Routing } from './routing';

/**
 * Redundancy: how many healthy backups a service has against `redundancy_level`, at each level
 * (overall, outside the primary's zone, outside its region) and per tier / zone / region; which
 * backups to keep; and whether a drain may go ahead without an approval.
 *
 * "Backups" are the healthy destinations other than the one carrying traffic (active-passive) or,
 * for active-active, the healthy destinations beyond one: in both cases, how many can fail before
 * nothing healthy is left.
 */

export type RedundancyPolicy = Pick<
  Policy['redundancy_management'],
  'redundancy_level' | 'other_zone_backups' | 'other_region_backups' | 'load_distribution' | 'max_eject_percent' | 'max_load_factor' | 'offered_load'
>;

export interface RedundancyInput {
  service: ServiceConfig;
  routing: Routing;
  /** Destinations currently healthy. */
  healthy: ReadonlySet<string>;
  strategy: 'active-passive' | 'active-active';
  policy: RedundancyPolicy;
  /** With a learned ranking, backups are ordered by score (proximity breaks ties). */
  ranking?: { state: RankingState; now: number; params?: RankingParams };
}

export interface ScopeCount {
  key: string;
  healthy: string[];
  total: number;
}

export interface RankedBackup {
  id: string;
  proximity: Proximity;
  tier: number;
  zone: string;
  region: string;
  score?: number;
}

export type RedundancyVerdict = 'ok' | 'at-risk' | 'below-level';

export interface RedundancyAssessment {
  verdict: RedundancyVerdict;
  reasons: string[];
  /** The destination backups are counted against: the current primary, or the one a failover would pick. */
  primary?: string;
  healthy: number;
  total: number;
  backups: { total: number; otherZone: number; otherRegion: number };
  required: { total: number; otherZone: number; otherRegion: number };
  byTier: ScopeCount[];
  byZone: ScopeCount[];
  byRegion: ScopeCount[];
  diversity: { zones: number; regions: number };
  /** Healthy backups, best first. */
  ranked: RankedBackup[];
  /** The backups to keep ready: diversity requirements first, then by rank up to redundancy_level. */
  selected: string[];
}

function countBy(dests: readonly DestinationConfig[], healthy: ReadonlySet<string>, key: (d: DestinationConfig) => string): ScopeCount[] {
  const keys = [...new Set(dests.map(key))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return keys.map((k) => {
    const members = dests.filter((d) => key(d) === k);
    return { key: k, healthy: members.filter((d) => healthy.has(d.id)).map((d) => d.id), total: members.length };
  });
}

function rankedBackups(input: RedundancyInput, primary: string): RankedBackup[] {
  const { service } = input;
  const down = new Set(service.destinations.filter((d) => !input.healthy.has(d.id)).map((d) => d.id));
  const list = input.ranking
    ? rankBackups(service, primary, input.ranking.state, input.ranking.now, { down, ...(input.ranking.params ? { params: input.ranking.params } : {}) })
    : rankCandidates(service, primary, down);
  return list.map((c: Candidate & { score?: number }) => {
    const d = service.destinations.find((x) => x.id === c.id)!;
    return { id: c.id, proximity: c.proximity, tier: c.tier, zone: d.zone, region: d.region, ...(c.score !== undefined ? { score: c.score } : {}) };
  });
}

/** Greedy, deterministic: the best other-region backups the policy asks for, then other-zone, then the best of the rest. */
export function selectBackups(ranked: readonly RankedBackup[], required: { total: number; otherZone: number; otherRegion: number }): string[] {
  const chosen: RankedBackup[] = [];
  const take = (pred: (b: RankedBackup) => boolean, want: number) => {
    for (const b of ranked) {
      if (chosen.filter(pred).length >= want) return;
      if (pred(b) && !chosen.includes(b)) chosen.push(b);
    }
  };
  take((b) => b.proximity === 'other-region', required.otherRegion);
  take((b) => b.proximity !== 'same-zone', required.otherZone);
  take(() => true, required.total);
  return ranked.filter((b) => chosen.includes(b)).map((b) => b.id);
}

function pickPrimary(input: RedundancyInput): string | undefined {
  const current = primaryOf(input.routing);
  if (current && input.healthy.has(current)) return current;
  if (input.strategy === 'active-active') {
    // The healthy destination carrying the most traffic, else the first healthy by tier.
    const carrying = Object.entries(input.routing.weights)
      .filter(([id, w]) => w > 0 && input.healthy.has(id))
      .sort(([a, wa], [b, wb]) => wb - wa || a.localeCompare(b))[0]?.[0];
    if (carrying) return carrying;
  }
  const from = current ?? input.service.destinations[0]?.id;
  if (!from) return undefined;
  if (input.healthy.has(from)) return from;
  return rankedBackups(input, from)[0]?.id;
}

export function assessRedundancy(input: RedundancyInput): RedundancyAssessment {
  const { service, healthy, policy } = input;
  const dests = service.destinations;
  const required = { total: policy.redundancy_level, otherZone: policy.other_zone_backups, otherRegion: policy.other_region_backups };
  const byTier = countBy(dests, healthy, (d) => String(d.tier));
  const byZone = countBy(dests, healthy, (d) => d.zone);
  const byRegion = countBy(dests, healthy, (d) => d.region);
  const healthyDests = dests.filter((d) => healthy.has(d.id));
  const diversity = { zones: new Set(healthyDests.map((d) => d.zone)).size, regions: new Set(healthyDests.map((d) => d.region)).size };
  const primary = pickPrimary(input);
  const reasons: string[] = [];
  let below = false;
  let risk = false;

  if (!primary) {
    return {
      verdict: 'below-level',
      reasons: ['no healthy destination: nothing can carry traffic'],
      healthy: 0,
      total: dests.length,
      backups: { total: 0, otherZone: 0, otherRegion: 0 },
      required,
      byTier,
      byZone,
      byRegion,
      diversity,
      ranked: [],
      selected: [],
    };
  }
  const p = dests.find((d) => d.id === primary)!;
  const ranked = rankedBackups(input, primary);
  const backups = {
    total: ranked.length,
    otherZone: ranked.filter((b) => b.proximity !== 'same-zone').length,
    otherRegion: ranked.filter((b) => b.proximity === 'other-region').length,
  };

  const current = primaryOf(input.routing);
  if (current && current !== primary) {
    risk = true;
    reasons.push(`${current} carries traffic but is unhealthy; counted against ${primary}`);
  }
  if (backups.total < required.total) {
    below = true;
    reasons.push(`${backups.total} healthy backup(s), redundancy_level ${required.total}`);
  }
  if (backups.otherZone < required.otherZone) {
    below = true;
    reasons.push(`${backups.otherZone} healthy backup(s) outside zone ${p.zone}, other_zone_backups ${required.otherZone}`);
  }
  if (backups.otherRegion < required.otherRegion) {
    below = true;
    reasons.push(`${backups.otherRegion} healthy backup(s) outside region ${p.region}, other_region_backups ${required.otherRegion}`);
  }
  // Exposures the policy does not require away but an operator should see: each is fixable, since the config has the spread.
  if (backups.total > 0 && backups.otherZone === 0 && dests.some((d) => d.zone !== p.zone)) {
    risk = true;
    reasons.push(`every healthy backup is in zone ${p.zone}: losing that zone loses the service`);
  }
  if (backups.total > 0 && backups.otherRegion === 0 && dests.some((d) => d.region !== p.region) && required.otherRegion === 0) {
    reasons.push(`no healthy backup outside region ${p.region}`);
  }
  for (const t of byTier) {
    if (t.healthy.length === 0) {
      risk = true;
      reasons.push(`tier ${t.key} has no healthy destination (${t.total} configured)`);
    }
  }
  if (input.strategy === 'active-active' && healthyDests.length > 1) {
    // N+1: losing the biggest healthy destination must not exhaust capacity.
    const biggest = [...healthyDests].sort((a, b) => b.weight - a.weight || a.id.localeCompare(b.id))[0]!;
    const unhealthy = dests.filter((d) => !healthy.has(d.id) || d.id === biggest.id).map((d) => d.id);
    const after = distribute({
      destinations: dests,
      excluded: unhealthy,
      mode: policy.load_distribution,
      maxEjectPercent: policy.max_eject_percent,
      maxLoadFactor: policy.max_load_factor,
      offeredLoad: policy.offered_load,
    });
    if (after.verdict === 'capacity-exhausted') {
      risk = true;
      reasons.push(`losing ${biggest.id} would exhaust capacity (short by ${Math.round(after.shortfall * 100) / 100})`);
    }
  }

  const verdict: RedundancyVerdict = below ? 'below-level' : risk ? 'at-risk' : 'ok';
  if (verdict === 'ok') reasons.unshift(`${backups.total} healthy backup(s) for ${primary} (level ${required.total})`);
  return {
    verdict,
    reasons,
    primary,
    healthy: healthyDests.length,
    total: dests.length,
    backups,
    required,
    byTier,
    byZone,
    byRegion,
    diversity,
    ranked,
    selected: selectBackups(ranked, required),
  };
}

export interface DrainVerdict {
  /** True when the drain keeps every redundancy requirement; false means it needs an approval. */
  allowed: boolean;
  reasons: string[];
  before: RedundancyAssessment;
  after: RedundancyAssessment;
}

/**
 * Invariant: a drain never takes a service below its redundancy requirements without an approval.
 * A drain that lowers no count (the destinations are already unhealthy) is always allowed; one that
 * would leave nothing healthy is never allowed without approval.
 */
export function mayDrainWithoutApproval(input: RedundancyInput, drain: readonly string[]): DrainVerdict {
  const unknown = drain.filter((id) => !input.service.destinations.some((d) => d.id === id));
  const before = assessRedundancy(input);
  const healthyAfter = new Set([...input.healthy].filter((id) => !drain.includes(id)));
  const after = assessRedundancy({ ...input, healthy: healthyAfter });
  if (unknown.length > 0) {
    return { allowed: false, reasons: [`unknown destination(s): ${unknown.join(', ')}`], before, after };
  }
  const reasons: string[] = [];
  if (after.healthy === 0) reasons.push(`draining ${drain.join(', ')} leaves no healthy destination`);
  const dims = [
    ['backups', 'total', 'redundancy_level'],
    ['backups outside the primary zone', 'otherZone', 'other_zone_backups'],
    ['backups outside the primary region', 'otherRegion', 'other_region_backups'],
  ] as const;
  for (const [label, key, setting] of dims) {
    const b = before.backups[key];
    const a = after.healthy === 0 ? 0 : after.backups[key];
    const need = after.required[key];
    if (a < b && a < need) reasons.push(`${label}: ${b} → ${a}, ${setting} ${need}`);
  }
  if (reasons.length > 0) return { allowed: false, reasons: [...reasons, 'needs approval'], before, after };
  const lowered = before.healthy !== after.healthy;
  return {
    allowed: true,
    reasons: [
      lowered
        ? `${after.backups.total} healthy backup(s) remain (level ${after.required.total})`
        : `${drain.join(', ')} not healthy now; draining lowers nothing`,
    ],
    before,
    after,
  };
}
