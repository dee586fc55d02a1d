import type { KeyObject } from 'node:crypto';
import os from 'node:os';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import { liveConfigQuery, supervisorWorkflowId } from '../api/supervisor';
import { findService, policyOf, validateConfig, type Config, type Policy, type ServiceConfig } from '../domain/config';
import { InvalidInputError } from '../domain/validation';
import { askWithDeadline, type Ask } from './observe';

/**
 * What every call of the programmatic API needs: the Temporal client and task queue, who is
 * acting, and the live config (the supervisor's, or a fallback when no supervisor runs).
 */
export interface CoreOptions {
  client: Client;
  taskQueue: string;
  /** Default: the client's namespace. */
  namespace?: string;
  /** Base URL of the Temporal Web UI, for links to runs (default http://127.0.0.1:8233). */
  webUiUrl?: string;
  /** Who acts: recorded as the actor of runbooks and the author of config changes. */
  actor?: string;
  /** The config to read when no supervisor runs on the task queue (changes always need one). */
  fallbackConfig?: () => Config;
  /** How long a query or update may wait for a worker to answer (default 10 s). */
  workerTimeoutMs?: number;
  /**
   * A person's Ed25519 key (approval.keys / config_changes.keys list `name`): runbook starts and
   * config changes are signed as `name`, so runbooks record the starter as verified (SECURITY.md).
   */
  signer?: Signer;
}

export interface Signer {
  name: string;
  key: KeyObject;
}

/** No supervisor runs on the task queue: there is no live config to read or change. */
export class NoSupervisorError extends Error {
  constructor(taskQueue: string, what: string) {
    super(
      `no supervisor runs on task queue ${taskQueue} (${supervisorWorkflowId(taskQueue)}), so ${what}; ` +
        'start a worker (npm run worker, or npm start) with supervision.enabled: the worker starts it',
    );
    this.name = 'NoSupervisorError';
  }
}

export interface LiveConfigView {
  /** The live version; null when read from the fallback (no supervisor runs). */
  version: number | null;
  hash?: string;
  /** The document as written (what changes are built from and diffed against). */
  raw: unknown;
  config: Config;
  source: 'supervisor' | 'fallback';
}

export function defaultApiActor(): string {
  let user = 'unknown';
  try {
    user = process.env.USER || os.userInfo().username || user;
  } catch {
    // no user database entry: keep "unknown"
  }
  return `api@${user}`;
}

/** Who a request names as asking, with the identity of the caller it came through (both recorded). */
export function actorFor(identity: string, asked?: string): string {
  const text = asked ? `${asked} (via ${identity})` : identity;
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

export class Core {
  readonly client: Client;
  readonly taskQueue: string;
  readonly namespace: string;
  readonly webUiUrl: string;
  readonly actor: string;
  readonly ask: Ask;
  private readonly fallback?: () => Config;

  constructor(readonly options: CoreOptions) {
    this.client = options.client;
    this.taskQueue = options.taskQueue;
    this.namespace = options.namespace ?? options.client.options.namespace;
    this.webUiUrl = (options.webUiUrl ?? 'http://127.0.0.1:8233').replace(/\/+$/, '');
    this.actor = options.actor ?? defaultApiActor();
    this.ask = askWithDeadline(options.client, options.taskQueue, options.workerTimeoutMs ?? 10_000);
    if (options.fallbackConfig) this.fallback = options.fallbackConfig;
  }

  /** A link to a run in the Web UI. */
  runLink(workflowId: string, runId: string): string {
    return `${this.webUiUrl}/namespaces/${encodeURIComponent(this.namespace)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}/history`;
  }

  /** The supervisor's handle when it runs; undefined otherwise. */
  async supervisor() {
    const handle = this.client.workflow.getHandle(supervisorWorkflowId(this.taskQueue));
    const desc = await handle.describe().catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
    return desc?.status.name === 'RUNNING' ? handle : undefined;
  }

  async liveConfig(): Promise<LiveConfigView> {
    const handle = await this.supervisor();
    if (handle) {
      const doc = await this.ask('config query', () => handle.query(liveConfigQuery));
      return {
        version: doc.version,
        hash: doc.hash,
        raw: doc.config,
        config: validateConfig(doc.config, `live config version ${doc.version}`),
        source: 'supervisor',
      };
    }
    if (!this.fallback) throw new NoSupervisorError(this.taskQueue, 'there is no live config to read');
    const config = this.fallback();
    return { version: null, raw: config, config, source: 'fallback' };
  }

  /** A service of the live config with the policy it runs with; bad names are refused naming `field`. */
  async service(name: string, field = 'service'): Promise<{ live: LiveConfigView; service: ServiceConfig; policy: Policy }> {
    const live = await this.liveConfig();
    const service = findService(live.config, name);
    if (!service) {
      const where = live.version !== null ? `live config version ${live.version}` : 'the config';
      throw new InvalidInputError('request', [
        `${field}: no service ${JSON.stringify(name)} in ${where} (has ${live.config.services.map((s) => s.name).join(', ')})`,
      ]);
    }
    return { live, service, policy: policyOf(live.config, name) };
  }
}

/** Checks that `id` is a destination of the service; the error names `field`. */
export function destinationOf(service: ServiceConfig, id: string, field: string) {
  const dest = service.destinations.find((d) => d.id === id);
  if (!dest)
    throw new InvalidInputError('request', [
      `${field}: no destination ${JSON.stringify(id)} in service ${service.name} (has ${service.destinations.map((d) => d.id).join(', ')})`,
    ]);
  return dest;
}
