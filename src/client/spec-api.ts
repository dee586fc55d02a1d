import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { routerFor } from '../drivers';
import { runProbe } from '../drivers/probes';
import type { ProbeResult } from '../drivers/probes/types';
import { healthQuery } from '../api/queries';
import { policyOf, type Policy, type ServiceConfig } from '../domain/config';
import { distribute } from '../domain/distribution';
import { durationSchema, requireMs } from '../domain/duration';
import { initialHealth, observe, type DestinationHealth, type HealthThresholds } from '../domain/health';
import { assessRedundancy, type RedundancyAssessment } from '../domain/redundancy';
import { fullWeight, primaryOf, sameWeights, type Routing } from '../domain/routing';
import { failoverInputSchema, rebalanceInputSchema, recoveryInputSchema } from '../domain/runbook-input';
import { healthThresholdsOf, planFailover, type DryRunVerdict } from '../domain/simulate';
import { isResyncing, replicates, syncStates, type SyncVerdict } from '../domain/sync';
import { detectionWorkflowId } from '../domain/workflow-ids';
import { InvalidInputError, parseOrThrow } from '../domain/validation';
import { actorFor, type Core } from './core';
import { redundancyStatus, RouterUnreadableError } from './observe';
import { runningUnder } from './runs';
import { launch, runbookInput, type TriggerInput, type TriggerOutcome } from './trigger';

/**
 * The Failover Manager spec's four functions — detectFailover, executeFailover, manageRecovery,
 * manageRedundancy — with its parameter and result shapes, over the project's probes, domain
 * logic and runbooks: the same lock (one mutating runbook per service), the same validation and
 * the same records (reason, actor, steps) as the CLI and the MCP tools.
 */

// ---------------------------------------------------------------------------------------------
// Shapes

/** A destination of a configured service. In requests only `service` and `id` are needed. */
export interface Destination {
  service: string;
  id: string;
  zone?: string;
  region?: string;
  tier?: number;
  weight?: number;
}

/** A destination as the manager knows it (what results carry). */
export interface ResolvedDestination extends Destination {
  zone: string;
  region: string;
  tier: number;
  weight: number;
}

export interface DestinationHealthReport extends ResolvedDestination {
  status: 'up' | 'degraded' | 'down';
  /** Share of passing probes in this check, 0..1 (a slow answer counts half). */
  score: number;
  /** Probes made in this check. */
  probes: number;
  consecutiveFailures: number;
  latencyMs?: number;
  error?: string;
  /** Weight in the live routing. */
  routed: number;
  /** Whether it is a copy of the primary ("primary" for the one carrying traffic). */
  sync: SyncVerdict | { state: 'primary' };
}

export interface HealthStatus {
  /** failed: traffic is on a destination that is down; degraded: some destination is down or slow. */
  overall: 'healthy' | 'degraded' | 'failed';
  checkedAt: string;
  destinations: DestinationHealthReport[];
}

export interface FailoverRecommendation {
  service: string;
  action: 'failover' | 'rebalance' | 'recovery' | 'resync' | 'restore-redundancy' | 'none';
  destination?: string;
  /** Where traffic would go (failover). */
  target?: string;
  /** The dry-run plan's verdict (failover / rebalance). */
  verdict?: DryRunVerdict;
  reasons: string[];
  /** Arguments for `failover.trigger` (MCP) / `trigger` (this API) that carry it out. */
  trigger?: TriggerInput;
}

export interface FailoverDetectionConfig {
  /** Health score (0..1) below which a destination counts as degraded. Default: the service's policy. */
  healthThreshold?: number;
  /** Consecutive failed probes before a destination is down. Default: the service's policy. */
  failureThreshold?: number;
  /** Between probes: milliseconds, or a duration such as "500ms". Default: the service's policy. */
  detectionInterval?: number | string;
  /** Per probe: milliseconds or a duration. Default: the service's policy. */
  timeout?: number | string;
}

export interface FailoverDetectionResult {
  failoverNeeded: boolean;
  failedDestinations: ResolvedDestination[];
  healthStatus: HealthStatus;
  recommendations: FailoverRecommendation[];
}

export type FailoverStrategy = 'active-passive' | 'active-active';

export interface FailoverExecutionConfig {
  /** When given, must be the service's strategy (change it with failover.define). */
  failoverStrategy?: FailoverStrategy;
  /** When given, must match the service's policy: a call cannot switch the consistency gate off. */
  dataSync?: boolean;
  consistencyCheck?: boolean;
  /** Probe the destinations carrying traffic afterwards and report their latency. */
  performanceMonitoring?: boolean;
  /** A planned switchover: the source must be healthy and nothing acknowledged may be lost. */
  planned?: boolean;
  /** Promote a target known not to hold all of the source's data; the estimate is recorded. */
  acceptDataLoss?: boolean;
  reason?: string;
  actor?: string;
  /** Wait for the runbook's end (default true) at most this long (default 120 s). */
  wait?: boolean;
  waitSeconds?: number;
}

export type FailoverStatus = 'completed' | 'rolled-back' | 'failed' | 'running' | 'started';

