import type { DestinationConfig } from './config';

/**
 * Active-active weights. Traffic ("demand") is spread over the destinations of the preferred tier
 * in proportion to capacity (destination `weight`) or equally; no destination may be planned above
 * capacity × max_load_factor, and what a tier cannot carry spills to the next tier (Envoy-style
 * priority levels with an overprovisioning factor). Pure and deterministic.
 */

export type LoadDistribution = 'capacity' | 'equal';

/** HAProxy server weights are 0..256. */
export const MAX_ROUTER_WEIGHT = 256;
/** In `equal` mode every destination counts as this much capacity (the config's default weight). */
export const EQUAL_CAPACITY = 100;

export type DistributionMember = Pick<DestinationConfig, 'id' | 'tier' | 'weight'>;

export interface SlowStart {
  /** 1 = the first interval back. */
  step: number;
  steps: number;
}

export interface DistributionInput {
  destinations: readonly DistributionMember[];
  /** Unhealthy destinations, in ejection order (longest unhealthy first). */
  unhealthy?: readonly string[];
  /** Taken out on purpose (drain, zone evacuation, a rule): not subject to max_eject_percent. */
  excluded?: readonly string[];
  slowStart?: Readonly<Record<string, SlowStart>>;
  mode?: LoadDistribution;
  maxEjectPercent?: number;
  /** Planned load per destination never exceeds capacity × this. */
  maxLoadFactor?: number;
  /** Traffic relative to the full capacity of the preferred (lowest configured) tier. */
  offeredLoad?: number;
  maxWeight?: number;
}

export type MemberState =
  /** healthy and given traffic */
  | 'active'
  /** healthy, in rotation, but earlier tiers carry everything */
  | 'standby'
  /** unhealthy but kept in rotation: ejecting it would exceed max_eject_percent of its tier */
  | 'held'
  | 'ejected'
  /** unhealthy in a tier with no healthy member: the whole tier is out */
  | 'tier-down'
  | 'excluded'
  /** weight 0 in config */
  | 'no-capacity';

export interface MemberShare {
  id: string;
  tier: number;
  state: MemberState;
  /** Nominal capacity (weight, or EQUAL_CAPACITY in equal mode). */
  capacity: number;
  /** Capacity after slow start. */
  effectiveCapacity: number;
  /** Most load it may be planned to take: effectiveCapacity × maxLoadFactor. */
  limit: number;
  /** Expected load from the integer weights below: demand × weight / Σ weights. */
  load: number;
  /** load / capacity. */
  utilization: number;
  weight: number;
  slowStartFactor?: number;
}

export interface TierShare {
  tier: number;
  members: string[];
  healthy: string[];
  ejected: string[];
  held: string[];
  /** Σ effective capacity in rotation. */
  capacity: number;
  limit: number;
  /** Load planned onto this tier. */
  load: number;
}

export type DistributionVerdict =
  /** all traffic on the preferred tier */
  | 'ok'
  /** some traffic spilled to a later tier */
  | 'spilled'
  /** even all tiers together cannot carry the demand within the load bound */
  | 'capacity-exhausted'
  | 'no-healthy-destination';

export interface Distribution {
  verdict: DistributionVerdict;
  weights: Record<string, number>;
  members: MemberShare[];
  tiers: TierShare[];
  demand: number;
  /** Demand placed within the load bound. */
  carried: number;
  /** Demand that no tier could take within the bound. */
  shortfall: number;
  reasons: string[];
}

const EPS = 1e-9;

/**
 * Largest-remainder (Hamilton) apportionment of `total` integer units in proportion to `values`.
 * Ties go to the lower index, so the result depends only on the input order. With `minOne`, every
 * positive value gets at least 1 (a router weight of 0 would mean "no traffic"), taken from the largest.
 */
export function apportion(values: readonly number[], total: number, minOne = false): number[] {
  const sum = values.reduce((a, v) => a + Math.max(0, v), 0);
  if (sum <= 0 || total <= 0) return values.map(() => 0);
  const quotas = values.map((v) => Math.round((Math.max(0, v) * total * 1e9) / sum) / 1e9);
  const out = quotas.map((q) => Math.floor(q));
  let left = total - out.reduce((a, v) => a + v, 0);
  const order = quotas.map((q, i) => i).sort((a, b) => quotas[b]! - Math.floor(quotas[b]!) - (quotas[a]! - Math.floor(quotas[a]!)) || a - b);
  for (const i of order) {
    if (left <= 0) break;
    out[i]! += 1;
    left -= 1;
  }
  if (minOne) {
    for (let i = 0; i < out.length; i++) {
      if (values[i]! > 0 && out[i] === 0) {
        let donor = -1;
        out.forEach((w, j) => {
          if (w > 1 && (donor < 0 || w > out[donor]!)) donor = j;
        });
        if (donor < 0) break;
        out[donor]! -= 1;
        out[i] = 1;
      }
    }
  }
  return out;
}

