import { durationToMs } from './duration';

/**
 * The seed spec's configuration vocabulary (the "Failover Manager" examples) mapped onto this
 * project's own keys before validation. A seed key either sets a project key (and is refused when
 * the same file sets that key to something else), or stays in the config where it has an effect of
 * its own, or is accepted and reported by `seedKeyWarnings` when it cannot act here. The README's
 * table "Seed keys" lists every one of them with its effect.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Keys the mapping consumes (they never reach the schema), per section: known keys for "did you mean". */
export const CONSUMED_SEED_KEYS: Record<string, readonly string[]> = {
  failover_detection: ['learning'],
  redundancy_management: ['health_monitoring', 'optimization', 'multi_level_redundancy'],
  performance: ['timeout'],
  quality: ['error_recovery', 'data_integrity'],
};

const STRATEGIES = ['active-passive', 'active-active', 'automatic', 'intelligent', 'manual'];

/** What `failover_strategy: automatic|intelligent|manual` means in project keys. */
const STRATEGY_MEANS: Record<string, { automatic_failover: boolean; target_selection?: 'proximity' | 'intelligent' }> = {
  automatic: { automatic_failover: true, target_selection: 'proximity' },
  intelligent: { automatic_failover: true, target_selection: 'intelligent' },
  manual: { automatic_failover: false },
};

const show = (v: unknown) => JSON.stringify(v) ?? String(v);

class Normalizer {
  readonly problems: string[] = [];
  /** Where an implied value came from, to name the real source in a contradiction. */
  private readonly origin = new Map<string, string>();
  readonly fm: Obj;

  /** `at`: where the policy sits, for messages (`failover_manager`, or a service's `services[0].policy`). */
  constructor(
    fm: Obj,
    private readonly at = 'failover_manager',
  ) {
    this.fm = { ...fm };
  }

  /** A copy of a section, put back into the policy on first use; undefined when it is not an object. */
  section(name: string, create = false): Obj | undefined {
    const s = this.fm[name];
    if (s === undefined && !create) return undefined;
    if (s !== undefined && !isObj(s)) return undefined;
    const copy = { ...(s ?? {}) };
    this.fm[name] = copy;
    return copy;
  }

  /** Removes a seed key and returns its value when it is a boolean; a problem otherwise. */
  takeBool(section: string, key: string): boolean | undefined {
    const s = this.section(section);
    if (!s || !(key in s)) return undefined;
    const v = s[key];
    delete s[key];
    if (typeof v === 'boolean') return v;
    this.problems.push(`${this.at}.${section}.${key}: expected true or false (got ${show(v)})`);
    return undefined;
  }

  private contradiction(section: string, key: string, written: unknown, source: string, means: unknown): void {
    const from = this.origin.get(`${section}.${key}`);
    this.problems.push(
      `${this.at}.${section}.${key}: ${show(written)}${from ? ` (from ${from})` : ''} contradicts ${source} (it means ${key}: ${show(means)}); keep one of them`,
    );
  }

  /** Sets `section.key` to `value` unless the file says otherwise, which is a contradiction. */
  imply(section: string, key: string, value: unknown, source: string, same: (a: unknown, b: unknown) => boolean = (a, b) => a === b): void {
    const s = this.section(section, true);
    if (!s) return; // not an object: the schema names that problem
    if (key in s) {
      if (!same(s[key], value)) this.contradiction(section, key, s[key], source, value);
      return;
    }
    s[key] = value;
    this.origin.set(`${section}.${key}`, source);
  }

  /** Same for a seed-style flag (`true`, `false` or `{enabled, …}`): only whether it is on is implied. */
  implyFlag(section: string, key: string, on: boolean, source: string): void {
    const s = this.section(section, true);
    if (!s) return;
    const v = s[key];
    if (v === undefined) {
      s[key] = on;
      this.origin.set(`${section}.${key}`, source);
      return;
    }
    const enabled = typeof v === 'boolean' ? v : isObj(v) ? (v.enabled ?? true) : undefined;
    if (enabled === undefined) return; // a bad value: the schema names it
    if (enabled !== on) this.contradiction(section, key, v, source, on);
  }
}