export interface SyncStatus {
  /** The service's destinations replicate (single writer). */
  replicated: boolean;
  /** What the switch may have lost, in the driver's units (bytes for Redis); null when unknown. */
  rpo: { lag: number | null; note: string; acceptedLoss?: { by: string; estimate: number | null } } | null;
  state: 'no-loss' | 'bounded-loss' | 'unknown-loss' | 'not-replicated' | 'not-finished';
}

export interface PerformanceMetrics {
  /** Runbook start to traffic moved. */
  rtoMs?: number;
  /** Call start to its end. */
  durationMs: number;
  steps?: number;
  /** Probe latency of each destination carrying traffic afterwards (performanceMonitoring). */
  latencyMs?: Record<string, number>;
}

export interface RunRef {
  workflowId: string;
  runId: string;
  webUi: string;
}

export interface FailoverExecutionResult {
  failoverStatus: FailoverStatus;
  /** Destinations carrying traffic afterwards. */
  activeDestinations: ResolvedDestination[];
  syncStatus: SyncStatus;
  performance: PerformanceMetrics;
  /** The runbook's own outcome (switched, rolled-back, …) and reasons it failed. */
  outcome?: string;
  failure?: { type?: string; message: string };
  run: RunRef;
}

export type RecoveryStrategy = 'failback' | 'standby';

export interface RecoveryManagementConfig {
  /** failback (default): resync, then move traffic back; standby: resync only, traffic stays. */
  recoveryStrategy?: RecoveryStrategy;
  /** Probe first and leave a destination that is still down alone (default true). */
  healthMonitoring?: boolean;
  /** Afterwards, the destination must answer within quality.max_latency (default false). */
  performanceValidation?: boolean;
  /** false: report what would be done and start nothing (default true). */
  automaticRecovery?: boolean;
  reason?: string;
  actor?: string;
  waitSeconds?: number;
}

export type RecoveryStatus = 'recovered' | 'partially-recovered' | 'not-recovered' | 'pending';

export interface RecoveryAttempt {
  service: string;
  id: string;
  outcome: 'failed-back' | 'standby-restored' | 'rolled-back' | 'failed' | 'still-down' | 'pending' | 'running' | 'degraded';
  reasons: string[];
  durationMs?: number;
  latencyMs?: number;
  run?: RunRef;
}

export interface RecoveryManagementResult {
  recoveryStatus: RecoveryStatus;
  recoveredDestinations: ResolvedDestination[];
  healthStatus: HealthStatus;
  performance: { durationMs: number; attempts: RecoveryAttempt[] };
}

export interface RedundancyManagementConfig {
  /** Healthy backups to require (default: the service's redundancy_level). */
  redundancyLevel?: number;
  /** Report the planned load distribution against the current weights (default true). */
  loadDistribution?: boolean;
  /** Probe now (default true); false: take detection's current view when it runs. */
  healthMonitoring?: boolean;
  /** Active-active: start a rebalance when the weights drifted from the plan (default false). */
  optimization?: boolean;
  reason?: string;
  actor?: string;
  waitSeconds?: number;
}

export interface RedundancyStatus {
  verdict: RedundancyAssessment['verdict'];
  reasons: string[];
  level: number;
  primary?: string;
  healthyBackups: number;
  backups: RedundancyAssessment['backups'];
  required: RedundancyAssessment['required'];
  diversity: RedundancyAssessment['diversity'];
  /** The redundancy runbook's own last verdict (at the configured level), when it runs. */
  configured?: { verdict: RedundancyAssessment['verdict']; level: number; checkedAt?: string };
  health: DestinationHealthReport[];
}

export interface LoadDistribution {
  strategy: FailoverStrategy;
  mode: 'capacity' | 'equal';
  current: Record<string, number>;
  planned: Record<string, number>;
  drift: boolean;
  reasons: string[];
}

export interface OptimizationResult {
  action: 'none' | 'rebalance-started' | 'rebalanced' | 'rebalance-failed';
  reasons: string[];
  run?: RunRef;
}

export interface RedundancyManagementResult {
  redundancyStatus: RedundancyStatus;
  /** The backups to keep ready, best first. */
  backupDestinations: ResolvedDestination[];
  loadDistribution: LoadDistribution;
  optimization: OptimizationResult;
}

// ---------------------------------------------------------------------------------------------
// Validation

const name = z.string().min(1, 'expected a non-empty name');
export const destinationRefSchema = z.strictObject({
  service: name,
  id: name,
  zone: z.string().optional(),
  region: z.string().optional(),
  tier: z.number().optional(),
  weight: z.number().optional(),
});
const destinationsSchema = (min: number) => z.array(destinationRefSchema, { error: 'expected a list of {service, id}' }).min(min).max(1000);
/** Milliseconds (> 0) or a duration string. */
const msSchema = z.union([z.number().int().positive(), durationSchema], { error: 'expected milliseconds (a number) or a duration such as "500ms"' });
const text = (max: number) => z.string().min(1).max(max);

