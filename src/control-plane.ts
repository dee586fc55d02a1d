import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import {
  applyConfigFileUpdate,
  configVersionQuery,
  liveConfigQuery,
  supervisionQuery,
  supervisorStateQuery,
  supervisorWorkflowId,
  type ConfigChangeRequest,
  type SupervisionStatus,
} from './api/supervisor';
import { readConfigFile } from './config-file';
import { validateConfig, type Config } from './domain/config';
import { configHash, diffConfig, formatDiff } from './domain/config-diff';
import { registerWorkerConfigFile } from './activities/config-file-read';

/**
 * The worker side of the control plane: each worker follows the live config (all workers see the
 * same version), makes sure the supervisor runs (starting it with the worker's file when there is
 * none yet, restarting it with its state when it was terminated), and applies its config file when
 * asked to (SIGHUP, or on every change when watching).
 */

/** This worker's copy of the live config: what activities read and what loadService snapshots. */
export class LiveConfig {
  private current: { version: number; config: Config };

  constructor(
    initial: Config,
    private readonly fetch?: () => Promise<{ version: number; config: Config }>,
  ) {
    this.current = { version: 0, config: initial };
  }

  get config(): Config {
    return this.current.config;
  }

  get version(): number {
    return this.current.version;
  }

  set(version: number, config: Config): void {
    if (version >= this.current.version) this.current = { version, config };
  }

  /** The live config at `minVersion` or newer, fetched from the supervisor when this copy is older. */
  async atLeast(minVersion?: number): Promise<{ version: number; config: Config }> {
    if (this.fetch && (this.current.version === 0 || (minVersion !== undefined && this.current.version < minVersion))) {
      const latest = await this.fetch();
      this.set(latest.version, latest.config);
    }
    if (minVersion !== undefined && this.current.version < minVersion)
      throw new Error(`live config version ${minVersion} not seen yet (have ${this.current.version})`);
    return this.current;
  }
}

export interface ControlPlaneOptions {
  client: Client;
  taskQueue: string;
  configFile: string;
  logger: Logger;
  live: LiveConfig;
  /** Apply the config file whenever it changes (as on SIGHUP). */
  watchFile?: boolean;
  /** How often a worker checks that the supervisor runs and its config copy is current. */
  checkEveryMs?: number;
}

export interface ControlPlane {
  supervisorId: string;
  /** Applies the config file now (what SIGHUP does); a bad file changes nothing. */
  applyFile(reason: string): Promise<void>;
  stop(): void;
}

function isNotFound(err: unknown): boolean {
  return err instanceof WorkflowNotFoundError || (err as { name?: string })?.name === 'WorkflowNotFoundError';
}

export function workerIdentity(): string {
  return `worker@${os.hostname()}:${process.pid}`;
}

/**
 * Starts the supervisor if it does not run: with the state of its last run when that ended by
 * termination or failure (read by querying the closed run), or with `seed` as version 1.
 */
