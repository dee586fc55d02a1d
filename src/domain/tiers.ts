import type { Policy, ServiceConfig } from './config';
import { distribute, type Distribution, type DistributionInput } from './distribution';
import { rankCandidates, type Candidate } from './plan';
import { allTo, fullWeight, primaryOf, type Routing } from './routing';

/**
 * Multi-level failover: targets are tried same zone → other zone → other region (then by tier),
 * with rules on entering a region that carries no traffic yet; and whole-zone / whole-region
 * evacuation planned as one change.
 */

export interface TierRules {
  /** Automatic (detection-started) failovers never start sending traffic into another region. */
  neverCrossRegionAutomatically: boolean;
  /** Entering another region waits for an approval. */
  approvalForCrossRegion: boolean;
}

export function tierRulesOf(exec: Pick<Policy['failover_execution'], 'never_cross_region_automatically' | 'approval_for_cross_region'>): TierRules {
  return { neverCrossRegionAutomatically: exec.never_cross_region_automatically, approvalForCrossRegion: exec.approval_for_cross_region };
}

export type Trigger = 'automatic' | 'manual';

export interface RuleCheck {
  allowed: boolean;
  approvalRequired: boolean;
  reasons: string[];
}

/** Rules for a change that starts sending traffic into `newRegions` (regions carrying none now). */
export function checkRegionEntry(newRegions: readonly string[], trigger: Trigger, rules: TierRules): RuleCheck {
  if (newRegions.length === 0) return { allowed: true, approvalRequired: false, reasons: [] };
  const where = newRegions.join(', ');
  if (trigger === 'automatic' && rules.neverCrossRegionAutomatically) {
    return {
      allowed: false,
      approvalRequired: false,
      reasons: [`would send traffic into region ${where}; never_cross_region_automatically: an operator must start that failover`],
    };
  }
  if (rules.approvalForCrossRegion) {
    return { allowed: true, approvalRequired: true, reasons: [`sends traffic into region ${where}; approval_for_cross_region: waits for approval`] };
  }
  return { allowed: true, approvalRequired: false, reasons: [`sends traffic into region ${where}`] };
}

export interface TargetOption extends Candidate {
  zone: string;
  region: string;
  allowed: boolean;
  approvalRequired: boolean;
  reasons: string[];
}

export interface TargetQuery {
  /** Down, degraded, drained or evacuated destinations. */
  unavailable?: ReadonlySet<string>;
  trigger: Trigger;
  rules: TierRules;
  /** Preferred order of ids (e.g. from adaptive ranking); proximity order otherwise. */
  order?: readonly string[];
}

/** Every possible target for traffic leaving `fromId`, best first, each with what the rules say about it. */
export function failoverTargets(service: ServiceConfig, fromId: string, q: TargetQuery): TargetOption[] {
  const from = service.destinations.find((d) => d.id === fromId);
  if (!from) return [];
  let candidates = rankCandidates(service, fromId, q.unavailable ?? new Set());
  if (q.order) {
    const pos = (id: string) => {
      const i = q.order!.indexOf(id);
      return i < 0 ? Number.MAX_SAFE_INTEGER : i;
    };
    candidates = candidates
      .map((c, i) => ({ c, i }))
      .sort((a, b) => pos(a.c.id) - pos(b.c.id) || a.i - b.i)
      .map(({ c }) => c);
  }
  return candidates.map((c) => {
    const d = service.destinations.find((x) => x.id === c.id)!;
    const check = checkRegionEntry(d.region === from.region ? [] : [d.region], q.trigger, q.rules);
    return { ...c, zone: d.zone, region: d.region, ...check };
  });
}

/** The first target that needs no approval; failing that, the first allowed one. */
export function chooseTarget(options: readonly TargetOption[]): { target?: TargetOption; reasons: string[] } {
  const target = options.find((o) => o.allowed && !o.approvalRequired) ?? options.find((o) => o.allowed);
  if (target) return { target, reasons: target.reasons };
  if (options.length === 0) return { reasons: ['no healthy destination to fail over to'] };
  return { reasons: options.map((o) => `${o.id} (${o.proximity}): ${o.reasons.join('; ')}`) };
}

export type Scope = { zone: string } | { region: string } | { destinations: readonly string[] };

export function describeScope(scope: Scope): string {
  if ('zone' in scope) return `zone ${scope.zone}`;
  if ('region' in scope) return `region ${scope.region}`;
  return scope.destinations.join(', ');
}