const detectionConfigSchema = z.strictObject({
  healthThreshold: z.number().min(0).max(1).optional(),
  failureThreshold: z.number().int().min(1).max(100).optional(),
  detectionInterval: msSchema.optional(),
  timeout: msSchema.optional(),
});
const executionConfigSchema = z.strictObject({
  failoverStrategy: z.enum(['active-passive', 'active-active']).optional(),
  dataSync: z.boolean().optional(),
  consistencyCheck: z.boolean().optional(),
  performanceMonitoring: z.boolean().optional(),
  planned: z.boolean().optional(),
  acceptDataLoss: z.boolean().optional(),
  reason: text(500).optional(),
  actor: text(100).optional(),
  wait: z.boolean().optional(),
  waitSeconds: z.number().int().min(1).max(3600).optional(),
});
const recoveryConfigSchema = z.strictObject({
  recoveryStrategy: z.enum(['failback', 'standby']).optional(),
  healthMonitoring: z.boolean().optional(),
  performanceValidation: z.boolean().optional(),
  automaticRecovery: z.boolean().optional(),
  reason: text(500).optional(),
  actor: text(100).optional(),
  waitSeconds: z.number().int().min(1).max(3600).optional(),
});
const redundancyConfigSchema = z.strictObject({
  redundancyLevel: z.number().int().min(0).max(100).optional(),
  loadDistribution: z.boolean().optional(),
  healthMonitoring: z.boolean().optional(),
  optimization: z.boolean().optional(),
  reason: text(500).optional(),
  actor: text(100).optional(),
  waitSeconds: z.number().int().min(1).max(3600).optional(),
});

const toMs = (v: number | string) => (typeof v === 'number' ? v : requireMs(v));

interface ServiceGroup {
  service: ServiceConfig;
  policy: Policy;
  ids: string[];
}

/** Resolves destination refs against the live config, grouped by service; every bad ref named. */
async function resolve(core: Core, refs: readonly z.output<typeof destinationRefSchema>[], field: string): Promise<ServiceGroup[]> {
  const live = await core.liveConfig();
  const groups = new Map<string, ServiceGroup>();
  const problems: string[] = [];
  for (const [i, ref] of refs.entries()) {
    const service = live.config.services.find((s) => s.name === ref.service);
    if (!service) {
      problems.push(
        `${field}[${i}].service: no service ${JSON.stringify(ref.service)} in ${live.version !== null ? `live config version ${live.version}` : 'the config'} (has ${live.config.services.map((s) => s.name).join(', ')})`,
      );
      continue;
    }
    if (!service.destinations.some((d) => d.id === ref.id)) {
      problems.push(
        `${field}[${i}].id: no destination ${JSON.stringify(ref.id)} in service ${service.name} (has ${service.destinations.map((d) => d.id).join(', ')})`,
      );
      continue;
    }
    let g = groups.get(service.name);
    if (!g) {
      groups.set(service.name, (g = { service, policy: policyOf(live.config, service.name), ids: [] }));
    }
    if (g.ids.includes(ref.id)) problems.push(`${field}[${i}]: ${ref.service}/${ref.id} is listed twice`);
    else g.ids.push(ref.id);
  }
  if (problems.length > 0) throw new InvalidInputError('request', problems);
  return [...groups.values()];
}

function oneService(groups: ServiceGroup[], field: string): ServiceGroup {
  if (groups.length !== 1)
    throw new InvalidInputError('request', [`${field}: expected destinations of one service (got ${groups.map((g) => g.service.name).join(', ')})`]);
  return groups[0]!;
}

function described(service: ServiceConfig, id: string): ResolvedDestination {
  const d = service.destinations.find((x) => x.id === id)!;
  return { service: service.name, id: d.id, zone: d.zone, region: d.region, tier: d.tier, weight: d.weight };
}

async function readRouting(service: ServiceConfig): Promise<Routing> {
  return (
    await routerFor(service)
      .read()
      .catch((err: Error) => Promise.reject(new RouterUnreadableError(service, err)))
  ).routing;
}

// ---------------------------------------------------------------------------------------------
// Health checks

interface Checked {
  health: Record<string, DestinationHealth>;
  last: Record<string, ProbeResult>;
  probes: Record<string, number>;
}

/**
 * Probes each destination until it answers or is declared down by `failureThreshold` consecutive
 * failures, `interval` apart, folding the results with the same function detection uses.
 */
async function checkHealth(service: ServiceConfig, ids: readonly string[], t: HealthThresholds, intervalMs: number, timeoutMs: number): Promise<Checked> {
  const out: Checked = { health: {}, last: {}, probes: {} };
  let pending = [...ids];
  for (let round = 0; pending.length > 0; round++) {
    if (round > 0) await sleep(intervalMs);
    await Promise.all(
      pending.map(async (id) => {
        const p = await runProbe(service.destinations.find((d) => d.id === id)!.probe, timeoutMs);
        const prev = out.health[id] ?? initialHealth();
        out.health[id] = observe(
          id,
          prev,
          {
            up: p.up,
            latencyMs: p.latencyMs,
            ...(p.offset !== undefined ? { offset: p.offset } : {}),
            ...(p.failure ? { failure: p.failure } : {}),
            ...(p.error ? { error: p.error } : {}),
            ...(p.replication ? { replication: p.replication } : {}),
          },
          t,
        ).health;
        out.last[id] = p;
        out.probes[id] = (out.probes[id] ?? 0) + 1;
      }),
    );
    pending = pending.filter((id) => !out.last[id]!.up && out.health[id]!.status !== 'down');
  }
  return out;
}

