import { ApplicationFailure, Context, heartbeat, sleep } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { Client } from '@temporalio/client';
import type { Config, Policy, ServiceConfig } from '../domain/config';
import { findService, policyOf, validateConfig } from '../domain/config';
import { isServiceRef, type ServiceArg } from '../api/service-ref';
import { configAtQuery, supervisorWorkflowId } from '../api/supervisor';
import { isConsistent, lagVerdict } from '../domain/consistency';
import { ConfigVersions } from './config-versions';
import { requireMs } from '../domain/duration';
import { replicatorFor, routerFor } from '../drivers';
import { runProbe, type ProbeResult } from '../drivers/probes';
import { checkEntrypoint as checkEntrypointThrough } from '../drivers/entrypoint';
import type { LagReading } from '../drivers/replication/types';
import { GenerationConflictError, type ApplyOptions, type RouteChange, type RouterReadout } from '../drivers/routers/types';
import { primaryOf, type Routing } from '../domain/routing';
import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure as Failure, TerminatedFailure, CancelledFailure } from '@temporalio/common';
import { sendAlert, type AlertEvent } from './alerts';
import { createSupervisionActivities } from './supervision';
import { switchover, type SwitchoverInput } from './switchover';
import type { Divergence } from '../drivers/replication/types';
import type { ReplicationObservation } from '../domain/sync';
import { createWatchActivities, type ObserverOptions } from './watch';
import { createPresenceActivities } from './presence';
import { AmbiguousPrimaryError, readRoutingWithPrimary } from '../drivers/routing-primary';
import { runbookWorkflowId } from '../domain/workflow-ids';
import { workerConfigFile } from './config-file-read';

export type { ProbeResult } from '../drivers/probes';
export type { LagReading } from '../drivers/replication/types';
export type { RouteChange, RouterReadout } from '../drivers/routers/types';
export type { AlertEvent } from './alerts';
export type { Divergence } from '../drivers/replication/types';
export type { SwitchoverInput, SwitchoverResult, SwitchoverStep } from './switchover';
export type { ServiceArg, ServiceRef } from '../api/service-ref';

/** How a runbook run stands, as another workflow sees it from outside. */
export type RunbookOutcomeReading =
  | { status: 'running' }
  | { status: 'completed'; result: Record<string, unknown> }
  | { status: 'failed'; type?: string; message: string; details?: Record<string, unknown> };

export interface ActivityDeps {
  /** The current config; a function so a reload is seen by the next runbook. */
  config: () => Config;
  /** The live config at `minVersion` or newer (workers that follow the supervisor); `config()` otherwise. */
  configAt?: (minVersion?: number) => Promise<{ version: number; config: Config }>;
  logger: Logger;
  /** For activities that read other runbooks (rollback by workflow id). */
  client?: Client;
  /** Where this process probes from (observer zone, probe routes). */
  observer?: ObserverOptions;
}

export interface ServiceSnapshot {
  service: ServiceConfig;
  policy: Policy;
  /** The live config version it comes from (absent when the worker runs without a supervisor). */
  version?: number;
}

export interface AuditEvent {
  runbook: string;
  workflowId: string;
  service: string;
  step: string;
  outcome: 'started' | 'ok' | 'failed' | 'skipped' | 'compensated';
  actor?: string;
  reason?: string;
  detail?: string;
  numbers?: Record<string, number | string | boolean | null>;
}

export interface LagVerdict {
  ok: boolean;
  reading: LagReading;
  waitedMs: number;
  verdict: string;
}

function nonRetryable(err: unknown, type: string): never {
  const message = err instanceof Error ? err.message : String(err);
  throw ApplicationFailure.nonRetryable(message, type);
}

function replicatorOrFail(service: ServiceConfig, timeoutMs: number) {
  const r = replicatorFor(service, timeoutMs);
  if (!r) throw ApplicationFailure.nonRetryable(`service ${service.name} has no replication configured`, 'NoReplication');
  return r;
}

function destinationOf(service: ServiceConfig, id: string) {
  const dest = service.destinations.find((d) => d.id === id);
  if (!dest) throw ApplicationFailure.nonRetryable(`service ${service.name} has no destination ${id}`, 'UnknownDestination');
  return dest;
}