export async function ensureSupervisor(
  client: Client,
  taskQueue: string,
  seed: () => ConfigChangeRequest,
  logger: Logger,
): Promise<'running' | 'started' | 'restarted'> {
  const workflowId = supervisorWorkflowId(taskQueue);
  const handle = client.workflow.getHandle(workflowId);
  const desc = await handle.describe().catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (desc?.status.name === 'RUNNING') return 'running';
  const carried = desc
    ? await handle
        .query(supervisorStateQuery)
        .catch(
          (err: Error) => (logger.error({ err: err.message }, 'supervisor state of the ended run is unreadable; starting from the config file'), undefined),
        )
    : undefined;
  await client.workflow.start('supervisor', {
    workflowId,
    taskQueue,
    args: [carried ? { carried } : { seed: seed() }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `control plane of task queue ${taskQueue}: live config, brakes, supervision`,
  });
  logger.warn(
    { workflowId, previous: desc?.status.name ?? 'none', carried: carried !== undefined },
    carried ? 'supervisor restarted with the state of its last run' : 'supervisor started',
  );
  return carried ? 'restarted' : 'started';
}

export async function startControlPlane(o: ControlPlaneOptions): Promise<ControlPlane> {
  const { client, taskQueue, logger, live } = o;
  const supervisorId = supervisorWorkflowId(taskQueue);
  const handle = client.workflow.getHandle(supervisorId);
  const file = path.resolve(o.configFile);
  const seed = (): ConfigChangeRequest => ({ config: readConfigFile(file).raw, by: workerIdentity(), reason: `first config, from ${file}`, source: file });
  // The supervisor reads this file itself (a local activity) when asked to apply it: trust in this host's file system.
  const unregister = registerWorkerConfigFile(taskQueue, file);

  const refresh = async () => {
    const v = await handle.query(configVersionQuery);
    if (v.version === live.version) return;
    const doc = await handle.query(liveConfigQuery);
    live.set(doc.version, validateConfig(doc.config, `live config version ${doc.version}`));
    logger.info({ version: doc.version, hash: doc.hash }, 'live config version loaded');
  };

  const applyFile = async (reason: string) => {
    let raw: unknown;
    try {
      raw = readConfigFile(file).raw;
    } catch (err) {
      return void logger.error({ file, problems: (err as Error).message }, 'config file not applied: it is invalid; the live config is unchanged');
    }
    try {
      const result = await handle.executeUpdate(applyConfigFileUpdate, { args: [{ by: workerIdentity(), reason, hash: configHash(raw) }] });
      if (result.changed) logger.warn({ version: result.version, diff: result.diff }, 'config applied from file');
      await refresh();
    } catch (err) {
      logger.error({ file, err: (err as Error).message }, 'config file not applied');
    }
  };

  // Calls in flight when the control plane stops are aborted: one left running would retry from a
  // timer after the worker closed its connection, and throw there.
  // A signal per call: the SDK leaves its abort listener on the signal it is given.
  const inFlight = new Set<AbortController>();
  let stopped = false;
  const untilStopped = async (fn: () => Promise<void>) => {
    const call = new AbortController();
    inFlight.add(call);
    try {
      await client.withAbortSignal(call.signal, fn);
    } finally {
      inFlight.delete(call);
    }
  };
  const check = async () => {
    try {
      await untilStopped(async () => {
        await ensureSupervisor(client, taskQueue, seed, logger);
        await refresh();
      });
    } catch (err) {
      if (stopped) return;
      logger.warn({ err: (err as Error).message }, 'control plane check failed; trying again');
    }
  };
  await check();
  try {
    const doc = await handle.query(liveConfigQuery);
    const diff = formatDiff(diffConfig(doc.config, readConfigFile(file).raw));
    if (diff.length > 0 && !o.watchFile) {
      logger.warn(
        { file, version: doc.version, diff: diff.slice(0, 20) },
        `config file differs from live config version ${doc.version}; the live version is used (apply the file with: failover config apply ${o.configFile})`,
      );
    }
  } catch {
    // Compared again at the next check; nothing depends on it.
  }
  if (o.watchFile) await applyFile(`${o.configFile} at worker start`);

  const timer = setInterval(() => void check(), o.checkEveryMs ?? 5_000);
  timer.unref();
  const onHup = () => void untilStopped(() => applyFile(`${o.configFile} re-read on SIGHUP`));
  process.on('SIGHUP', onHup);
  const watcher = o.watchFile
    ? (() => {
        const listener = (cur: fs.Stats, prev: fs.Stats) => {
          if (cur.mtimeMs !== prev.mtimeMs) void untilStopped(() => applyFile(`${o.configFile} changed`));
        };
        fs.watchFile(file, { interval: 1000 }, listener);
        return () => fs.unwatchFile(file, listener);
      })()
    : undefined;

  return {
    supervisorId,
    applyFile,
    stop() {
      stopped = true;
      for (const call of inFlight) call.abort();
      unregister();
      clearInterval(timer);
      process.off('SIGHUP', onHup);
      watcher?.();
    },
  };
}

/** Waits until the supervisor reports every configured service's detection running (bounded). */
export async function supervisionReady(client: Client, taskQueue: string, timeoutMs = 30_000): Promise<SupervisionStatus> {
  const handle = client.workflow.getHandle(supervisorWorkflowId(taskQueue));
  const deadline = Date.now() + timeoutMs;
  let last: SupervisionStatus | undefined;
  for (;;) {
    last = await handle.query(supervisionQuery).catch(() => last);
    const services = Object.values(last?.services ?? {});
    if (last && services.length > 0 && services.every((s) => s.detection === 'running' || s.detection === 'started')) return last;
    if (Date.now() > deadline) throw new Error(`supervision not ready after ${timeoutMs}ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