export function scopeMembers(service: ServiceConfig, scope: Scope): string[] {
  return service.destinations
    .filter((d) => ('zone' in scope ? d.zone === scope.zone : 'region' in scope ? d.region === scope.region : scope.destinations.includes(d.id)))
    .map((d) => d.id);
}

/** Regions of destinations with weight > 0, sorted. */
export function regionsCarrying(service: ServiceConfig, weights: Readonly<Record<string, number>>): string[] {
  return [...new Set(service.destinations.filter((d) => (weights[d.id] ?? 0) > 0).map((d) => d.region))].sort();
}

export interface WeightChange {
  id: string;
  from: number;
  to: number;
}

export function weightChanges(before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>): WeightChange[] {
  const ids = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return ids.map((id) => ({ id, from: before[id] ?? 0, to: after[id] ?? 0 })).filter((c) => c.from !== c.to);
}

/** Traffic moved from one destination to another, as a fraction of all traffic. */
export interface Flow {
  from: string;
  to: string;
  share: number;
}

/**
 * Decomposes a weight change into flows: each destination losing share sends it to the gaining
 * ones in proportion to what they gain. Deterministic; shares sum to the total moved.
 */
export function trafficFlows(before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>): Flow[] {
  const ids = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const sb = ids.reduce((a, id) => a + (before[id] ?? 0), 0);
  const sa = ids.reduce((a, id) => a + (after[id] ?? 0), 0);
  if (sb <= 0 || sa <= 0) return [];
  const delta = ids.map((id) => (after[id] ?? 0) / sa - (before[id] ?? 0) / sb);
  const moved = delta.reduce((a, d) => a + Math.max(0, d), 0);
  if (moved < 1e-12) return [];
  const flows: Flow[] = [];
  ids.forEach((from, i) => {
    if (delta[i]! >= 0) return;
    ids.forEach((to, j) => {
      if (delta[j]! <= 0) return;
      flows.push({ from, to, share: (-delta[i]! * delta[j]!) / moved });
    });
  });
  return flows;
}

export type DistributionOptions = Omit<DistributionInput, 'destinations' | 'unhealthy' | 'excluded'>;

export interface RuledDistribution {
  distribution: Distribution;
  check: RuleCheck;
  /** Regions traffic was kept inside because of never_cross_region_automatically. */
  confinedTo?: string[];
  blocked: boolean;
  reasons: string[];
}

/**
 * Active-active weights with the region rules applied: when the plain distribution would enter a
 * region carrying no traffic and the rules forbid it automatically, the distribution is recomputed
 * inside the current regions; blocked only when nothing there can take traffic.
 */
export function distributeWithRules(input: {
  service: ServiceConfig;
  routing: Routing;
  unhealthy?: readonly string[];
  excluded?: readonly string[];
  slowStart?: DistributionInput['slowStart'];
  trigger: Trigger;
  rules: TierRules;
  options?: DistributionOptions;
}): RuledDistribution {
  const { service } = input;
  const base = {
    ...input.options,
    destinations: service.destinations,
    unhealthy: input.unhealthy ?? [],
    ...(input.slowStart ? { slowStart: input.slowStart } : {}),
  };
  const plain = distribute({ ...base, excluded: input.excluded ?? [] });
  let home = regionsCarrying(service, input.routing.weights);
  if (home.length === 0) {
    const lowest = Math.min(...service.destinations.map((d) => d.tier));
    home = [...new Set(service.destinations.filter((d) => d.tier === lowest).map((d) => d.region))].sort();
  }
  const entering = regionsCarrying(service, plain.weights).filter((r) => !home.includes(r));
  const check = checkRegionEntry(entering, input.trigger, input.rules);
  if (check.allowed) return { distribution: plain, check, blocked: false, reasons: [...plain.reasons, ...check.reasons] };

  const outside = service.destinations.filter((d) => !home.includes(d.region)).map((d) => d.id);
  const confined = distribute({ ...base, excluded: [...new Set([...(input.excluded ?? []), ...outside])] });
  if (confined.verdict === 'no-healthy-destination') {
    return { distribution: plain, check, blocked: true, reasons: [...check.reasons, `nothing in region ${home.join(', ')} can take traffic`] };
  }
  const note = `kept inside region ${home.join(', ')} (never_cross_region_automatically; ${entering.join(', ')} left to an operator)`;
  return {
    distribution: confined,
    check: { allowed: true, approvalRequired: false, reasons: [note] },
    confinedTo: home,
    blocked: false,
    reasons: [...confined.reasons, note],
  };
}

