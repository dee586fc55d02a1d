import * as wf from '@temporalio/workflow';
import type { DetectionStatus } from '../workflows/detection';
import type { RedundancyStatus } from '../workflows/redundancy';
import type { RunbookStatus } from '../workflows/runbook-frame';

/**
 * The queries clients read runbooks with (CLI, MCP server, TypeScript API), defined here so that a
 * client need not load workflow modules (some of which only load inside a workflow).
 */
export const healthQuery = wf.defineQuery<DetectionStatus>('health');
export const statusQuery = wf.defineQuery<RunbookStatus>('status');
export const redundancyQuery = wf.defineQuery<RedundancyStatus>('redundancy');
