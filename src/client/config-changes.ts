import { WorkflowUpdateFailedError } from '@temporalio/client';
import { routerFor } from '../drivers';
import { applyConfigUpdate, liveConfigQuery, type ConfigChangeResult } from '../api/supervisor';
import { findService, validateConfig } from '../domain/config';
import { configureBackups, configureInputSchema, defineInputSchema, defineService, type ConfigureInput, type DefineInput } from '../domain/config-edit';
import { InvalidInputError, parseOrThrow } from '../domain/validation';
import { actorFor, NoSupervisorError, type Core } from './core';
import { signConfigChange, signedDocumentDigest } from '../security/config-signing';

export interface ConfigChangeOutcome {
  service: string;
  /** The live version after the change (the one it was compared with, for a dry run or no change). */
  version: number;
  /** The version the change was built from. */
  basedOn: number;
  changed: boolean;
  dryRun: boolean;
  /** One line per change: `+ path: value`, `- path`, `~ path: old → new`. */
  diff: string[];
  /** Who the change is recorded as made by. */
  by: string;
  created?: boolean;
  added?: string[];
  removed?: string[];
  changedDestinations?: string[];
}

/** The supervisor refused a change (its validator, or the live version moved on). */
export class ConfigChangeRefusedError extends Error {
  constructor(reason: string) {
    super(`config change refused: ${reason}`);
    this.name = 'ConfigChangeRefusedError';
  }
}

function rootMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error) e = (e as { cause: Error }).cause;
  return e instanceof Error ? e.message : String(e);
}

/**
 * Builds a new document from the live one and applies it as one versioned change (who, why,
 * diff), compare-and-set on the version it was built from: a change applied in between is
 * refused, never overwritten. A dry run returns the diff only.
 */
async function applyChange(
  core: Core,
  meta: { service: string; reason: string; actor?: string | undefined; dry_run?: boolean | undefined; expect_version?: number | undefined },
  source: string,
  build: (raw: unknown, version: number) => { doc: unknown } & Partial<ConfigChangeOutcome>,
  /** Checks against the live state before anything is applied (given the live document). */
  check?: (raw: unknown) => Promise<void>,
): Promise<ConfigChangeOutcome> {
  const handle = await core.supervisor();
  if (!handle) throw new NoSupervisorError(core.taskQueue, 'config changes cannot be applied (they go through the live, versioned config it holds)');
  const live = await core.ask('config query', () => handle.query(liveConfigQuery));
  if (meta.expect_version !== undefined && meta.expect_version !== live.version) {
    throw new InvalidInputError('config change', [
      `expect_version: the live config is version ${live.version}, not ${meta.expect_version}; someone applied a change in between (read it again)`,
    ]);
  }
  const { doc, ...extra } = build(live.config, live.version);
  await check?.(live.config);
  // A signer changes config under their own name, signed (config_changes.appliers, SECURITY.md).
  const signer = core.options.signer;
  const by = signer ? signer.name : actorFor(core.actor, meta.actor);
  const signature = signer
    ? signConfigChange(
        { action: 'apply', supervisorId: handle.workflowId, by, reason: meta.reason, basedOn: live.version, target: signedDocumentDigest(doc) },
        signer.key,
      )
    : undefined;
  let result: ConfigChangeResult;
  try {
    result = await core.ask('config update', () =>
      handle.executeUpdate(applyConfigUpdate, {
        args: [
          {
            config: doc,
            by,
            reason: meta.reason,
            source,
            expectVersion: live.version,
            ...(meta.dry_run ? { dryRun: true } : {}),
            ...(signature ? { signature } : {}),
          },
        ],
      }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new ConfigChangeRefusedError(rootMessage(err));
    throw err;
  }
  return {
    service: meta.service,
    version: result.version,
    basedOn: live.version,
    changed: result.changed,
    dryRun: result.dryRun,
    diff: result.diff,
    by,
    ...extra,
  };
}

/** `failover.define`: create a service or replace its strategy; see defineService. */
export async function define(core: Core, request: DefineInput): Promise<ConfigChangeOutcome> {
  const input = parseOrThrow(defineInputSchema, request, 'failover.define request');
  return applyChange(core, input, `failover.define ${input.service}`, (raw, version) => defineService(raw, input, version));
}

/**
 * `failover.configure`: add, remove or change backups of a service. A destination that carries
 * traffic is never removed (move the traffic first); when the routing cannot be read that is
 * refused too, unless `force`.
 */
export async function configure(core: Core, request: ConfigureInput): Promise<ConfigChangeOutcome> {
  const input = parseOrThrow(configureInputSchema, request, 'failover.configure request');
  return applyChange(
    core,
    input,
    `failover.configure ${input.service}`,
    (raw, version) => {
      const r = configureBackups(raw, input, version);
      return { doc: r.doc, added: r.added, removed: r.removed, changedDestinations: r.changed };
    },
    async (raw) => {
      const remove = input.remove ?? [];
      if (remove.length === 0) return;
      const current = findService(validateConfig(raw), input.service)!;
      const routing = await routerFor(current)
        .read()
        .then((r) => r.routing)
        .catch((err: Error) => err);
      if (routing instanceof Error) {
        if (input.force) return;
        throw new InvalidInputError('failover.configure request', [
          `remove: cannot read the routing of ${input.service} to make sure no removed destination carries traffic (${routing.message}); try again, or pass force: true`,
        ]);
      }
      const problems = remove.flatMap((id, i) =>
        (routing.weights[id] ?? 0) > 0
          ? [
              `remove[${i}]: ${id} carries traffic (weight ${routing.weights[id]}, routing generation ${routing.generation}); move the traffic off it first (failover.trigger switchover)`,
            ]
          : [],
      );
      if (problems.length > 0) throw new InvalidInputError('failover.configure request', problems);
    },
  );
}