/**
 * Rewrites the seed keys of a config document into project keys; the document itself is not
 * changed (the live config keeps it as written). `problems` are contradictions and bad seed values,
 * in the same `path: message` form as schema problems.
 */
export function normalizeSeedKeys(data: unknown): { doc: unknown; problems: string[] } {
  if (!isObj(data)) return { doc: data, problems: [] };
  const problems: string[] = [];
  const doc: Obj = { ...data };
  if (isObj(data.failover_manager)) {
    const n = normalizePolicy(data.failover_manager, 'failover_manager');
    doc.failover_manager = n.fm;
    problems.push(...n.problems);
  }
  // A service's own policy keys may be written in the seed vocabulary too.
  if (Array.isArray(data.services)) {
    doc.services = data.services.map((svc: unknown, i) => {
      if (!isObj(svc) || !isObj(svc.policy)) return svc;
      const n = normalizePolicy(svc.policy, `services[${i}].policy`);
      problems.push(...n.problems);
      return { ...svc, policy: n.fm };
    });
  }
  return { doc, problems };
}

function normalizePolicy(policy: Obj, at: string): Normalizer {
  const n = new Normalizer(policy, at);

  const exec = n.section('failover_execution');
  const strategy = exec?.failover_strategy;
  if (exec && strategy !== undefined && !(typeof strategy === 'string' && STRATEGIES.includes(strategy))) {
    n.problems.push(`${at}.failover_execution.failover_strategy: expected one of ${STRATEGIES.map((s) => `"${s}"`).join(', ')} (got ${show(strategy)})`);
    delete exec.failover_strategy;
  } else if (exec && typeof strategy === 'string' && STRATEGY_MEANS[strategy]) {
    // automatic / intelligent / manual say how failovers start and pick targets; the topology stays active-passive.
    delete exec.failover_strategy;
    const means = STRATEGY_MEANS[strategy]!;
    const source = `failover_execution.failover_strategy ${show(strategy)}`;
    n.imply('failover_execution', 'automatic_failover', means.automatic_failover, source);
    if (means.target_selection) n.imply('failover_execution', 'target_selection', means.target_selection, source);
  }

  const learning = n.takeBool('failover_detection', 'learning');
  if (learning !== undefined)
    n.imply('failover_execution', 'target_selection', learning ? 'intelligent' : 'proximity', `failover_detection.learning ${learning}`);

  const recoveryStrategy = n.section('recovery_management')?.recovery_strategy;
  if (recoveryStrategy === 'automatic' || recoveryStrategy === 'intelligent' || recoveryStrategy === 'manual') {
    n.imply('recovery_management', 'automatic_recovery', recoveryStrategy !== 'manual', `recovery_management.recovery_strategy ${show(recoveryStrategy)}`);
  }

  const red = n.section('redundancy_management');
  if (red && typeof red.load_distribution === 'boolean') red.load_distribution = red.load_distribution ? 'capacity' : 'equal';
  const monitor = n.takeBool('redundancy_management', 'health_monitoring');
  if (monitor !== undefined) n.imply('supervision', 'redundancy', monitor, `redundancy_management.health_monitoring ${monitor}`);
  const optimization = n.takeBool('redundancy_management', 'optimization');
  if (optimization !== undefined) n.imply('redundancy_management', 'rebalance', optimization, `redundancy_management.optimization ${optimization}`);
  const multiLevel = n.takeBool('redundancy_management', 'multi_level_redundancy');
  if (multiLevel !== undefined) {
    const source = `redundancy_management.multi_level_redundancy ${multiLevel}`;
    // true: of the backups, at least one outside the primary's zone and one outside its region.
    const atLeastOne = (a: unknown) => typeof a === 'number' && a >= 1;
    const none = (a: unknown) => a === 0;
    for (const key of ['other_zone_backups', 'other_region_backups']) {
      n.imply('redundancy_management', key, multiLevel ? 1 : 0, source, multiLevel ? atLeastOne : none);
    }
  }

  const perf = n.section('performance');
  if (perf && 'timeout' in perf) {
    const timeout = perf.timeout;
    delete perf.timeout;
    if (typeof timeout !== 'string' || durationToMs(timeout) === undefined) {
      n.problems.push(`${at}.performance.timeout: expected a duration such as "500ms", "30s" or "5m" (got ${show(timeout)})`);
    } else {
      const sameDuration = (a: unknown, b: unknown) => typeof a === 'string' && durationToMs(a) === durationToMs(b as string);
      n.imply('failover_execution', 'step_timeout', timeout, `performance.timeout ${show(timeout)}`, sameDuration);
    }
  }

  const errorRecovery = n.takeBool('quality', 'error_recovery');
  if (errorRecovery !== undefined) n.implyFlag('failover_execution', 'rollback_support', errorRecovery, `quality.error_recovery ${errorRecovery}`);
  const integrity = n.takeBool('quality', 'data_integrity');
  if (integrity !== undefined) n.implyFlag('failover_execution', 'consistency_check', integrity, `quality.data_integrity ${integrity}`);
  return n;
}

