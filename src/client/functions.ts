import { FailoverManager } from './manager';
import type {
  Destination,
  FailoverDetectionConfig,
  FailoverDetectionResult,
  FailoverExecutionConfig,
  FailoverExecutionResult,
  RecoveryManagementConfig,
  RecoveryManagementResult,
  RedundancyManagementConfig,
  RedundancyManagementResult,
} from './spec-api';

/**
 * The spec's four functions with exactly its signatures. They use one shared FailoverManager:
 * the one given to `useFailoverManager`, or else one connected from the environment
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE, …) at the first call. `closeFailoverManager()`
 * closes a connection made that way.
 */
let shared: Promise<FailoverManager> | undefined;
let ownsShared = false;

export function useFailoverManager(manager: FailoverManager): void {
  shared = Promise.resolve(manager);
  ownsShared = false;
}

function manager(): Promise<FailoverManager> {
  if (!shared) {
    ownsShared = true;
    shared = FailoverManager.connect().catch((err: unknown) => {
      shared = undefined;
      throw err;
    });
  }
  return shared;
}

export async function closeFailoverManager(): Promise<void> {
  const m = shared;
  const owned = ownsShared;
  shared = undefined;
  if (m && owned) await (await m).close();
}

export async function detectFailover(destinations: Destination[], config: FailoverDetectionConfig): Promise<FailoverDetectionResult> {
  return (await manager()).detectFailover(destinations, config);
}

export async function executeFailover(
  failedDestinations: Destination[],
  backupDestinations: Destination[],
  config: FailoverExecutionConfig,
): Promise<FailoverExecutionResult> {
  return (await manager()).executeFailover(failedDestinations, backupDestinations, config);
}

export async function manageRecovery(failedDestinations: Destination[], config: RecoveryManagementConfig): Promise<RecoveryManagementResult> {
  return (await manager()).manageRecovery(failedDestinations, config);
}

export async function manageRedundancy(destinations: Destination[], config: RedundancyManagementConfig): Promise<RedundancyManagementResult> {
  return (await manager()).manageRedundancy(destinations, config);
}