function healthReports(
  service: ServiceConfig,
  policy: Policy,
  ids: readonly string[],
  checked: Checked,
  routing: Routing,
  t: HealthThresholds,
): DestinationHealthReport[] {
  const primary = primaryOf(routing);
  const observed = Object.fromEntries(Object.entries(checked.last).flatMap(([id, p]) => (p.up && p.replication ? [[id, p.replication]] : [])));
  const sync = syncStates(service, primary, observed, policy.failover_execution.consistency_check.max_lag);
  return ids.map((id) => {
    const h = checked.health[id]!;
    const p = checked.last[id]!;
    const slow = p.up && p.latencyMs > t.maxLatencyMs;
    const status = h.status === 'down' ? 'down' : !p.up || slow || h.score < t.healthThreshold ? 'degraded' : 'up';
    return {
      ...described(service, id),
      status,
      score: h.score,
      probes: checked.probes[id] ?? 0,
      consecutiveFailures: h.consecutiveFailures,
      ...(p.up ? { latencyMs: Math.round(p.latencyMs) } : {}),
      ...(h.lastError
        ? { error: h.lastError }
        : slow
          ? { error: `answered in ${Math.round(p.latencyMs)}ms, above quality.max_latency ${t.maxLatencyMs}ms` }
          : {}),
      routed: routing.weights[id] ?? 0,
      sync:
        id === primary
          ? { state: 'primary' as const }
          : (sync[id] ?? { state: 'unknown' as const, reason: p.up ? 'its probe does not report replication' : 'down' }),
    };
  });
}

function overall(reports: readonly DestinationHealthReport[]): HealthStatus['overall'] {
  if (reports.some((r) => r.status === 'down' && r.routed > 0)) return 'failed';
  return reports.some((r) => r.status !== 'up') ? 'degraded' : 'healthy';
}

/** One probe of every destination of the services (what recovery reports afterwards). */
async function probeOnce(groups: readonly ServiceGroup[]): Promise<HealthStatus> {
  const reports: DestinationHealthReport[] = [];
  for (const g of groups) {
    const t = healthThresholdsOf(g.policy);
    const ids = g.service.destinations.map((d) => d.id);
    const [routing, checked] = await Promise.all([
      readRouting(g.service),
      checkHealth(g.service, ids, { ...t, failureThreshold: 1 }, 0, requireMs(g.policy.failover_detection.timeout)),
    ]);
    reports.push(...healthReports(g.service, g.policy, ids, checked, routing, t));
  }
  return { overall: overall(reports), checkedAt: new Date().toISOString(), destinations: reports };
}

// ---------------------------------------------------------------------------------------------
// detectFailover

/**
 * Detects whether failover is needed: probes the destinations with the given (or the service's)
 * thresholds — a destination is down after `failureThreshold` consecutive failed probes — reads
 * the live routing, and recommends what to do, with a dry-run plan for a failover.
 */
export async function detectFailover(core: Core, destinations: Destination[], config: FailoverDetectionConfig = {}): Promise<FailoverDetectionResult> {
  const refs = parseOrThrow(destinationsSchema(1), destinations, 'destinations', 'destinations');
  const cfg = parseOrThrow(detectionConfigSchema, config ?? {}, 'config', 'config');
  const groups = await resolve(core, refs, 'destinations');
  const failed: ResolvedDestination[] = [];
  const reports: DestinationHealthReport[] = [];
  const recommendations: FailoverRecommendation[] = [];
  let needed = false;

  for (const g of groups) {
    const { service, policy } = g;
    const base = healthThresholdsOf(policy);
    const t: HealthThresholds = {
      ...base,
      ...(cfg.failureThreshold !== undefined ? { failureThreshold: cfg.failureThreshold, windowSize: Math.max(5, cfg.failureThreshold * 2) } : {}),
      ...(cfg.healthThreshold !== undefined ? { healthThreshold: cfg.healthThreshold } : {}),
    };
    const intervalMs = toMs(cfg.detectionInterval ?? policy.failover_detection.detection_interval);
    const timeoutMs = toMs(cfg.timeout ?? policy.failover_detection.timeout);
    const [routing, checked] = await Promise.all([readRouting(service), checkHealth(service, g.ids, t, intervalMs, timeoutMs)]);
    const mine = healthReports(service, policy, g.ids, checked, routing, t);
    reports.push(...mine);
    const down = mine.filter((r) => r.status === 'down');
    failed.push(...down.map(({ service: s, id, zone, region, tier, weight }) => ({ service: s, id, zone, region, tier, weight })));
    const strategy = policy.failover_execution.failover_strategy;
    const carrying = down.filter((r) => r.routed > 0);

    if (carrying.length > 0) {
      needed = true;
      // What a failover would do now; destinations not checked here count as they answer to one probe.
      const others = service.destinations.filter((d) => !g.ids.includes(d.id));
      const more = await Promise.all(others.map(async (d) => [d.id, await runProbe(d.probe, timeoutMs)] as const));
      const readings = {
        ...Object.fromEntries(more),
        ...Object.fromEntries(g.ids.map((id) => [id, { ...checked.last[id]!, up: checked.health[id]!.status !== 'down' && checked.last[id]!.up }])),
      };
      const plan = planFailover({ service, policy, routing, probes: readings });
      const why = carrying.map((r) => `${r.id} is down and carries traffic (weight ${r.routed}): ${r.error ?? 'probe failed'}`);
      recommendations.push({
        service: service.name,
        action: strategy === 'active-active' ? 'rebalance' : 'failover',
        destination: carrying[0]!.id,
        ...(plan.target ? { target: plan.target } : {}),
        verdict: plan.verdict,
        reasons: [...why, ...plan.reasons],
        ...(strategy === 'active-passive' && plan.target
          ? { trigger: { service: service.name, runbook: 'failover' as const, to: plan.target, reason: why.join('; ').slice(0, 500) } }
          : {}),
      });
    }
    for (const r of down.filter((x) => x.routed === 0)) {
      recommendations.push({
        service: service.name,
        action: 'recovery',
        destination: r.id,
        reasons: [`${r.id} is down (${r.error ?? 'probe failed'}) and carries no traffic; once it answers, resync it and bring it back`],
        trigger: { service: service.name, runbook: 'recovery', destination: r.id, standby: true, reason: `${r.id} is back: resync it as a standby` },
      });
    }
    for (const r of mine.filter((x) => x.status !== 'down' && 'reason' in x.sync && isResyncing(x.sync.state))) {
      recommendations.push({
        service: service.name,
        action: 'resync',
        destination: r.id,
        reasons: [`${r.id} answers but is not a copy of the primary: ${r.sync.state} (${(r.sync as SyncVerdict).reason})`],
        trigger: { service: service.name, runbook: 'recovery', destination: r.id, standby: true, reason: `${r.id} is ${r.sync.state}: resync it` },
      });
    }
    const healthy = new Set(mine.filter((r) => r.status !== 'down' && !('reason' in r.sync && isResyncing(r.sync.state))).map((r) => r.id));
    for (const d of service.destinations) if (!g.ids.includes(d.id)) healthy.add(d.id); // not checked: not counted against it
    const red = assessRedundancy({ service, routing, healthy, strategy, policy: policy.redundancy_management });
    if (red.verdict === 'below-level') recommendations.push({ service: service.name, action: 'restore-redundancy', reasons: red.reasons });
  }
  if (recommendations.length === 0)
    recommendations.push(
      ...groups.map((g) => ({ service: g.service.name, action: 'none' as const, reasons: [`all ${g.ids.length} checked destination(s) healthy`] })),
    );
  return {
    failoverNeeded: needed,
    failedDestinations: failed,
    healthStatus: { overall: overall(reports), checkedAt: new Date().toISOString(), destinations: reports },
    recommendations,
  };
}