function idempotencyKey(): string {
  const info = Context.current().info;
  return `${info.workflowExecution?.runId ?? ''}-${info.activityId}`;
}

/** The probe timeout a config sets (fleet-wide, as it always was for runbook probes). */
function probeTimeoutOf(config: Config): number {
  return requireMs(config.failover_manager.failover_detection.timeout);
}

export function createActivities(deps: ActivityDeps) {
  const { logger } = deps;
  // Only a worker that follows the supervisor has versions; the supervisor keeps the newest documents.
  const versions = new ConfigVersions(
    deps.configAt
      ? {
          latest: deps.configAt,
          ...(deps.client
            ? {
                older: async (version: number) => {
                  const supervisor = deps.client!.workflow.getHandle(supervisorWorkflowId(Context.current().info.taskQueue));
                  const doc = await supervisor.query(configAtQuery, version);
                  return doc ? validateConfig(doc.config, `config version ${version}`) : null;
                },
              }
            : {}),
        }
      : {},
  );

  /**
   * The service an activity acts on and the config its bounds come from: for a reference, the config
   * of exactly the version the runbook snapshotted; for a whole service config (runs recorded before
   * references, workers without a supervisor, whose config never changes), the worker's config.
   */
  const resolve = async (arg: ServiceArg): Promise<{ service: ServiceConfig; config: Config }> => {
    if (!isServiceRef(arg)) return { service: arg, config: deps.config() };
    const config = await versions.at(arg.configVersion);
    const service = findService(config, arg.service);
    if (!service) throw ApplicationFailure.nonRetryable(`no service ${JSON.stringify(arg.service)} in config version ${arg.configVersion}`, 'UnknownService');
    return { service, config };
  };

  /**
   * End-to-end check through the service's entrypoint (what producers use): a canary write is
   * acknowledged and is served by the expected primary. Retries briefly inside, for routers that
   * take a moment to converge.
   */
  const checkEntrypoint = (service: ServiceConfig, expectedPrimary: string, timeoutMs: number) =>
    checkEntrypointThrough(service, expectedPrimary, timeoutMs, (last) => heartbeat({ last }));

  return {
    ...createWatchActivities(deps.observer),
    ...createPresenceActivities(deps),
    ...createSupervisionActivities({ ...deps, configVersion: (v) => versions.at(v) }),

    /**
     * Snapshot of a service's config and the policy, so it lands in the runbook's history: the
     * runbook keeps that version whatever is applied later. `minVersion`: at least this live version.
     */
    async loadService(name: string, minVersion?: number): Promise<ServiceSnapshot> {
      const { config, version } = deps.configAt ? await deps.configAt(minVersion) : { config: deps.config(), version: undefined };
      const service = findService(config, name);
      if (!service) {
        const known = config.services.map((s) => s.name).join(', ');
        throw ApplicationFailure.nonRetryable(
          `unknown service ${JSON.stringify(name)}${version ? ` in config version ${version}` : ''}; configured services: ${known}`,
          'UnknownService',
        );
      }
      // The runbook's later references name this version: keep it here for them.
      if (version !== undefined) versions.remember(version, config);
      return { service, policy: policyOf(config, name), ...(version !== undefined ? { version } : {}) };
    },

    async probe(arg: ServiceArg, destination: string): Promise<ProbeResult> {
      const { service, config } = await resolve(arg);
      const dest = service.destinations.find((d) => d.id === destination);
      if (!dest) throw ApplicationFailure.nonRetryable(`service ${service.name} has no destination ${destination}`, 'UnknownDestination');
      return runProbe(dest.probe, probeTimeoutOf(config));
    },

    /** The routing, with the primary asked of the destinations when the router's weights tie (see routing-primary.ts). */
    async readRouting(arg: ServiceArg): Promise<RouterReadout> {
      const { service, config } = await resolve(arg);
      return readRoutingWithPrimary(service, (id) => runProbe(destinationOf(service, id).probe, probeTimeoutOf(config))).catch((err: unknown) =>
        err instanceof AmbiguousPrimaryError ? nonRetryable(err, 'AmbiguousPrimary') : Promise.reject(err),
      );
    },

    /** Compare-and-set: fails non-retryably when the routing moved since `expectedGeneration`. */
    async applyRouting(
      arg: ServiceArg,
      weights: Record<string, number>,
      expectedGeneration: number,
      opts: ApplyOptions = {},
    ): Promise<{ routing: Routing; changes: RouteChange[] }> {
      const { service } = await resolve(arg);
      try {
        const result = await routerFor(service).apply(weights, expectedGeneration, opts);
        logger.info({ service: service.name, changes: result.changes, generation: result.routing.generation }, 'routing applied');
        return result;
      } catch (err) {
        if (err instanceof GenerationConflictError) nonRetryable(err, 'GenerationConflict');
        throw err;
      }
    },

    /** The single-writer switch as one activity (fence → catch up → promote → route → cut → demote); see ./switchover.ts. */
    async switchover(arg: ServiceArg, input: SwitchoverInput) {
      const { service, config } = await resolve(arg);
      const result = await switchover(service, input, probeTimeoutOf(config));
      logger.info(
        { service: service.name, source: input.source, target: input.target, pausedMs: result.pausedMs, generation: result.routing.generation },
        'switchover done',
      );
      return result;
    },

    async cutSessions(arg: ServiceArg, destination: string): Promise<void> {
      const { service } = await resolve(arg);
      await routerFor(service).cutSessions(destination);
    },

    async measureLag(arg: ServiceArg, source: string, target: string): Promise<LagReading> {
      const { service, config } = await resolve(arg);
      return replicatorOrFail(service, probeTimeoutOf(config)).lag(source, target);
    },

    /** Polls lag until it is within `maxLag` on a linked replica or the deadline passes; heartbeats each poll. */
    async waitForLag(arg: ServiceArg, source: string, target: string, maxLag: number, timeoutMs: number): Promise<LagVerdict> {
      const { service, config } = await resolve(arg);
      const replicator = replicatorOrFail(service, probeTimeoutOf(config));
      const started = Date.now();
      // A node that does not answer (stalled, restarting) is a reading too: unlinked, and the gate waits on.
      let reading: LagReading | undefined;
      const read = async (): Promise<LagReading> =>
        replicator.lag(source, target).catch((err: unknown) => ({
          lag: reading?.lag ?? 0,
          sourceOffset: reading?.sourceOffset ?? 0,
          targetOffset: reading?.targetOffset ?? 0,
          linked: false,
          detail: `lag not readable: ${err instanceof Error ? err.message : String(err)}`,
        }));
      // Beats on a timer, not per reading: a slow reading must not look like a lost worker.
      const beat = setInterval(() => heartbeat({ lag: reading?.lag }), 1000);
      try {
        reading = await read();
        while (!isConsistent(reading, maxLag) && Date.now() - started < timeoutMs) {
          await sleep(50);
          reading = await read();
        }
      } finally {
        clearInterval(beat);
      }
      const waitedMs = Date.now() - started;
      return { ok: isConsistent(reading, maxLag), reading, waitedMs, verdict: lagVerdict(reading, maxLag, waitedMs, source, target) };
    },

    async fence(arg: ServiceArg, destination: string, holdMs: number) {
      const { service, config } = await resolve(arg);
      return replicatorOrFail(service, probeTimeoutOf(config)).fence(destination, holdMs);
    },

    /**
     * Pauses the writes of a destination that answers as a second writable primary (a returned old
     * primary), unless a runbook holds the service: that runbook owns every switch, and a fence now
     * could hit the primary it is promoting.
     */
    async fenceStray(arg: ServiceArg, destination: string, holdMs: number): Promise<{ fenced: boolean; busy?: boolean; detail: string }> {
      const { service, config } = await resolve(arg);
      const lock = runbookWorkflowId(service.name);
      const held = deps.client
        ? await deps.client.workflow
            .getHandle(lock)
            .describe()
            .then(
              (d) => (d.status.name === 'RUNNING' ? d.type : undefined),
              () => undefined,
            )
        : undefined;
      if (held) return { fenced: false, busy: true, detail: `not fenced: ${held} ${lock} is running and owns the switch` };
      // The router is the last word on who the primary is: never pause the writes of the one it routes to.
      const routed = primaryOf((await routerFor(service).read()).routing);
      if (routed === destination) return { fenced: false, detail: `not fenced: the router routes to ${destination}; it is the primary` };
      const r = await replicatorOrFail(service, probeTimeoutOf(config)).fence(destination, holdMs);
      logger.warn({ audit: true, service: service.name, destination, detail: r.detail }, 'second writable primary fenced');
      return { fenced: true, detail: r.detail };
    },

    async unfence(arg: ServiceArg, destination: string): Promise<void> {
      const { service, config } = await resolve(arg);
      await replicatorOrFail(service, probeTimeoutOf(config)).unfence(destination);
    },

    async promote(arg: ServiceArg, destination: string) {
      const { service, config } = await resolve(arg);
      return replicatorOrFail(service, probeTimeoutOf(config)).promote(destination);
    },

    async follow(arg: ServiceArg, destination: string, primary: string) {
      const { service, config } = await resolve(arg);
      return replicatorOrFail(service, probeTimeoutOf(config)).follow(destination, primary);
    },

    async validateEntrypoint(arg: ServiceArg, expectedPrimary: string): Promise<{ ok: boolean; detail: string; latencyMs: number }> {
      const { service, config } = await resolve(arg);
      return checkEntrypoint(service, expectedPrimary, probeTimeoutOf(config));
    },

    /**
     * Validation after a switch step: the target answers within the latency bound, every extra
     * validation probe of the service passes (e.g. a Prometheus error-rate query), and the
     * entrypoint works end to end (single-writer: a canary write lands on the target).
     */
    async validateStep(
      arg: ServiceArg,
      target: string,
      singleWriter: boolean,
    ): Promise<{ ok: boolean; detail: string; checks: { name: string; ok: boolean; detail: string }[] }> {
      const { service, config } = await resolve(arg);
      // The bounds of the runbook's config version (a reference), never of a version applied since.
      const policy = policyOf(config, service.name);
      const probeTimeout = () => probeTimeoutOf(config);
      const maxLatency = requireMs(policy.quality.max_latency);
      const dest = service.destinations.find((d) => d.id === target);
      if (!dest) throw ApplicationFailure.nonRetryable(`service ${service.name} has no destination ${target}`, 'UnknownDestination');
      const checks: { name: string; ok: boolean; detail: string }[] = [];
      const p = await runProbe(dest.probe, probeTimeout());
      checks.push({
        name: 'target',
        ok: p.up && p.latencyMs <= maxLatency,
        detail: p.up ? `${target} up in ${Math.round(p.latencyMs)}ms (bound ${maxLatency}ms)` : `${target} down: ${p.error}`,
      });
      for (const [i, v] of (service.validation ?? []).entries()) {
        const r = await runProbe(v, probeTimeout(), { maxErrorRate: policy.quality.max_error_rate });
        const what =
          v.type === 'prometheus' && v.error_rate ? `error rate ${r.value ?? '?'} (max_error_rate ${policy.quality.max_error_rate})` : `${v.type} check`;
        checks.push({ name: `validation[${i}]`, ok: r.up, detail: r.up ? `${what} passed` : `${what} failed: ${r.error}` });
      }
      if (singleWriter) {
        const e = await checkEntrypoint(service, target, probeTimeout());
        checks.push({ name: 'entrypoint', ok: e.ok, detail: e.detail });
      } else if (service.entrypoint) {
        const e = await runProbe(service.entrypoint, probeTimeout());
        checks.push({ name: 'entrypoint', ok: e.up, detail: e.up ? 'entrypoint answers' : `entrypoint down: ${e.error}` });
      }
      const failed = checks.filter((c) => !c.ok);
      return { ok: failed.length === 0, detail: (failed.length ? failed : checks).map((c) => c.detail).join('; '), checks };
    },

    /**
     * Probes one destination `times` times, `intervalMs` apart; ok only if every probe passed (and,
     * with `maxLatencyMs`, answered within it: recovery_management.performance_validation). Heartbeats.
     */
    async probeRepeatedly(
      arg: ServiceArg,
      destination: string,
      times: number,
      intervalMs: number,
      maxLatencyMs?: number,
    ): Promise<{ ok: boolean; passed: number; detail: string }> {
      const { service, config } = await resolve(arg);
      const dest = service.destinations.find((d) => d.id === destination);
      if (!dest) throw ApplicationFailure.nonRetryable(`service ${service.name} has no destination ${destination}`, 'UnknownDestination');
      let slowest = 0;
      for (let i = 0; i < times; i++) {
        const r = await runProbe(dest.probe, probeTimeoutOf(config));
        heartbeat({ passed: i });
        if (!r.up) return { ok: false, passed: i, detail: `probe ${i + 1}/${times} failed: ${r.error}` };
        slowest = Math.max(slowest, r.latencyMs);
        if (maxLatencyMs !== undefined && r.latencyMs > maxLatencyMs) {
          return {
            ok: false,
            passed: i,
            detail: `probe ${i + 1}/${times} answered in ${Math.round(r.latencyMs)}ms, slower than quality.max_latency ${maxLatencyMs}ms (performance_validation)`,
          };
        }
        // Sleep in slices: the heartbeat timeout is seconds, the interval may be longer.
        for (let left = i < times - 1 ? intervalMs : 0; left > 0; left -= 1000) {
          await sleep(Math.min(left, 1000));
          heartbeat({ passed: i + 1 });
        }
      }
      const perf = maxLatencyMs !== undefined ? `, slowest ${Math.round(slowest)}ms within ${maxLatencyMs}ms` : '';
      return { ok: true, passed: times, detail: `${times} consecutive probes passed, ${intervalMs}ms apart${perf}` };
    },

    /**
     * The result of a finished failover/recovery of a service (a run of its lock id): the run given,
     * or the latest completed one. Rollback restores the routing it started from.
     */
    async runbookResult(service: string, runId?: string): Promise<{ runId: string; type: string; routingBefore: Routing; routingAfter: Routing }> {
      if (!deps.client) throw ApplicationFailure.nonRetryable('this worker has no Temporal client to read runbooks with', 'NoClient');
      const workflowId = runbookWorkflowId(service);
      let run = runId;
      if (!run) {
        const query = `WorkflowId = '${workflowId}' AND ExecutionStatus = 'Completed' AND (WorkflowType = 'failover' OR WorkflowType = 'recovery')`;
        for await (const w of deps.client.workflow.list({ query, pageSize: 1 })) {
          run = w.runId;
          break;
        }
        if (!run) throw ApplicationFailure.nonRetryable(`service ${service} has no completed failover or recovery to roll back`, 'NoSnapshot');
      }
      const handle = deps.client.workflow.getHandle(workflowId, run);
      const desc = await handle.describe().catch((err: Error) => {
        throw ApplicationFailure.nonRetryable(`no runbook run ${JSON.stringify(run)} of ${workflowId}: ${err.message}`, 'UnknownRunbook');
      });
      if (desc.status.name !== 'COMPLETED') {
        throw ApplicationFailure.nonRetryable(
          `run ${run} of ${workflowId} (${desc.type}) is ${desc.status.name.toLowerCase()}, not completed; only a finished runbook can be rolled back`,
          'NotFinished',
        );
      }
      const result = (await handle.result()) as { routingBefore?: Routing; routingAfter?: Routing };
      if (!result?.routingBefore) throw ApplicationFailure.nonRetryable(`run ${run} (${desc.type}) recorded no routing to restore`, 'NoSnapshot');
      return { runId: run, type: desc.type, routingBefore: result.routingBefore, routingAfter: result.routingAfter ?? result.routingBefore };
    },

    /** Current routing and which destinations answer their probe: what the redundancy runbook counts. */
    async observeService(arg: ServiceArg): Promise<{ routing: Routing; healthy: string[]; replication: Record<string, ReplicationObservation> }> {
      const { service, config } = await resolve(arg);
      const probeTimeout = () => probeTimeoutOf(config);
      const [read, probes] = await Promise.all([
        routerFor(service).read(),
        Promise.all(service.destinations.map(async (d) => [d.id, await runProbe(d.probe, probeTimeout())] as const)),
      ]);
      const readout = await readRoutingWithPrimary(
        service,
        (id) => runProbe(destinationOf(service, id).probe, probeTimeout()),
        Object.fromEntries(probes),
        read,
      ).catch((err: unknown) => (err instanceof AmbiguousPrimaryError ? nonRetryable(err, 'AmbiguousPrimary') : Promise.reject(err)));
      return {
        routing: readout.routing,
        healthy: probes.filter(([, p]) => p.up).map(([id]) => id),
        replication: Object.fromEntries(probes.flatMap(([id, p]) => (p.up && p.replication ? [[id, p.replication]] : []))),
      };
    },

    /** Redundancy dropped below its level: an audit record, an error log, and the configured webhook. */
    async raiseRedundancyAlert(service: string, event: Record<string, unknown>, webhook?: string): Promise<void> {
      await sendAlert(
        logger,
        {
          name: 'redundancy-below-level',
          severity: 'critical',
          service,
          summary: `${service} is below its redundancy level`,
          details: event,
          targets: { webhook },
        },
        idempotencyKey(),
      );
    },

    /** An alert event (audit + log + webhook + Alertmanager), see ./alerts.ts. */
    async raiseAlert(event: AlertEvent): Promise<void> {
      await sendAlert(logger, event, idempotencyKey());
    },

    /** How a runbook run ended, or that it still runs: detection learns the end of runbooks started before a restart. */
    async runbookOutcome(workflowId: string, runId: string): Promise<RunbookOutcomeReading> {
      if (!deps.client) throw ApplicationFailure.nonRetryable('this worker has no Temporal client to read runbooks with', 'NoClient');
      const handle = deps.client.workflow.getHandle(workflowId, runId);
      const desc = await handle.describe();
      if (desc.status.name === 'RUNNING') return { status: 'running' };
      try {
        return { status: 'completed', result: ((await handle.result()) ?? {}) as Record<string, unknown> };
      } catch (err) {
        const cause = err instanceof WorkflowFailedError ? err.cause : err;
        if (cause instanceof Failure) {
          const details = cause.details?.[0];
          return {
            status: 'failed',
            message: cause.message,
            ...(cause.type ? { type: cause.type } : {}),
            ...(details && typeof details === 'object' ? { details: details as Record<string, unknown> } : {}),
          };
        }
        if (cause instanceof TerminatedFailure) return { status: 'failed', type: 'Terminated', message: cause.message };
        if (cause instanceof CancelledFailure) return { status: 'failed', type: 'Cancelled', message: cause.message };
        return { status: 'failed', type: desc.status.name, message: cause instanceof Error ? cause.message : String(cause) };
      }
    },

    /** What `destination` holds that `primary` lacks, before a resync discards it (unknown for drivers that cannot tell). */
    async inspectDivergence(arg: ServiceArg, destination: string, primary: string): Promise<Divergence | null> {
      const { service, config } = await resolve(arg);
      const r = replicatorOrFail(service, probeTimeoutOf(config));
      return r.divergence ? r.divergence(destination, primary) : null;
    },

    /** Saves everything `destination` holds into `dir` (on this worker's host) so lost writes can be recovered by hand. */
    async keepDivergentCopy(arg: ServiceArg, destination: string, dir: string): Promise<{ file: string; bytes: number } | null> {
      const { service, config } = await resolve(arg);
      const r = replicatorOrFail(service, probeTimeoutOf(config));
      if (!r.snapshot) return null;
      fs.mkdirSync(dir, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const file = path.resolve(dir, `${service.name}-${destination}-${stamp}.rdb`);
      const { bytes } = await r.snapshot(destination, file, (b) => heartbeat({ bytes: b }));
      logger.warn({ audit: true, service: service.name, destination, file, bytes }, 'divergent copy kept before resync');
      return { file, bytes };
    },

    /** The config file this worker was started with (the supervisor applies it for the worker's file watch). */
    workerConfigFile,

    /** One structured audit record per runbook step, beside the workflow history. */
    async audit(event: AuditEvent): Promise<void> {
      const info = Context.current().info;
      logger.info({ audit: true, ...event, attempt: info.attempt }, `${event.runbook} ${event.service}: ${event.step} ${event.outcome}`);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