/** The part of a validated config the warnings look at (kept structural so this module needs no schema). */
export interface WarnableConfig {
  failover_manager: {
    failover_execution: { failover_strategy: string; performance_monitoring?: boolean | undefined };
    recovery_management: { health_monitoring?: boolean | undefined; health_validation?: boolean | undefined };
    redundancy_management: { rebalance: boolean; resource_management?: boolean | undefined };
    performance: { caching?: boolean | undefined; parallel_processing?: boolean | undefined; optimization?: boolean | undefined };
    quality: { quality_metrics?: boolean | undefined };
  };
  services: readonly unknown[];
}

/**
 * Keys that are accepted but cannot do what they ask here, each with why: printed when a config is
 * loaded (worker start, `npm start`, `config check`/`apply`), never silently ignored.
 */
export function seedKeyWarnings(config: WarnableConfig): string[] {
  const p = config.failover_manager;
  const out: string[] = [];
  const metricsLater =
    'runbook metrics are not exported by this version; every runbook result and history already records its RTO, RPO and each step with its duration';
  if (p.failover_execution.performance_monitoring === true) out.push(`failover_execution.performance_monitoring: true has no effect yet: ${metricsLater}`);
  if (p.quality.quality_metrics === true) out.push(`quality.quality_metrics: true has no effect yet: ${metricsLater}`);
  if (p.recovery_management.health_monitoring === false) {
    out.push(
      'recovery_management.health_monitoring: false has no effect: detection always keeps probing every destination, ' +
        'failed ones too, to resync and fail back (automatic_recovery: false stops failback)',
    );
  }
  if (p.recovery_management.health_validation === false) {
    out.push(
      'recovery_management.health_validation: false has no effect: a recovery always probes the destination validation_intervals times ' +
        'before it resyncs or fails back (validation_intervals: 1 is the shortest check)',
    );
  }
  if (p.redundancy_management.resource_management === false) {
    out.push(
      'redundancy_management.resource_management: false has no effect: load is always planned within capacity × max_load_factor, the rest spilling to the next tier',
    );
  }
  if (p.redundancy_management.rebalance && p.failover_execution.failover_strategy !== 'active-active') {
    out.push(
      'redundancy_management.rebalance (seed key: optimization) true has no effect with an active-passive strategy: ' +
        'only active-active weights drift; the redundancy runbook still reports and alerts',
    );
  }
  if (p.performance.caching === true) {
    out.push(
      'performance.caching: true has no effect: nothing is cached on purpose; every runbook step reads the router and probes live, which compare-and-set routing relies on',
    );
  }
  if (p.performance.parallel_processing === false) {
    out.push('performance.parallel_processing: false has no effect: destinations are always probed concurrently and services are watched independently');
  }
  if (p.performance.optimization === true) {
    out.push(
      'performance.optimization: true has no effect: there is no optional optimisation to turn on (probing already runs inside one long-lived watch per service)',
    );
  }
  if (config.services.length === 0)
    out.push('services: none configured; workers supervise nothing until a config with services is applied (failover config apply FILE)');
  return out;
}