// ---------------------------------------------------------------------------------------------
// executeFailover

function activeOf(service: ServiceConfig, weights: Record<string, number> | undefined): ResolvedDestination[] {
  return Object.entries(weights ?? {})
    .filter(([id, w]) => w > 0 && service.destinations.some((d) => d.id === id))
    .map(([id]) => described(service, id));
}

async function latencies(service: ServiceConfig, policy: Policy, ids: readonly string[]): Promise<Record<string, number>> {
  const timeoutMs = requireMs(policy.failover_detection.timeout);
  const entries = await Promise.all(ids.map(async (id) => [id, await runProbe(service.destinations.find((d) => d.id === id)!.probe, timeoutMs)] as const));
  return Object.fromEntries(entries.filter(([, p]) => p.up).map(([id, p]) => [id, Math.round(p.latencyMs)]));
}

/**
 * Executes a failover (active-passive: the failover runbook, a switchover when `planned`;
 * active-active: a rebalance draining the failed destinations) under the service's lock, and
 * reports its status, the destinations carrying traffic afterwards, what it may have lost, and its timing.
 */
export async function executeFailover(
  core: Core,
  failedDestinations: Destination[],
  backupDestinations: Destination[],
  config: FailoverExecutionConfig = {},
): Promise<FailoverExecutionResult> {
  const started = Date.now();
  const failedRefs = parseOrThrow(destinationsSchema(1), failedDestinations, 'failedDestinations', 'failedDestinations');
  const backupRefs = parseOrThrow(destinationsSchema(0), backupDestinations ?? [], 'backupDestinations', 'backupDestinations');
  const cfg = parseOrThrow(executionConfigSchema, config ?? {}, 'config', 'config');
  const failedGroup = oneService(await resolve(core, failedRefs, 'failedDestinations'), 'failedDestinations');
  const backupGroups = backupRefs.length ? await resolve(core, backupRefs, 'backupDestinations') : [];
  const { service, policy } = failedGroup;
  const exec = policy.failover_execution;
  const problems: string[] = [];
  if (backupGroups.some((g) => g.service.name !== service.name))
    problems.push(`backupDestinations: expected destinations of ${service.name}, the service of failedDestinations`);
  const backups = backupGroups.flatMap((g) => g.ids);
  backups.forEach((id, i) => failedGroup.ids.includes(id) && problems.push(`backupDestinations[${i}]: ${id} is also in failedDestinations`));
  if (cfg.failoverStrategy !== undefined && cfg.failoverStrategy !== exec.failover_strategy) {
    problems.push(`config.failoverStrategy: service ${service.name} is ${exec.failover_strategy} (change it with failover.define)`);
  }
  if (cfg.dataSync !== undefined && cfg.dataSync !== exec.data_sync.enabled)
    problems.push(
      `config.dataSync: the policy of ${service.name} has data_sync ${exec.data_sync.enabled ? 'on' : 'off'}; a call does not change it (failover.define does)`,
    );
  if (cfg.consistencyCheck !== undefined && cfg.consistencyCheck !== exec.consistency_check.enabled) {
    problems.push(
      `config.consistencyCheck: the policy of ${service.name} has consistency_check ${exec.consistency_check.enabled ? 'on' : 'off'}; a call does not change it (failover.define does)`,
    );
  }
  const activeActive = exec.failover_strategy === 'active-active';
  if (activeActive && cfg.planned) problems.push('config.planned: an active-active service is rebalanced, not switched over; leave it out');
  if (activeActive && cfg.acceptDataLoss) problems.push('config.acceptDataLoss: only for an active-passive failover');
  if (problems.length > 0) throw new InvalidInputError('request', problems);

  const routing = await readRouting(service);
  const source = primaryOf(routing);
  if (!activeActive && (!source || !failedGroup.ids.includes(source))) {
    throw new InvalidInputError('request', [
      `failedDestinations: none of them carries the traffic of ${service.name} (${source ? `it is on ${source}` : 'nothing does'}); nothing to fail over from`,
    ]);
  }
  const actor = actorFor(core.actor, cfg.actor);
  const reason = cfg.reason ?? `executeFailover: ${failedGroup.ids.join(', ')} → ${backups.join(', ') || 'best candidate'}`;
  const common = { service: service.name, reason, actor };
  const wait = cfg.wait !== false;
  const o = activeActive
    ? await launch(core, {
        runbook: 'rebalance',
        type: 'rebalance',
        service: service.name,
        actor,
        reason,
        wait,
        waitSeconds: cfg.waitSeconds ?? 120,
        input: runbookInput(rebalanceInputSchema, { ...common, drain: { destinations: failedGroup.ids } }),
      })
    : await launch(core, {
        runbook: cfg.planned ? 'switchover' : 'failover',
        type: 'failover',
        service: service.name,
        actor,
        reason,
        wait,
        waitSeconds: cfg.waitSeconds ?? 120,
        input: runbookInput(failoverInputSchema, {
          ...common,
          planned: cfg.planned === true,
          ...(backups.length === 1 ? { to: backups[0] } : backups.length > 1 ? { prefer: backups } : {}),
          ...(cfg.acceptDataLoss ? { acceptDataLoss: true } : {}),
        }),
      });
  return executionResult(core, service, policy, o, started, cfg.performanceMonitoring === true);
}

