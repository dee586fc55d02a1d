import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { DEFAULT_CONFIG_FILE } from '../config-location';
import { registerSuspend } from './commands/brakes';
import { registerConfig } from './commands/config';
import { registerDemo } from './commands/demo';
import { registerControls } from './commands/controls';
import { registerHistory } from './commands/history';
import { registerMcp } from './commands/mcp';
import { registerPlan } from './commands/plan';
import { registerSchedule } from './commands/schedule';
import { registerSimulate } from './commands/simulate';
import { registerServices } from './commands/services';
import { registerStart } from './commands/start';
import { registerStatus } from './commands/status';
import { CliError, EXIT, EXIT_CODES_HELP, toCliError } from './errors';
import { Cli } from './session';

/** The version in package.json (beside src/ and dist/ alike). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { name: string; version: string };
    return `${pkg.name} ${pkg.version}`;
  } catch {
    return 'unknown';
  }
}

export function buildProgram(cli: Cli): Command {
  const program = new Command('failover')
    .description('Operate failover runbooks: see services and their routing, start, watch and steer runbooks, read their history.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .option('--config <file>', `config file (default: $FAILOVER_CONFIG, else ${DEFAULT_CONFIG_FILE})`)
    .option('--address <host:port>', 'Temporal frontend (default: $TEMPORAL_ADDRESS or 127.0.0.1:7233)')
    .option('--namespace <name>', 'Temporal namespace (default: $TEMPORAL_NAMESPACE or "default")')
    .option('--task-queue <name>', 'task queue of the worker (default: $TEMPORAL_TASK_QUEUE or "failover-manager")')
    .option('--codec-keys <file>', 'payload codec key file (default: $FAILOVER_CODEC_KEYS_FILE; talking to a running npm start, its key)')
    .option('--json', 'machine-readable output: exactly one JSON document on stdout (errors as {"error": …})')
    // Set before adding commands: subcommands inherit both.
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `\nExamples:\n  failover services\n  failover plan orders-bus\n  failover start switchover orders-bus --to redis-b --reason "kernel upgrade" --wait\n  failover status orders-bus\n  failover approve orders-bus --reason "change 42"\n  failover config apply config/failover.yaml --reason "lower failure_threshold"\n  failover suspend --all --reason "network maintenance"\n  failover history orders-bus --limit 5 --json\n  failover mcp --http --port 9096\n  failover schedule maintenance create orders-bus redis-a --window 30m --cron "0 3 * * SUN" --time-zone Europe/Berlin\n\n${EXIT_CODES_HELP}`,
    );
  registerServices(program, cli);
  registerStatus(program, cli);
  registerPlan(program, cli);
  registerStart(program, cli);
  registerControls(program, cli);
  registerHistory(program, cli);
  registerSchedule(program, cli);
  registerSimulate(program, cli);
  registerConfig(program, cli);
  registerSuspend(program, cli);
  registerDemo(program, cli);
  registerMcp(program, cli);
  return program;
}

/** Runs the CLI on `argv` (as process.argv: node, script, args…) and returns the exit code. */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const cli = new Cli(env);
  const json = argv.includes('--json');
  try {
    await buildProgram(cli).parseAsync([...argv]);
    return cli.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its message (or the help) on stderr.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
      if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'usage', exitCode: EXIT.usage, message: err.message } }, null, 2)}\n`);
      return EXIT.usage;
    }
    const e: CliError = toCliError(err);
    cli.report(e, json);
    return e.exitCode;
  }
}
