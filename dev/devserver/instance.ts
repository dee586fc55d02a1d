import fs from 'node:fs';
import { describeInstance, lockFileOf, runningInstance, type InstanceInfo } from '../../src/local-instance';

export class InstanceBusyError extends Error {
  constructor(
    message: string,
    readonly holder?: InstanceInfo,
  ) {
    super(message);
    this.name = 'InstanceBusyError';
  }
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
