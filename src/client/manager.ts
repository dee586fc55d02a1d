import { Client, Connection } from '@temporalio/client';
import { configHistoryQuery, type ConfigVersion } from '../api/supervisor';
import { loadConfigFile } from '../config-file';
import { locateConfig } from '../config-location';
import type { ConfigureInput, DefineInput } from '../domain/config-edit';
import type { SimulationResult } from '../domain/simulate';
import { connectionOptions, temporalEnv } from '../temporal-settings';
import { configure, define, type ConfigChangeOutcome } from './config-changes';
import { Core, NoSupervisorError, type CoreOptions, type LiveConfigView, type Signer } from './core';
import { monitor, plan, simulate, type PlanOutcome, type ServiceMonitor } from './monitor';
import { serviceStatus } from './observe';
import type { DecisionRecord } from '../api/status';
import {
  detectFailover,
  executeFailover,
  manageRecovery,
  manageRedundancy,
  type Destination,
  type FailoverDetectionConfig,
  type FailoverDetectionResult,
  type FailoverExecutionConfig,
  type FailoverExecutionResult,
  type RecoveryManagementConfig,
  type RecoveryManagementResult,
  type RedundancyManagementConfig,
  type RedundancyManagementResult,
} from './spec-api';
import { trigger, type TriggerInput, type TriggerOutcome } from './trigger';
import { dataConverterFromEnv } from '../security/codec';

export interface ConnectOptions {
  /** Temporal frontend host:port (default $TEMPORAL_ADDRESS or 127.0.0.1:7233); TLS and API key from the environment as for the worker. */
  address?: string;
  namespace?: string;
  /** The workers' task queue (default $TEMPORAL_TASK_QUEUE or failover-manager). */
  taskQueue?: string;
  /** Config file read when no supervisor runs (default $FAILOVER_CONFIG, else /etc/failover-manager/failover.yaml); only reads fall back to it. */
  configFile?: string;
  webUiUrl?: string;
  actor?: string;
  workerTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Sign runbook starts and config changes as this person (CoreOptions.signer). */
  signer?: Signer;
}

/**
 * The failover manager as a typed client: the Failover Manager spec's four functions and the MCP
 * API's operations, over the runbooks and the live config. The MCP server and the CLI use the same
 * layer, so every surface validates, locks and records alike.
 *
 * ```ts
 * const fm = await FailoverManager.connect({ taskQueue: 'failover-manager', actor: 'deploy-bot' });
 * const found = await fm.detectFailover([{ service: 'orders-bus', id: 'redis-a' }], { failureThreshold: 3 });
 * if (found.failoverNeeded) await fm.executeFailover(found.failedDestinations, [], { reason: 'redis-a down' });
 * await fm.close();
 * ```
 */
export class FailoverManager {
  private constructor(
    private readonly core: Core,
    private readonly owned?: Connection,
  ) {}

  /** Over a client you already have (you close it). */
  static fromClient(options: CoreOptions): FailoverManager {
    return new FailoverManager(new Core(options));
  }

  /** Connects to Temporal with the same settings and environment variables as the CLI; `close()` when done. */
  static async connect(o: ConnectOptions = {}): Promise<FailoverManager> {
    const env = temporalEnv(o.env ?? process.env);
    const address = o.address ?? env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
    const connection = await Connection.connect({ ...(connectionOptions(env, address) as object), connectTimeout: '5s' });
    const client = new Client({ connection, namespace: o.namespace ?? env.TEMPORAL_NAMESPACE, dataConverter: dataConverterFromEnv(o.env ?? process.env) });
    let loaded: ReturnType<typeof loadConfigFile> | undefined;
    return new FailoverManager(
      new Core({
        client,
        taskQueue: o.taskQueue ?? env.TEMPORAL_TASK_QUEUE,
        ...(o.webUiUrl ? { webUiUrl: o.webUiUrl } : {}),
        ...(o.actor ? { actor: o.actor } : {}),
        ...(o.workerTimeoutMs ? { workerTimeoutMs: o.workerTimeoutMs } : {}),
        ...(o.signer ? { signer: o.signer } : {}),
        // --config's lookup: the given file, $FAILOVER_CONFIG, the documented default; never the demo's by accident.
        fallbackConfig: () => (loaded ??= loadConfigFile(locateConfig(o.configFile, o.env ?? process.env).file)),
      }),
      connection,
    );
  }