export type ScopePlanVerdict = 'ok' | 'needs-approval' | 'blocked' | 'no-target';

export interface ScopePlan {
  scope: string;
  evacuated: string[];
  verdict: ScopePlanVerdict;
  reasons: string[];
  before: Record<string, number>;
  weights: Record<string, number>;
  changes: WeightChange[];
  flows: Flow[];
  regionsBefore: string[];
  regionsAfter: string[];
  /** Active-passive: the new primary. */
  target?: string;
  /** Active-active: the computed distribution. */
  distribution?: Distribution;
}

export interface ScopePlanInput {
  service: ServiceConfig;
  routing: Routing;
  scope: Scope;
  strategy: 'active-passive' | 'active-active';
  trigger: Trigger;
  rules: TierRules;
  /** Destinations known unhealthy outside the scope, in ejection order. */
  unhealthy?: readonly string[];
  distribution?: DistributionOptions;
  /** Preferred target order for active-passive (adaptive ranking). */
  order?: readonly string[];
}

/** Takes every destination of a zone / region / list out of service in one plan: target weights and the moves. */
export function planScopeFailover(input: ScopePlanInput): ScopePlan {
  const { service, routing } = input;
  const evacuated = scopeMembers(service, input.scope);
  const scope = describeScope(input.scope);
  const before = { ...routing.weights };
  const finish = (verdict: ScopePlanVerdict, weights: Record<string, number>, reasons: string[], extra: Partial<ScopePlan> = {}): ScopePlan => ({
    scope,
    evacuated,
    verdict,
    reasons,
    before,
    weights,
    changes: weightChanges(before, weights),
    flows: trafficFlows(before, weights),
    regionsBefore: regionsCarrying(service, before),
    regionsAfter: regionsCarrying(service, weights),
    ...extra,
  });
  if (evacuated.length === 0) return finish('no-target', before, [`${scope} has no destination in service ${service.name}`]);

  if (input.strategy === 'active-active') {
    const ruled = distributeWithRules({
      service,
      routing,
      unhealthy: (input.unhealthy ?? []).filter((id) => !evacuated.includes(id)),
      excluded: evacuated,
      trigger: input.trigger,
      rules: input.rules,
      ...(input.distribution ? { options: input.distribution } : {}),
    });
    const d = ruled.distribution;
    if (ruled.blocked) return finish('blocked', before, ruled.reasons, { distribution: d });
    if (d.verdict === 'no-healthy-destination')
      return finish('no-target', before, [`no healthy destination outside ${scope}`, ...d.reasons], { distribution: d });
    return finish(ruled.check.approvalRequired ? 'needs-approval' : 'ok', d.weights, [`evacuate ${scope}: ${evacuated.join(', ')}`, ...ruled.reasons], {
      distribution: d,
    });
  }

  const primary = primaryOf(routing);
  const cleared = Object.fromEntries(Object.entries(before).map(([id, w]) => [id, evacuated.includes(id) ? 0 : w]));
  if (!primary || !evacuated.includes(primary)) {
    return finish('ok', cleared, [`primary ${primary ?? '(none)'} is outside ${scope}; backups lost with it: ${evacuated.join(', ')}`]);
  }
  const unavailable = new Set([...evacuated, ...(input.unhealthy ?? [])]);
  const options = failoverTargets(service, primary, {
    unavailable,
    trigger: input.trigger,
    rules: input.rules,
    ...(input.order ? { order: input.order } : {}),
  });
  const choice = chooseTarget(options);
  if (!choice.target) return finish(options.length === 0 ? 'no-target' : 'blocked', before, [`no target for ${primary} outside ${scope}`, ...choice.reasons]);
  const t = choice.target;
  const weight = fullWeight(service.destinations.find((d) => d.id === t.id)!.weight);
  return finish(
    t.approvalRequired ? 'needs-approval' : 'ok',
    allTo(routing, t.id, weight),
    [`evacuate ${scope}: ${primary} → ${t.id} (${t.proximity}, tier ${t.tier})`, ...t.reasons],
    { target: t.id },
  );
}
