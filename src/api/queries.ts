import * as wf from '@temporalio/workflow';
import type { AlertEvidence } from '../domain/alerts';
import type { RedundancyStatus } from '../workflows/redundancy';
import type { DetectionStatus, RunbookEnded, RunbookStatus } from './status';

/**
 * The messages clients read and drive runbooks with (CLI, alert receiver, MCP server, TypeScript API,
 * tests), defined here so that a client need not load workflow modules (some of which only load
 * inside a workflow). The operator's updates (approve, pause, resume, abort) are in
 * src/workflows/controls.ts, the supervisor's in ./supervisor.ts.
 */
export const healthQuery = wf.defineQuery<DetectionStatus>('health');
export const statusQuery = wf.defineQuery<RunbookStatus>('status');
export const redundancyQuery = wf.defineQuery<RedundancyStatus>('redundancy');
/** Evidence from an alert source (Alertmanager, Grafana) for detection to weigh. */
export const alertSignal = wf.defineSignal<[AlertEvidence]>('alert');
/**
 * Sent by a runbook detection started to detection's workflow id when it ends: it reaches whichever
 * run of detection is current, so what it learns (ranking, retries) survives continue-as-new.
 */
export const runbookEndedSignal = wf.defineSignal<[RunbookEnded]>('runbookEnded');
