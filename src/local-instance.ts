import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * What a running `npm start` (dev/demo.ts) publishes about itself, read by the product CLI: its lock
 * file in the data directory (`failover demo …` finds the demo endpoint there, the CLI the local
 * codec key) and the answers of its demo endpoint. The launcher itself is dev tooling in dev/.
 */

/** Where `npm start` keeps its state: the dev server's SQLite file (workflows, histories, schedules, the live config) and its log. */
export const DEFAULT_DATA_DIR = path.join(os.homedir(), '.local', 'share', 'failover-manager');
const LOCK_FILE = 'npm-start.lock';

/** What a running `npm start` tells others about itself (its lock file, readable by its user only). */
export interface InstanceInfo {
  pid: number;
  startedAt: string;
  dataDir: string;
  config: string;
  temporal?: { address: string; uiUrl?: string };
  taskQueue?: string;
  /** The demo's control endpoint (`failover demo kill|start`), when the demo runs. */
  demo?: { url: string; token: string };
}

/** One demo Redis server as the demo endpoint reports it (`GET /demo`). */
export interface DemoDestinationState {
  service: string;
  destination: string;
  port: number;
  running: boolean;
  pid?: number;
}

export function lockFileOf(dataDir: string): string {
  return path.join(dataDir, LOCK_FILE);
}

/** Whether a process with this pid exists (and may be signalled by us, or belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The instance holding `dataDir`, if one runs (a lock left by a dead process does not count). */
export function runningInstance(dataDir: string): InstanceInfo | undefined {
  let info: InstanceInfo;
  try {
    info = JSON.parse(fs.readFileSync(lockFileOf(dataDir), 'utf8')) as InstanceInfo;
  } catch {
    return undefined;
  }
  return typeof info.pid === 'number' && processAlive(info.pid) ? info : undefined;
}

export function describeInstance(i: InstanceInfo): string {
  return `pid ${i.pid}, started ${i.startedAt}, config ${i.config}${i.temporal ? `, Temporal ${i.temporal.address}` : ''}${i.temporal?.uiUrl ? `, Web UI ${i.temporal.uiUrl}` : ''}`;
}