async function executionResult(
  core: Core,
  service: ServiceConfig,
  policy: Policy,
  o: TriggerOutcome,
  started: number,
  measure: boolean,
): Promise<FailoverExecutionResult> {
  const r = (o.result ?? {}) as NonNullable<TriggerOutcome['result']> & { rpo?: SyncStatus['rpo'] };
  const outcome =
    typeof r.outcome === 'string'
      ? r.outcome
      : typeof (r as { verdict?: unknown }).verdict === 'string'
        ? String((r as { verdict: string }).verdict)
        : undefined;
  const status: FailoverStatus =
    o.status === 'completed'
      ? outcome === 'rolled-back'
        ? 'rolled-back'
        : 'completed'
      : o.status === 'failed'
        ? outcome === 'rolled-back'
          ? 'rolled-back'
          : 'failed'
        : o.status;
  const after =
    r.routingAfter?.weights ?? (o.status === 'completed' || o.status === 'failed' ? (await readRouting(service).catch(() => undefined))?.weights : undefined);
  const active = activeOf(service, after);
  const replicated = replicates(service) && policy.failover_execution.data_sync.enabled;
  const rpo = r.rpo ?? null;
  const syncStatus: SyncStatus = {
    replicated,
    rpo,
    state: !replicated
      ? 'not-replicated'
      : o.status !== 'completed' && !rpo
        ? 'not-finished'
        : !rpo
          ? 'unknown-loss'
          : rpo.lag === 0
            ? 'no-loss'
            : rpo.lag === null
              ? 'unknown-loss'
              : 'bounded-loss',
  };
  const performance: PerformanceMetrics = {
    ...(typeof r.rtoMs === 'number' ? { rtoMs: r.rtoMs } : {}),
    durationMs: Date.now() - started,
    ...(Array.isArray(r.steps) ? { steps: r.steps.length } : {}),
    ...(measure && active.length
      ? {
          latencyMs: await latencies(
            service,
            policy,
            active.map((d) => d.id),
          ),
        }
      : {}),
  };
  return {
    failoverStatus: status,
    activeDestinations: active,
    syncStatus,
    performance,
    ...(outcome ? { outcome } : {}),
    ...(o.failure ? { failure: o.failure } : {}),
    run: { workflowId: o.workflowId, runId: o.runId, webUi: o.webUi },
  };
}

// ---------------------------------------------------------------------------------------------
// manageRecovery

/**
 * Recovers destinations that failed: each is probed (healthMonitoring), resynced from the current
 * primary and — with recoveryStrategy "failback" — given its traffic back, by the recovery
 * runbook under the service's lock, one at a time; then checked for latency (performanceValidation).
 */
