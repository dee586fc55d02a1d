import * as wf from '@temporalio/workflow';
import { configChangeRefusal, type ConfigAction, type ConfigChangeRequestAuth } from '../domain/config-auth';
import type { Config } from '../domain/config';

/**
 * Refuses (in the supervisor's update validator) a config change the live config does not allow
 * (domain/config-auth.ts), logging who tried what: a rejected update leaves no trace in the history.
 */
export function authorizeConfigChange(live: { version: number; config: Config }, req: ConfigChangeRequestAuth, action: ConfigAction, target: string): void {
  const info = wf.workflowInfo();
  const refusal = configChangeRefusal(live.config, req, { action, supervisorId: info.workflowId, liveVersion: live.version, target });
  if (refusal === undefined) return;
  wf.log.warn('config change refused', { action, by: req.by, reason: refusal, liveVersion: live.version, workflowId: info.workflowId });
  throw new Error(refusal);
}
