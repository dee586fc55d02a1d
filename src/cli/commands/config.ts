import path from 'node:path';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { z } from 'zod';
import {
  applyConfigUpdate,
  configAtQuery,
  configHistoryQuery,
  liveConfigQuery,
  rollbackConfigUpdate,
  supervisorWorkflowId,
  type ConfigChangeResult,
  type ConfigVersion,
} from '../../api/supervisor';
import { readConfigFile } from '../../config-file';
import { InvalidInputError } from '../../domain/validation';
import { limitSchema, parseArg } from '../args';
import { CliError, EXIT, rootMessage, unreachableError, usageError } from '../errors';
import { fmtTime, table } from '../format';
import { defaultActor, type Cli, type CommandContext } from '../session';
import { loadSigningKey, SIGNING_KEY_ENV } from '../../security/control-signing';
import { signConfigChange, signedDocumentDigest } from '../../security/config-signing';
import type { ConfigAction } from '../../domain/config-auth';

const KEY_HELP = `Ed25519 private key (PEM) to sign the change with, when config_changes.appliers lists you (default: $${SIGNING_KEY_ENV})`;

/** With a key (--key or $FAILOVER_SIGNING_KEY), the change is signed, bound to the live version it is based on. */
async function signed(
  ctx: CommandContext,
  handle: Awaited<ReturnType<typeof supervisorHandle>>,
  keyFile: string | undefined,
  change: { action: ConfigAction; by: string; reason: string; target: () => string },
): Promise<{ expectVersion?: number; signature?: string }> {
  const file = keyFile ?? process.env[SIGNING_KEY_ENV];
  if (!file) return {};
  const key = loadSigningKey(file);
  const live = await ctx.withWorker('config query', () => handle.query(liveConfigQuery));
  const statement = {
    action: change.action,
    supervisorId: handle.workflowId,
    by: change.by,
    reason: change.reason,
    basedOn: live.version,
    target: change.target(),
  };
  return { expectVersion: live.version, signature: signConfigChange(statement, key) };
}

/** The supervisor of the CLI's task queue; a clear error when none runs. */
export async function supervisorHandle(ctx: CommandContext, client: Client) {
  const id = supervisorWorkflowId(ctx.settings.taskQueue);
  const handle = client.workflow.getHandle(id);
  const desc = await handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  });
  if (desc?.status.name !== 'RUNNING') {
    throw unreachableError(
      `no supervisor runs on task queue ${ctx.settings.taskQueue} (${id}${desc ? `: ${desc.status.name.toLowerCase()}` : ': never started'}); ` +
        'start a worker (npm run worker, or npm start) with supervision.enabled: the worker starts it',
    );
  }
  return handle;
}

/** Runs a supervisor update; a validator's refusal is exit 1 (or 2 for a bad document) with its reason. */
async function update<T>(ctx: CommandContext, what: string, run: () => Promise<T>, exitOnRefusal: 1 | 2 = 1): Promise<T> {
  try {
    return await ctx.withWorker(what, run);
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    const reason = rootMessage(err);
    throw new CliError(`${what} refused: ${reason}`, exitOnRefusal, 'rejected', { reason });
  }
}

function readDocument(file: string): { raw: unknown; services: string[]; warnings: string[] } {
  try {
    const { raw, config, warnings } = readConfigFile(file);
    return { raw, services: config.services.map((s) => s.name), warnings };
  } catch (err) {
    if (err instanceof InvalidInputError) throw usageError(err.message, { problems: err.problems });
    throw err;
  }
}

function changeView(r: ConfigChangeResult, file?: string): string {
  if (r.dryRun)
    return [
      `dry run against live config version ${r.version}: ${r.diff.length === 0 ? 'no change' : `${r.diff.length} change(s)`}`,
      ...r.diff.map((l) => `  ${l}`),
    ].join('\n');
  if (!r.changed) return `no change: the live config (version ${r.version}) already is ${file ?? 'that document'}`;
  return [`live config is now version ${r.version} (${r.diff.length} change(s)):`, ...r.diff.map((l) => `  ${l}`)].join('\n');
}