export async function manageRecovery(core: Core, failedDestinations: Destination[], config: RecoveryManagementConfig = {}): Promise<RecoveryManagementResult> {
  const started = Date.now();
  const refs = parseOrThrow(destinationsSchema(1), failedDestinations, 'failedDestinations', 'failedDestinations');
  const cfg = parseOrThrow(recoveryConfigSchema, config ?? {}, 'config', 'config');
  const groups = await resolve(core, refs, 'failedDestinations');
  const attempts: RecoveryAttempt[] = [];
  const actor = actorFor(core.actor, cfg.actor);
  const failback = (cfg.recoveryStrategy ?? 'failback') === 'failback';

  for (const g of groups) {
    const { service, policy } = g;
    const timeoutMs = requireMs(policy.failover_detection.timeout);
    const routing = await readRouting(service);
    const primary = primaryOf(routing);
    const carrying = g.ids.filter((id) => id === primary);
    if (carrying.length > 0) {
      const i = refs.findIndex((r) => r.service === service.name && r.id === carrying[0]);
      throw new InvalidInputError('request', [`failedDestinations[${i}]: ${carrying[0]} already carries the traffic of ${service.name}; nothing to recover`]);
    }
    for (const id of g.ids) {
      const attempt: RecoveryAttempt = { service: service.name, id, outcome: 'pending', reasons: [] };
      attempts.push(attempt);
      if (cfg.healthMonitoring !== false) {
        const p = await runProbe(service.destinations.find((d) => d.id === id)!.probe, timeoutMs);
        if (!p.up) {
          attempt.outcome = 'still-down';
          attempt.reasons.push(`${id} does not answer (${p.error ?? 'probe failed'}); nothing started`);
          continue;
        }
      }
      if (cfg.automaticRecovery === false) {
        attempt.reasons.push(`automaticRecovery: false; would start a recovery of ${id} (${failback ? 'resync, then fail back' : 'resync as a standby'})`);
        continue;
      }
      const t0 = Date.now();
      const reason = cfg.reason ?? `manageRecovery: ${id} ${failback ? 'resync and fail back' : 'resync as a standby'}`;
      const o = await launch(core, {
        runbook: 'recovery',
        type: 'recovery',
        service: service.name,
        actor,
        reason,
        wait: true,
        waitSeconds: cfg.waitSeconds ?? 300,
        input: runbookInput(recoveryInputSchema, { service: service.name, destination: id, failback, reason, actor }),
      });
      attempt.run = { workflowId: o.workflowId, runId: o.runId, webUi: o.webUi };
      attempt.durationMs = Date.now() - t0;
      const out = typeof o.result?.outcome === 'string' ? o.result.outcome : undefined;
      if (o.status === 'running') attempt.outcome = 'running';
      else if (o.status === 'failed') {
        attempt.outcome = out === 'rolled-back' ? 'rolled-back' : 'failed';
        attempt.reasons.push(o.failure?.message ?? 'the recovery runbook failed');
      } else attempt.outcome = out === 'failed-back' || out === 'standby-restored' || out === 'rolled-back' ? out : 'failed';
      if (cfg.performanceValidation && (attempt.outcome === 'failed-back' || attempt.outcome === 'standby-restored')) {
        const bound = requireMs(policy.quality.max_latency);
        const p = await runProbe(service.destinations.find((d) => d.id === id)!.probe, timeoutMs);
        if (p.up) attempt.latencyMs = Math.round(p.latencyMs);
        if (!p.up || p.latencyMs > bound) {
          attempt.reasons.push(
            p.up ? `answers in ${Math.round(p.latencyMs)}ms, above quality.max_latency ${bound}ms` : `does not answer after recovery: ${p.error}`,
          );
          attempt.outcome = 'degraded';
        }
      }
    }
  }
  const recovered = attempts.filter((a) => a.outcome === 'failed-back' || a.outcome === 'standby-restored');
  const started_ = attempts.filter((a) => a.run);
  const recoveryStatus: RecoveryStatus =
    started_.length === 0 && attempts.every((a) => a.outcome === 'pending')
      ? 'pending'
      : recovered.length === attempts.length
        ? 'recovered'
        : recovered.length > 0
          ? 'partially-recovered'
          : 'not-recovered';
  const byService = new Map(groups.map((g) => [g.service.name, g.service] as const));
  return {
    recoveryStatus,
    recoveredDestinations: recovered.map((a) => described(byService.get(a.service)!, a.id)),
    healthStatus: await probeOnce(groups),
    performance: { durationMs: Date.now() - started, attempts },
  };
}

// ---------------------------------------------------------------------------------------------
// manageRedundancy

/**
 * Assesses redundancy across the destinations (of one service) at `redundancyLevel`: healthy
 * backups overall and outside the primary's zone and region, the backups to keep ready, the
 * planned load distribution against the live weights; with `optimization`, an active-active
 * service whose weights drifted is rebalanced (under the service's lock).
 */
