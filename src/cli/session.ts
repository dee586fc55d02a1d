import os from 'node:os';
import { Client, Connection, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';
import { loadConfigFile } from '../config-file';
import { locateConfig } from '../config-location';
import { findService, type Config, type ServiceConfig } from '../domain/config';
import { connectionOptions, temporalEnv, type TemporalEnv } from '../temporal-settings';
import { parseArg } from './args';
import { EXIT, CliError, toCliError, unreachableError, usageError, rootMessage, type ExitCode } from './errors';
import { cliDataConverter } from '../security/local-codec';

/** Options every command accepts (commander collects them anywhere on the line). */
export interface GlobalFlags {
  config?: string;
  address?: string;
  namespace?: string;
  taskQueue?: string;
  json?: boolean;
  codecKeys?: string;
}

export interface Settings {
  /** --config as given; the lookup ($FAILOVER_CONFIG, then the default) happens when a command needs the config. */
  configFile: string | undefined;
  address: string;
  namespace: string;
  taskQueue: string;
  json: boolean;
  /** --codec-keys: the payload codec's key file. */
  codecKeys?: string | undefined;
  env: TemporalEnv;
  /** The global options given on the command line, as words: printed hints repeat them so they work when pasted. */
  given: string[];
}

const CONNECT_TIMEOUT = '5s';
/** Queries and updates need a worker to answer; without one they would wait indefinitely. */
const WORKER_DEADLINE_MS = 10_000;

export function resolveSettings(flags: GlobalFlags, env: NodeJS.ProcessEnv = process.env): Settings {
  const e = temporalEnv(env);
  return {
    configFile: flags.config !== undefined ? parseArg(z.string().min(1), flags.config, '--config') : undefined,
    address: parseArg(z.string().regex(/^[^\s:]+:\d+$/, 'expected "host:port"'), flags.address ?? e.TEMPORAL_ADDRESS ?? '127.0.0.1:7233', '--address'),
    namespace: parseArg(z.string().min(1), flags.namespace ?? e.TEMPORAL_NAMESPACE, '--namespace'),
    taskQueue: parseArg(z.string().min(1), flags.taskQueue ?? e.TEMPORAL_TASK_QUEUE, '--task-queue'),
    json: flags.json === true,
    ...(flags.codecKeys !== undefined ? { codecKeys: parseArg(z.string().min(1), flags.codecKeys, '--codec-keys') } : {}),
    env: e,
    given: [
      ...(flags.config !== undefined ? ['--config', flags.config] : []),
      ...(flags.address !== undefined ? ['--address', flags.address] : []),
      ...(flags.namespace !== undefined ? ['--namespace', flags.namespace] : []),
      ...(flags.taskQueue !== undefined ? ['--task-queue', flags.taskQueue] : []),
      ...(flags.codecKeys !== undefined ? ['--codec-keys', flags.codecKeys] : []),
    ],
  };
}

/** A word quoted for a POSIX shell when it needs it. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Who to record as the actor when --by is left out. */
export function defaultActor(): string {
  try {
    return process.env.USER || os.userInfo().username || 'operator';
  } catch {
    return 'operator';
  }
}

/** One command's run: settings, lazily loaded config and Temporal client, and its output. */
export class CommandContext {
  private loaded?: Config;
  private connection?: Connection;
  private temporal?: Client;
  emitted = false;

  constructor(
    readonly settings: Settings,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /**
   * How to run this CLI again with the same global options, for the commands printed in hints:
   * `npm run -s cli --` when started that way, `failover` (the installed binary) otherwise.
   */
  cliPrefix(): string {
    const base = this.env.npm_lifecycle_event === 'cli' ? 'npm run -s cli --' : 'failover';
    return [base, ...this.settings.given.map(shellWord)].join(' ');
  }

  /** The config file: --config, $FAILOVER_CONFIG, or the documented default; never the demo's by accident. */
  configFile(): string {
    return locateConfig(this.settings.configFile, this.env).file;
  }

  config(): Config {
    this.loaded ??= loadConfigFile(this.configFile());
    return this.loaded;
  }

  /** The named service, or a usage error listing the ones the config has. */
  service(name: string): ServiceConfig {
    const config = this.config();
    const found = findService(config, name);
    if (!found) {
      const has = config.services.length > 0 ? `has ${config.services.map((s) => s.name).join(', ')}` : 'it has no services';
      throw usageError(`<service>: no service ${JSON.stringify(name)} in ${this.configFile()} (${has})`);
    }
    return found;
  }

  async client(): Promise<Client> {
    if (this.temporal) return this.temporal;
    try {
      this.connection = await Connection.connect({
        ...(connectionOptions(this.settings.env, this.settings.address) as object),
        connectTimeout: CONNECT_TIMEOUT,
      });
    } catch (err) {
      throw unreachableError(`cannot reach Temporal at ${this.settings.address}: ${rootMessage(err)}`);
    }
    this.temporal = new Client({
      connection: this.connection,
      namespace: this.settings.namespace,
      dataConverter: cliDataConverter(this.settings.address, this.settings.codecKeys),
    });
    return this.temporal;
  }

  /**
   * Runs a query or update, which a worker has to answer, with a deadline: a missing worker is
   * reported instead of waited for.
   */
  async withWorker<T>(what: string, fn: () => Promise<T>): Promise<T> {
    await this.client();
    try {
      return await this.connection!.withDeadline(Date.now() + WORKER_DEADLINE_MS, fn);
    } catch (err) {
      const code = (err as { code?: unknown }).code ?? (err as { cause?: { code?: unknown } }).cause?.code;
      if (code === 4 /* DEADLINE_EXCEEDED */ || err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
        throw unreachableError(
          `no worker answered the ${what} within ${WORKER_DEADLINE_MS / 1000}s; is a worker polling task queue ${this.settings.taskQueue}?`,
        );
      }
      throw err;
    }
  }

  /** The command's result: JSON with --json, readable text otherwise. Once per command. */
  emit(doc: unknown, human: () => string): void {
    this.emitted = true;
    process.stdout.write(this.settings.json ? `${JSON.stringify(doc, null, 2)}\n` : `${human()}\n`);
  }

  /** A line of live progress: stdout for people, stderr with --json (stdout stays one document). */
  readonly progress = (line: string): void => {
    if (this.settings.json) this.note(line);
    else process.stdout.write(`${line}\n`);
  };

  /** Progress and hints: stderr, so stdout stays one document. */
  note(text: string): void {
    process.stderr.write(`${text}\n`);
  }

  async close(): Promise<void> {
    await this.connection?.close().catch(() => undefined);
  }
}

/** Carries the exit code from commander's action handlers back to main. */
export class Cli {
  exitCode: ExitCode = EXIT.ok;

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  /** Wraps a command action: builds its context, maps errors to exit codes, always closes connections. */
  async run(cmd: Command, fn: (ctx: CommandContext) => Promise<ExitCode | void>): Promise<void> {
    let ctx: CommandContext | undefined;
    const json = cmd.optsWithGlobals<GlobalFlags>().json === true;
    try {
      ctx = new CommandContext(resolveSettings(cmd.optsWithGlobals<GlobalFlags>(), this.env), this.env);
      this.exitCode = (await fn(ctx)) ?? EXIT.ok;
    } catch (err) {
      const e = toCliError(err, ctx?.cliPrefix());
      this.exitCode = e.exitCode;
      this.report(e, json && !ctx?.emitted);
    } finally {
      await ctx?.close();
    }
  }

  /** Writes an error: the message on stderr; with --json also `{"error": …}` on stdout. */
  report(e: CliError, jsonDoc: boolean): void {
    process.stderr.write(`failover: ${e.message}\n`);
    if (jsonDoc) process.stdout.write(`${JSON.stringify({ error: { code: e.code, exitCode: e.exitCode, message: e.message, ...e.details } }, null, 2)}\n`);
  }
}