/**
 * Share of full weight at slow-start step k of N: (k/N)^(1/aggression), at least minFraction.
 * Step ≤ 0 means not back yet (0); step ≥ N, or N ≤ 0, means full weight.
 */
export function slowStartFactor(step: number, steps: number, aggression = 1, minFraction = 0): number {
  if (steps <= 0 || step >= steps) return 1;
  if (step <= 0) return 0;
  return Math.max(minFraction, Math.pow(step / steps, 1 / aggression));
}

/** Weight of a returning destination at slow-start step k of N; never 0 once it is back (k ≥ 1). */
export function slowStartWeight(fullWeight: number, step: number, steps: number, aggression = 1): number {
  const f = slowStartFactor(step, steps, aggression);
  if (f === 0 || fullWeight <= 0) return 0;
  return Math.max(1, Math.round(fullWeight * f));
}

/** Most members of a tier that may be ejected at once: max_eject_percent, but always at least one (as Envoy does). */
export function ejectionLimit(members: number, maxEjectPercent: number): number {
  return Math.max(1, Math.floor((members * maxEjectPercent) / 100 + EPS));
}

export function capacityOf(d: DistributionMember, mode: LoadDistribution): number {
  if (d.weight <= 0) return 0;
  return mode === 'equal' ? EQUAL_CAPACITY : d.weight;
}

/** Demand in capacity units: offeredLoad × the full capacity of the lowest tier that has any. */
export function nominalDemand(destinations: readonly DistributionMember[], mode: LoadDistribution, offeredLoad: number): number {
  const tiers = [...new Set(destinations.map((d) => d.tier))].sort((a, b) => a - b);
  for (const t of tiers) {
    const cap = destinations.filter((d) => d.tier === t).reduce((a, d) => a + capacityOf(d, mode), 0);
    if (cap > 0) return cap * offeredLoad;
  }
  return 0;
}

