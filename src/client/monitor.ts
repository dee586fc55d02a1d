import { routerFor } from '../drivers';
import { runProbe } from '../drivers/probes';
import type { RouterReadout } from '../drivers/routers/types';
import { requireMs } from '../domain/duration';
import { primaryOf, type Routing } from '../domain/routing';
import { formatPlan, planFailover, simulate as simulateScenario, type DryRunPlan, type SimulationResult } from '../domain/simulate';
import { syncStates, type SyncVerdict } from '../domain/sync';
import type { DecisionRecord, RunbookStatus } from '../api/status';
import type { RedundancyAssessment } from '../domain/redundancy';
import { destinationOf, type Core } from './core';
import { learnedRanking, observeNow, redundancyStatus, runbookHistory, serviceStatus, type HistoryRun, type StatusReport } from './observe';
import type { RunningRunbook } from './runs';
import type { ProbeResult } from '../drivers/probes/types';

export interface DestinationView {
  id: string;
  zone: string;
  region: string;
  tier: number;
  /** Configured weight (capacity when active-active). */
  weight: number;
  /** Weight in the live routing; null when the routing could not be read. */
  routed: number | null;
  routerState?: string;
  /** Health as detection sees it (source "detection"), or from one probe now when detection does not answer (source "probe"). */
  health: {
    status: 'up' | 'degraded' | 'down';
    source: 'detection' | 'probe';
    score?: number;
    latencyMs?: number;
    consecutiveFailures?: number;
    error?: string;
    alerts?: string[];
  };
  /** Whether it is a copy of the primary: in-sync, catching-up, diverged, unknown; "primary" for the one carrying traffic. */
  sync: SyncVerdict | { state: 'primary' };
}