export function registerConfig(program: Command, cli: Cli): void {
  const config = program
    .command('config')
    .description('the live, versioned config the workers and runbooks use: check, apply, history, show, rollback')
    .addHelpText(
      'after',
      '\nEvery worker follows the live config; a change is validated, recorded with who, when, why and a diff,\n' +
        'and reaches running detection at once. Runbooks already running keep the version they started with.',
    );

  config
    .command('check')
    .description('validate a config file without applying it; exit 2 with every problem named')
    .argument('<file>', 'YAML config file')
    .action((file: string, _opts, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const doc = readDocument(file);
        for (const w of doc.warnings) ctx.note(`warning: ${w}`);
        ctx.emit(
          { file: path.resolve(file), valid: true, services: doc.services, warnings: doc.warnings },
          () => `ok: ${file} is valid (${doc.services.length} services: ${doc.services.join(', ') || 'none'})`,
        );
      }),
    );

  config
    .command('apply')
    .description('validate a config file and make it the live config (a new version)')
    .argument('<file>', 'YAML config file')
    .option('--by <name>', 'who changes it (default: $USER)')
    .option('--reason <text>', 'why; recorded with the version')
    .option('--dry-run', 'show the diff against the live config; change nothing')
    .option('--key <file>', KEY_HELP)
    .action((file: string, flags: { by?: string; reason?: string; dryRun?: boolean; key?: string }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const doc = readDocument(file);
        for (const w of doc.warnings) ctx.note(`warning: ${w}`);
        const handle = await supervisorHandle(ctx, await ctx.client());
        const by = flags.by ?? defaultActor();
        const reason = flags.reason ?? `applied ${file}`;
        const proof = await signed(ctx, handle, flags.key, { action: 'apply', by, reason, target: () => signedDocumentDigest(doc.raw) });
        const request = { config: doc.raw, by, reason, source: path.resolve(file), ...(flags.dryRun ? { dryRun: true } : {}), ...proof };
        const result = await update(ctx, 'config apply', () => handle.executeUpdate(applyConfigUpdate, { args: [request] }), 2);
        ctx.emit(result, () => changeView(result, file));
      }),
    );

  config
    .command('history')
    .description('config versions, newest first: who, when, why, how many changes')
    .option('--limit <n>', 'at most this many versions', '20')
    .option('--diff', "also print each version's diff")
    .action((flags: { limit: string; diff?: boolean }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const limit = parseArg(limitSchema, flags.limit, '--limit');
        const handle = await supervisorHandle(ctx, await ctx.client());
        const versions = (await ctx.withWorker('config history query', () => handle.query(configHistoryQuery))).slice(-limit).reverse();
        ctx.emit({ versions }, () => historyLines(versions, flags.diff === true).join('\n'));
      }),
    );

  config
    .command('show')
    .description('print a config version as YAML (default: the live one)')
    .option('--version <n>', 'a version from config history')
    .action((flags: { version?: string }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const handle = await supervisorHandle(ctx, await ctx.client());
        const version = flags.version === undefined ? undefined : parseArg(z.coerce.number().int().min(1), flags.version, '--version');
        const doc =
          version === undefined
            ? await ctx.withWorker('config query', () => handle.query(liveConfigQuery))
            : await ctx.withWorker('config query', () => handle.query(configAtQuery, version));
        if (!doc) throw new CliError(`config version ${version} is not kept (only the newest versions keep their document)`, EXIT.failed, 'not-kept');
        ctx.emit(doc, () => `# config version ${doc.version} (${doc.hash})\n${stringify(doc.config)}`);
      }),
    );

  config
    .command('rollback')
    .description('make an earlier version the live config again (recorded as a new version)')
    .argument('<version>', 'a version from config history')
    .option('--by <name>', 'who changes it (default: $USER)')
    .option('--reason <text>', 'why; recorded with the version')
    .option('--dry-run', 'show the diff; change nothing')
    .option('--key <file>', KEY_HELP)
    .action((v: string, flags: { by?: string; reason?: string; dryRun?: boolean; key?: string }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const version = parseArg(z.coerce.number().int().min(1), v, '<version>');
        const handle = await supervisorHandle(ctx, await ctx.client());
        const by = flags.by ?? defaultActor();
        const reason = flags.reason ?? 'rollback by hand';
        const proof = await signed(ctx, handle, flags.key, { action: 'rollback', by, reason, target: () => `version ${version}` });
        const request = { version, by, reason, ...(flags.dryRun ? { dryRun: true } : {}), ...proof };
        const result = await update(ctx, 'config rollback', () => handle.executeUpdate(rollbackConfigUpdate, { args: [request] }));
        ctx.emit(result, () => changeView(result));
      }),
    );
}

function historyLines(versions: readonly ConfigVersion[], withDiff: boolean): string[] {
  const rows = versions.map((v) => [String(v.version), fmtTime(v.at), v.by, String(v.changes), v.reason]);
  const lines = table(['VERSION', 'AT', 'BY', 'CHANGES', 'REASON'], rows);
  if (!withDiff) return lines;
  for (const v of versions) {
    if (v.diff.length > 0) lines.push('', `version ${v.version}:`, ...v.diff.map((l) => `  ${l}`));
  }
  return lines;
}