  /** The same connection, acting as someone else (each MCP session acts as its client). */
  as(actor: string): FailoverManager {
    return new FailoverManager(new Core({ ...this.core.options, actor }));
  }

  get actor(): string {
    return this.core.actor;
  }

  get taskQueue(): string {
    return this.core.taskQueue;
  }

  async close(): Promise<void> {
    await this.owned?.close();
  }

  /** The live config (the supervisor's; the fallback config when no supervisor runs). */
  liveConfig(): Promise<LiveConfigView> {
    return this.core.liveConfig();
  }

  /** Config versions, newest first: who, when, why, diff. */
  async configHistory(limit = 20): Promise<ConfigVersion[]> {
    const handle = await this.core.supervisor();
    if (!handle) throw new NoSupervisorError(this.core.taskQueue, 'there is no config history');
    return (await this.core.ask('config history query', () => handle.query(configHistoryQuery))).slice(-limit).reverse();
  }

  /** Create a service or replace its strategy (failover.define). */
  define(input: DefineInput): Promise<ConfigChangeOutcome> {
    return define(this.core, input);
  }

  /** Add, remove or change backups of a service (failover.configure). */
  configure(input: ConfigureInput): Promise<ConfigChangeOutcome> {
    return configure(this.core, input);
  }

  /** Start a runbook under the service's lock (failover.trigger). */
  trigger(input: TriggerInput): Promise<TriggerOutcome> {
    return trigger(this.core, input);
  }

  /** A service's health, routing, runbooks and redundancy (failover.monitor). */
  monitor(service: string, opts?: { history?: number }): Promise<ServiceMonitor> {
    return monitor(this.core, service, opts);
  }

  /** Detection's recorded decisions for a service, oldest first (why it started what it started). */
  async detectionDecisions(service: string): Promise<{ running: boolean; decisions: DecisionRecord[] }> {
    const { service: s } = await this.core.service(service);
    const status = await serviceStatus(this.core.client, this.core.taskQueue, s.name, this.core.ask);
    return { running: status.detection !== null, decisions: status.detection?.health.decisions ?? [] };
  }

  /** Dry run of a failover from live probes (failover.plan). */
  plan(service: string, to?: string): Promise<PlanOutcome> {
    return plan(this.core, service, to);
  }

  /** The decision logic over a scripted scenario (failover.simulate). */
  simulate(service: string, scenario: unknown): Promise<SimulationResult> {
    return simulate(this.core, service, scenario);
  }

  detectFailover(destinations: Destination[], config?: FailoverDetectionConfig): Promise<FailoverDetectionResult> {
    return detectFailover(this.core, destinations, config);
  }

  executeFailover(failedDestinations: Destination[], backupDestinations: Destination[], config?: FailoverExecutionConfig): Promise<FailoverExecutionResult> {
    return executeFailover(this.core, failedDestinations, backupDestinations, config);
  }

  manageRecovery(failedDestinations: Destination[], config?: RecoveryManagementConfig): Promise<RecoveryManagementResult> {
    return manageRecovery(this.core, failedDestinations, config);
  }

  manageRedundancy(destinations: Destination[], config?: RedundancyManagementConfig): Promise<RedundancyManagementResult> {
    return manageRedundancy(this.core, destinations, config);
  }

  /** A link to a run in the Temporal Web UI. */
  runLink(workflowId: string, runId: string): string {
    return this.core.runLink(workflowId, runId);
  }
}