export function distribute(input: DistributionInput): Distribution {
  const mode = input.mode ?? 'capacity';
  const factor = input.maxLoadFactor ?? 1.4;
  const maxEject = input.maxEjectPercent ?? 50;
  const maxWeight = input.maxWeight ?? MAX_ROUTER_WEIGHT;
  const unhealthyOrder = [...new Set(input.unhealthy ?? [])];
  const unhealthy = new Set(unhealthyOrder);
  const excluded = new Set(input.excluded ?? []);
  const dests = [...input.destinations].sort((a, b) => a.tier - b.tier || a.id.localeCompare(b.id));
  const demand = nominalDemand(dests, mode, input.offeredLoad ?? 1);
  const reasons: string[] = [];

  const planned = new Map<string, number>();
  const shares = new Map<string, Omit<MemberShare, 'load' | 'utilization' | 'weight'>>();
  const tiers: TierShare[] = [];
  let remaining = demand;
  const firstTier = dests.find((d) => capacityOf(d, mode) > 0)?.tier;
  let spilled = false;

  for (const tier of [...new Set(dests.map((d) => d.tier))]) {
    const members = dests.filter((d) => d.tier === tier);
    const serving = members.filter((d) => !excluded.has(d.id) && capacityOf(d, mode) > 0);
    const healthy = serving.filter((d) => !unhealthy.has(d.id));
    const sick = unhealthyOrder.map((id) => serving.find((d) => d.id === id)).filter((d): d is DistributionMember => !!d);
    const limit = ejectionLimit(serving.length, maxEject);
    const tierDown = healthy.length === 0;
    const ejected = tierDown ? [] : sick.slice(0, limit);
    const held = tierDown ? [] : sick.slice(limit);
    if (held.length > 0) {
      reasons.push(
        `tier ${tier}: ${held.map((d) => d.id).join(', ')} unhealthy but kept in rotation (max_eject_percent ${maxEject} allows ${limit} of ${serving.length} ejected)`,
      );
    }
    if (tierDown && sick.length > 0)
      reasons.push(`tier ${tier}: no healthy destination (${sick.map((d) => d.id).join(', ')} unhealthy); its traffic spills over`);

    const rotation = [...healthy, ...held].sort((a, b) => a.id.localeCompare(b.id));
    const effective = new Map(
      rotation.map((d) => {
        const s = input.slowStart?.[d.id];
        return [d.id, capacityOf(d, mode) * (s ? slowStartFactor(s.step, s.steps) : 1)];
      }),
    );
    const tierCap = [...effective.values()].reduce((a, v) => a + v, 0);
    const tierLimit = tierCap * factor;
    const carry = Math.min(remaining, tierLimit);
    if (carry > EPS && tier !== firstTier) spilled = true;
    remaining -= carry;
    if (remaining < EPS) remaining = 0;

    for (const d of members) {
      const cap = capacityOf(d, mode);
      const eff = effective.get(d.id) ?? 0;
      const load = tierCap > 0 ? (carry * eff) / tierCap : 0;
      planned.set(d.id, load);
      const s = input.slowStart?.[d.id];
      const state: MemberState = excluded.has(d.id)
        ? 'excluded'
        : cap === 0
          ? 'no-capacity'
          : tierDown
            ? 'tier-down'
            : ejected.includes(d)
              ? 'ejected'
              : held.includes(d)
                ? 'held'
                : load > EPS
                  ? 'active'
                  : 'standby';
      shares.set(d.id, {
        id: d.id,
        tier,
        state,
        capacity: cap,
        effectiveCapacity: eff,
        limit: eff * factor,
        ...(s && effective.has(d.id) && slowStartFactor(s.step, s.steps) < 1 ? { slowStartFactor: slowStartFactor(s.step, s.steps) } : {}),
      });
    }
    tiers.push({
      tier,
      members: members.map((d) => d.id),
      healthy: healthy.map((d) => d.id),
      ejected: ejected.map((d) => d.id),
      held: held.map((d) => d.id),
      capacity: tierCap,
      limit: tierLimit,
      load: carry,
    });
  }

  const carried = demand - remaining;
  const loads = dests.map((d) => planned.get(d.id) ?? 0);
  const peak = Math.max(0, ...loads);
  const scale = peak > maxWeight ? maxWeight / peak : 1;
  const positive = loads.filter((l) => l > EPS).length;
  // Rounding the total up could lift the heaviest destination past the router's maximum.
  let total = Math.round(carried * scale);
  if (carried > 0 && (peak * scale * total) / (carried * scale) > maxWeight) total = Math.floor(carried * scale + EPS);
  total = Math.max(total, positive);
  const ints = apportion(
    loads.map((l) => (l > EPS ? l : 0)),
    total,
    true,
  );
  const weights = Object.fromEntries(dests.map((d, i) => [d.id, ints[i]!]));
  const weightSum = ints.reduce((a, v) => a + v, 0);

  let verdict: DistributionVerdict;
  if (carried <= EPS) {
    verdict = 'no-healthy-destination';
    reasons.push(demand > 0 ? 'no healthy destination in any tier can take traffic' : 'no destination has capacity');
  } else if (remaining > 0) {
    verdict = 'capacity-exhausted';
    reasons.push(
      `capacity exhausted: demand ${fmt(demand)} exceeds the ${fmt(carried)} all tiers can carry at max_load_factor ${factor} (short by ${fmt(remaining)}); every destination in rotation will run above its limit`,
    );
  } else verdict = spilled ? 'spilled' : 'ok';
  if (verdict === 'spilled') {
    reasons.push(
      `spillover: ${tiers
        .filter((t) => t.load > EPS && t.tier !== firstTier)
        .map((t) => `tier ${t.tier} takes ${fmt(t.load)}`)
        .join(', ')} of ${fmt(demand)}`,
    );
  }

  const members: MemberShare[] = dests.map((d) => {
    const share = shares.get(d.id)!;
    const w = weights[d.id]!;
    const load = weightSum > 0 ? (demand * w) / weightSum : 0;
    return { ...share, weight: w, load, utilization: share.capacity > 0 ? load / share.capacity : 0 };
  });
  return { verdict, weights, members, tiers, demand, carried, shortfall: remaining, reasons };
}

function fmt(n: number): string {
  return String(Math.round(n * 100) / 100);
}
