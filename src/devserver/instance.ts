import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processAlive } from './holders';

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

export class InstanceBusyError extends Error {
  constructor(
    message: string,
    readonly holder?: InstanceInfo,
  ) {
    super(message);
    this.name = 'InstanceBusyError';
  }
}

export function lockFileOf(dataDir: string): string {
  return path.join(dataDir, LOCK_FILE);
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

export interface InstanceLock {
  /** Rewrites the lock with what is known now (addresses, the demo endpoint). */
  update(patch: Partial<InstanceInfo>): void;
  release(): void;
}

/**
 * Takes the data directory for this process: one `npm start` per data directory, so two never share
 * a SQLite file. A lock whose process is gone is taken over; a live one is refused, naming it.
 */
export function acquireInstanceLock(dataDir: string, config: string): InstanceLock {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = lockFileOf(dataDir);
  let info: InstanceInfo = { pid: process.pid, startedAt: new Date().toISOString(), dataDir, config };
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, JSON.stringify(info, null, 2));
      fs.closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const holder = runningInstance(dataDir);
      if (holder) {
        throw new InstanceBusyError(
          `another npm start holds ${dataDir} (${describeInstance(holder)}). Use that one, stop it (Ctrl-C in its terminal, or kill ${holder.pid}), ` +
            'or start this one with its own --data-dir and ports (see npm start -- --help).',
          holder,
        );
      }
      fs.rmSync(file, { force: true }); // left by a process that is gone
    }
  }
  const write = () => fs.writeFileSync(file, JSON.stringify(info, null, 2), { mode: 0o600 });
  return {
    update(patch) {
      info = { ...info, ...patch };
      write();
    },
    release() {
      try {
        const current = JSON.parse(fs.readFileSync(file, 'utf8')) as InstanceInfo;
        if (current.pid === process.pid) fs.rmSync(file, { force: true });
      } catch {
        // already gone
      }
    },
  };
}