export async function manageRedundancy(core: Core, destinations: Destination[], config: RedundancyManagementConfig = {}): Promise<RedundancyManagementResult> {
  const refs = parseOrThrow(destinationsSchema(1), destinations, 'destinations', 'destinations');
  const cfg = parseOrThrow(redundancyConfigSchema, config ?? {}, 'config', 'config');
  const g = oneService(await resolve(core, refs, 'destinations'), 'destinations');
  const { policy } = g;
  // Redundancy among the destinations given: a subset is assessed as if it were the whole service.
  const service: ServiceConfig = { ...g.service, destinations: g.service.destinations.filter((d) => g.ids.includes(d.id)) };
  const red = { ...policy.redundancy_management, ...(cfg.redundancyLevel !== undefined ? { redundancy_level: cfg.redundancyLevel } : {}) };
  const strategy = policy.failover_execution.failover_strategy;
  const t = healthThresholdsOf(policy);
  const fullRouting = await readRouting(g.service);
  const routing: Routing = { generation: fullRouting.generation, weights: Object.fromEntries(g.ids.map((id) => [id, fullRouting.weights[id] ?? 0])) };

  let health: DestinationHealthReport[];
  const detection = cfg.healthMonitoring === false ? await runningUnder(core.client, detectionWorkflowId(service.name)) : null;
  if (detection) {
    const view = await core.ask('health query', () => core.client.workflow.getHandle(detection.running.workflowId, detection.running.runId).query(healthQuery));
    const primary = primaryOf(fullRouting);
    health = g.ids.map((id) => {
      const h = view.health[id] ?? initialHealth();
      return {
        ...described(service, id),
        status: h.status,
        score: h.score,
        probes: 0,
        consecutiveFailures: h.consecutiveFailures,
        ...(h.lastLatencyMs !== undefined ? { latencyMs: h.lastLatencyMs } : {}),
        ...(h.lastError ? { error: h.lastError } : {}),
        routed: fullRouting.weights[id] ?? 0,
        sync: id === primary ? { state: 'primary' as const } : (view.sync?.[id] ?? { state: 'unknown' as const, reason: 'not observed by detection' }),
      };
    });
  } else {
    const checked = await checkHealth(service, g.ids, { ...t, failureThreshold: 1 }, 0, requireMs(policy.failover_detection.timeout));
    health = healthReports(service, policy, g.ids, checked, fullRouting, t);
  }
  const healthy = new Set(health.filter((h) => h.status !== 'down' && !('reason' in h.sync && isResyncing(h.sync.state))).map((h) => h.id));
  const assessment = assessRedundancy({ service, routing, healthy, strategy, policy: red });
  const configured = await redundancyStatus(core.client, service.name, core.ask).catch(() => null);

  const distribution = distribute({
    destinations: service.destinations,
    unhealthy: service.destinations.map((d) => d.id).filter((id) => !healthy.has(id)),
    mode: red.load_distribution,
    maxEjectPercent: red.max_eject_percent,
    maxLoadFactor: red.max_load_factor,
    offeredLoad: red.offered_load,
  });
  const primary = assessment.primary;
  const planned =
    strategy === 'active-active'
      ? distribution.weights
      : Object.fromEntries(g.ids.map((id) => [id, id === primary ? fullWeight(service.destinations.find((d) => d.id === id)!.weight) : 0]));
  const drift = !sameWeights(planned, routing.weights);
  const loadDistribution: LoadDistribution = {
    strategy,
    mode: red.load_distribution,
    current: routing.weights,
    planned,
    drift,
    reasons:
      cfg.loadDistribution === false
        ? []
        : strategy === 'active-active'
          ? distribution.reasons
          : [primary ? `active-passive: all traffic on ${primary}` : 'no healthy destination to carry traffic'],
  };

  let optimization: OptimizationResult = { action: 'none', reasons: [] };
  if (!cfg.optimization) optimization.reasons.push('optimization not asked for');
  else if (strategy !== 'active-active')
    optimization.reasons.push(`active-passive: traffic is moved by failover or switchover (failover.trigger), not rebalanced`);
  else if (g.ids.length !== g.service.destinations.length) optimization.reasons.push('a rebalance plans the whole service; pass all of its destinations');
  else if (!drift) optimization.reasons.push('weights already match the plan');
  else {
    const actor = actorFor(core.actor, cfg.actor);
    const reason = cfg.reason ?? 'manageRedundancy: weights drifted from the plan';
    const o = await launch(core, {
      runbook: 'rebalance',
      type: 'rebalance',
      service: service.name,
      actor,
      reason,
      wait: true,
      waitSeconds: cfg.waitSeconds ?? 120,
      input: runbookInput(rebalanceInputSchema, { service: service.name, reason, actor }),
    });
    optimization = {
      action: o.status === 'completed' ? 'rebalanced' : o.status === 'failed' ? 'rebalance-failed' : 'rebalance-started',
      reasons: [
        `weights [${Object.entries(routing.weights)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}] differ from the plan`,
        ...(o.failure ? [o.failure.message] : []),
      ],
      run: { workflowId: o.workflowId, runId: o.runId, webUi: o.webUi },
    };
  }

  return {
    redundancyStatus: {
      verdict: assessment.verdict,
      reasons: assessment.reasons,
      level: red.redundancy_level,
      ...(primary ? { primary } : {}),
      healthyBackups: assessment.backups.total,
      backups: assessment.backups,
      required: assessment.required,
      diversity: assessment.diversity,
      ...(configured?.status.assessment
        ? {
            configured: {
              verdict: configured.status.assessment.verdict,
              level: configured.status.assessment.required.total,
              ...(configured.status.checkedAt ? { checkedAt: configured.status.checkedAt } : {}),
            },
          }
        : {}),
      health,
    },
    backupDestinations: assessment.selected.map((id) => described(service, id)),
    loadDistribution,
    optimization,
  };
}