export interface ServiceMonitor {
  service: string;
  /** Live config version the view is of (null without a supervisor). */
  configVersion: number | null;
  strategy: 'active-passive' | 'active-active';
  routing: (Routing & { primary?: string }) | { error: string };
  destinations: DestinationView[];
  detection:
    | {
        state: 'running';
        workflowId: string;
        runId: string;
        watching: boolean;
        primary?: string;
        configVersion?: number;
        suspended?: { by: string; reason: string; at: string };
        lastDecision?: DecisionRecord;
        retries?: Record<string, unknown>;
      }
    | { state: 'not-running' }
    | { state: 'unknown'; error: string };
  supervision: StatusReport['supervision'] | { error: string };
  /** The mutating runbook running now, with its phase and step. */
  runbook:
    (RunningRunbook & Pick<RunbookStatus, 'phase' | 'step' | 'source' | 'target' | 'planned' | 'emergency' | 'rtoMs' | 'controls'> & { webUi: string }) | null;
  /** The last runbooks, newest first, with RTO and RPO. */
  lastRunbooks: (HistoryRun & { webUi: string })[] | { error: string };
  redundancy:
    | {
        verdict: RedundancyAssessment['verdict'];
        reasons: string[];
        backups: RedundancyAssessment['backups'];
        required: RedundancyAssessment['required'];
        checkedAt?: string;
        workflowId: string;
      }
    | { state: 'not-running' }
    | { error: string };
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** `failover.monitor`: one service's health per destination, detection, routing, running runbook, last runbooks and redundancy. */
export async function monitor(core: Core, name: string, opts: { history?: number } = {}): Promise<ServiceMonitor> {
  const { live, service, policy } = await core.service(name);
  const [status, readout, last, redundancy] = await Promise.allSettled([
    serviceStatus(core.client, core.taskQueue, service.name, core.ask),
    routerFor(service).read(),
    runbookHistory(core.client, service.name, opts.history ?? 5),
    redundancyStatus(core.client, service.name, core.ask),
  ]);
  const report = status.status === 'fulfilled' ? status.value : undefined;
  const health = report?.detection?.health;
  const routing: RouterReadout | undefined = readout.status === 'fulfilled' ? readout.value : undefined;
  const primary = routing ? primaryOf(routing.routing) : health?.primary;

  // Without detection's view, one probe now says at least whether each destination answers.
  const probes: Record<string, ProbeResult> = health
    ? {}
    : Object.fromEntries(
        await Promise.all(service.destinations.map(async (d) => [d.id, await runProbe(d.probe, requireMs(policy.failover_detection.timeout))] as const)),
      );
  const probedSync = health
    ? {}
    : syncStates(
        service,
        primary,
        Object.fromEntries(Object.entries(probes).flatMap(([id, p]) => (p.up && p.replication ? [[id, p.replication]] : []))),
        policy.failover_execution.consistency_check.max_lag,
      );

  const destinations: DestinationView[] = service.destinations.map((d) => {
    const h = health?.health[d.id];
    const p = probes[d.id];
    const view: DestinationView = {
      id: d.id,
      zone: d.zone,
      region: d.region,
      tier: d.tier,
      weight: d.weight,
      routed: routing ? (routing.routing.weights[d.id] ?? 0) : null,
      ...(routing?.detail[d.id] ? { routerState: routing.detail[d.id]!.state } : {}),
      health: h
        ? {
            status: h.status,
            source: 'detection',
            score: h.score,
            ...(h.lastLatencyMs !== undefined ? { latencyMs: h.lastLatencyMs } : {}),
            consecutiveFailures: h.consecutiveFailures,
            ...(h.lastError ? { error: h.lastError } : {}),
            alerts: h.alerts,
          }
        : { status: p?.up ? 'up' : 'down', source: 'probe', ...(p ? { latencyMs: Math.round(p.latencyMs) } : {}), ...(p?.error ? { error: p.error } : {}) },
      sync: d.id === primary ? { state: 'primary' } : ((health ? health.sync?.[d.id] : probedSync[d.id]) ?? { state: 'unknown', reason: 'not observed' }),
    };
    return view;
  });

  const running = report?.runbook;
  return {
    service: service.name,
    configVersion: live.version,
    strategy: policy.failover_execution.failover_strategy,
    routing: routing
      ? { ...routing.routing, ...(primary ? { primary } : {}) }
      : { error: errorText(readout.status === 'rejected' ? readout.reason : 'not read') },
    destinations,
    detection: !report
      ? { state: 'unknown', error: errorText(status.status === 'rejected' ? status.reason : 'not read') }
      : report.detectionError
        ? { state: 'unknown', error: report.detectionError }
        : report.detection
          ? {
              state: 'running',
              workflowId: report.detection.workflowId,
              runId: report.detection.runId,
              watching: report.detection.health.watching,
              ...(report.detection.health.primary ? { primary: report.detection.health.primary } : {}),
              ...(report.detection.health.configVersion !== undefined ? { configVersion: report.detection.health.configVersion } : {}),
              ...(report.detection.health.suspended ? { suspended: report.detection.health.suspended } : {}),
              ...(report.detection.health.decisions.length
                ? { lastDecision: report.detection.health.decisions[report.detection.health.decisions.length - 1]! }
                : {}),
              ...(report.detection.health.retries && Object.keys(report.detection.health.retries).length ? { retries: report.detection.health.retries } : {}),
            }
          : { state: 'not-running' },
    supervision: report ? (report.supervisionError ? { error: report.supervisionError } : (report.supervision ?? null)) : { error: 'not read' },
    runbook: running
      ? {
          ...(({ status: _s, ...r }) => r)(running),
          phase: running.status.phase,
          ...(running.status.step ? { step: running.status.step } : {}),
          ...(running.status.source ? { source: running.status.source } : {}),
          ...(running.status.target ? { target: running.status.target } : {}),
          ...(running.status.planned !== undefined ? { planned: running.status.planned } : {}),
          ...(running.status.emergency !== undefined ? { emergency: running.status.emergency } : {}),
          ...(running.status.rtoMs !== undefined ? { rtoMs: running.status.rtoMs } : {}),
          controls: running.status.controls,
          webUi: core.runLink(running.workflowId, running.runId),
        }
      : null,
    lastRunbooks:
      last.status === 'fulfilled' ? last.value.map((r) => ({ ...r, webUi: core.runLink(r.workflowId, r.runId) })) : { error: errorText(last.reason) },
    redundancy:
      redundancy.status === 'rejected'
        ? { error: errorText(redundancy.reason) }
        : !redundancy.value
          ? { state: 'not-running' }
          : !redundancy.value.status.assessment
            ? { error: 'the redundancy runbook has not assessed the service yet' }
            : {
                verdict: redundancy.value.status.assessment.verdict,
                reasons: redundancy.value.status.assessment.reasons,
                backups: redundancy.value.status.assessment.backups,
                required: redundancy.value.status.assessment.required,
                ...(redundancy.value.status.checkedAt ? { checkedAt: redundancy.value.status.checkedAt } : {}),
                workflowId: redundancy.value.workflowId,
              },
  };
}

export interface PlanOutcome {
  service: string;
  dryRun: true;
  configVersion: number | null;
  routing: Routing;
  probes: Record<string, ProbeResult>;
  plan: DryRunPlan;
  /** The plan as the CLI prints it. */
  summary: string;
}

/** `failover.plan`: the steps, weights and expected load a failover would take now, from live probes; changes nothing. */
export async function plan(core: Core, name: string, to?: string): Promise<PlanOutcome> {
  const { live, service, policy } = await core.service(name);
  if (to !== undefined) destinationOf(service, to, 'to');
  const { readout, probes } = await observeNow(service, policy);
  // Detection's failovers follow its learned ranking: so does the plan when detection answers (else the configured order).
  const ranking =
    policy.failover_execution.target_selection === 'intelligent' ? await learnedRanking(core.client, service.name, core.ask).catch(() => undefined) : undefined;
  const p = planFailover({
    service,
    policy,
    routing: readout.routing,
    probes,
    ...(ranking ? { ranking: { state: ranking, now: Date.now() } } : {}),
    ...(to !== undefined ? { to } : {}),
  });
  return {
    service: service.name,
    dryRun: true,
    configVersion: live.version,
    routing: readout.routing,
    probes,
    plan: p,
    summary: `${formatPlan(p)}\ndry run: nothing was changed`,
  };
}

/** `failover.simulate`: the real decision logic over a scripted scenario of the service; touches nothing. */
export async function simulate(core: Core, name: string, scenario: unknown): Promise<SimulationResult> {
  const { service, policy } = await core.service(name);
  return simulateScenario({ service, policy, scenario });
}
