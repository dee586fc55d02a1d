/**
 * The failover manager as a library: a typed client over the runbooks and the live config (the
 * same layer the MCP server and the CLI use). See README "MCP server and TypeScript API".
 */
export { FailoverManager, type ConnectOptions } from './client/manager';
export { closeFailoverManager, detectFailover, executeFailover, manageRecovery, manageRedundancy, useFailoverManager } from './client/functions';
export type {
  Destination,
  DestinationHealthReport,
  FailoverDetectionConfig,
  FailoverDetectionResult,
  FailoverExecutionConfig,
  FailoverExecutionResult,
  FailoverRecommendation,
  FailoverStatus,
  FailoverStrategy,
  HealthStatus,
  LoadDistribution,
  OptimizationResult,
  PerformanceMetrics,
  RecoveryAttempt,
  RecoveryManagementConfig,
  RecoveryManagementResult,
  RecoveryStatus,
  RecoveryStrategy,
  RedundancyManagementConfig,
  RedundancyManagementResult,
  RedundancyStatus,
  ResolvedDestination,
  RunRef,
  SyncStatus,
} from './client/spec-api';
export { ConfigChangeRefusedError, type ConfigChangeOutcome } from './client/config-changes';
export { NoSupervisorError, type CoreOptions, type LiveConfigView } from './client/core';
export type { DestinationView, PlanOutcome, ServiceMonitor } from './client/monitor';
export { NoWorkerError, RouterUnreadableError, type HistoryRun, type StatusReport } from './client/observe';
export { ServiceBusyError } from './client/start-runbook';
export { RUNBOOK_KINDS, type RunbookKind, type TriggerInput, type TriggerOutcome } from './client/trigger';
export type { ConfigureInput, DefineInput, DestinationInput } from './domain/config-edit';
export { InvalidInputError } from './domain/validation';
export { validateConfig, type Config, type Policy, type ServiceConfig } from './domain/config';
