import { Option, type Command } from 'commander';
import { z } from 'zod';
import { startMutatingRunbook, type MutatingRunbook } from '../../client/start-runbook';
import type { ServiceConfig } from '../../domain/config';
import { failoverInputSchema, recoveryInputSchema, rollbackInputSchema } from '../../domain/runbook-input';
import { destinationArg, parseArg, parseRunbookInput } from '../args';
import { EXIT, type ExitCode } from '../errors';
import { followRunbook, outcomeExit } from '../follow';
import { defaultActor, type Cli, type CommandContext } from '../session';
import { outcomeView } from '../views';
import { loadSigningKey, SIGNING_KEY_ENV } from '../../security/control-signing';

interface CommonFlags {
  reason?: string;
  by?: string;
  wait?: boolean;
  key?: string;
}

/** Starts the runbook under the service's lock id; with --wait, reports its result. */
async function launch(
  ctx: CommandContext,
  o: { kind: string; type: MutatingRunbook; service: ServiceConfig; input: Record<string, unknown>; wait: boolean; key?: string | undefined },
): Promise<ExitCode> {
  // Signed as --by: the runbook records the starter as verified (SECURITY.md).
  const keyFile = o.key ?? process.env[SIGNING_KEY_ENV];
  const signingKey = keyFile ? loadSigningKey(keyFile) : undefined;
  const client = await ctx.client();
  const { service: _drop, ...input } = o.input;
  const handle = await startMutatingRunbook(client, {
    taskQueue: ctx.settings.taskQueue,
    type: o.type,
    service: o.service.name,
    input,
    trigger: 'manual',
    summary: `${o.kind} of ${o.service.name}${typeof input.reason === 'string' ? `: ${input.reason}` : ''}`,
    signingKey,
  });
  const started = {
    service: o.service.name,
    kind: o.kind,
    type: o.type,
    workflowId: handle.workflowId,
    runId: handle.firstExecutionRunId,
    taskQueue: ctx.settings.taskQueue,
  };
  if (!o.wait) {
    ctx.emit(
      started,
      () => `started ${o.kind} of ${o.service.name}: ${started.workflowId} run ${started.runId}\n  follow it: ${ctx.cliPrefix()} status ${o.service.name}`,
    );
    return EXIT.ok;
  }
  ctx.note(
    `started ${o.kind} of ${o.service.name}: ${started.workflowId} run ${started.runId}; waiting for its result, each step as it happens (Ctrl-C stops waiting, not the runbook)`,
  );
  const base = { service: o.service.name, kind: o.kind, workflowId: started.workflowId, runId: started.runId };
  const outcome = await followRunbook(ctx, handle, base, ctx.progress);
  ctx.emit(outcome, () => outcomeView(outcome, { steps: false }));
  return outcomeExit(outcome);
}

function common(cmd: Command): Command {
  return cmd
    .argument('<service>', 'service name from the config')
    .option('--reason <text>', 'why; recorded in the audit trail and history')
    .option('--by <name>', 'who asks (default: $USER)')
    .option('--key <file>', `Ed25519 private key (PEM) to sign the start with, when approval.keys lists you (default: $${SIGNING_KEY_ENV})`)
    .option('--wait', 'follow the runbook: print each step as it happens, then its result (RTO, RPO); exit with its outcome');
}

const actorOf = (flags: CommonFlags) => flags.by ?? defaultActor();

export function registerStart(program: Command, cli: Cli): void {
  const start = program
    .command('start')
    .description('start a mutating runbook (one at a time per service)')
    .addHelpText('after', '\nExit code 3 when another runbook of the service is running; the message names it.');

  const failoverLike = (kind: 'failover' | 'switchover', description: string) => {
    const command = common(start.command(kind).description(description)).option(
      '--to <destination>',
      'destination to move traffic to (default: best healthy candidate)',
    );
    if (kind === 'failover') {
      command.option(
        '--accept-data-loss',
        "promote a target known not to hold all of the source's data (a returned or unsynced node); the estimated loss is recorded",
      );
    }
    return command.action((name: string, flags: CommonFlags & { to?: string; acceptDataLoss?: boolean }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const service = ctx.service(name);
        if (flags.to !== undefined) destinationArg(service, flags.to, '--to');
        const input = parseRunbookInput(failoverInputSchema, {
          service: service.name,
          ...(flags.to !== undefined ? { to: flags.to } : {}),
          planned: kind === 'switchover',
          ...(flags.acceptDataLoss ? { acceptDataLoss: true } : {}),
          ...(flags.reason !== undefined ? { reason: flags.reason } : {}),
          actor: actorOf(flags),
        });
        return launch(ctx, { kind, type: 'failover', service, input, wait: flags.wait === true, key: flags.key });
      }),
    );
  };
  failoverLike('failover', 'move traffic off the current destination (works with the source down: emergency path)');
  failoverLike('switchover', 'planned failover: the source must be healthy and nothing acknowledged may be lost');

  common(start.command('recovery').description('bring a destination that came back into service: resync, then fail back'))
    .requiredOption('--destination <destination>', 'the destination that came back')
    .option('--standby', 'only restore it as a healthy standby; keep traffic where it is')
    .action((name: string, flags: CommonFlags & { destination: string; standby?: boolean }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const service = ctx.service(name);
        destinationArg(service, flags.destination, '--destination');
        const input = parseRunbookInput(recoveryInputSchema, {
          service: service.name,
          destination: flags.destination,
          failback: flags.standby !== true,
          ...(flags.reason !== undefined ? { reason: flags.reason } : {}),
          actor: actorOf(flags),
        });
        return launch(ctx, { kind: 'recovery', type: 'recovery', service, input, wait: flags.wait === true, key: flags.key });
      }),
    );

  common(start.command('rollback').description('restore the routing a finished failover or recovery started from'))
    .addOption(new Option('--run <run-id>', 'run id of that failover/recovery (default: the latest finished one)'))
    .option('--immediate', 'restore at once instead of in reverse steps')
    .action((name: string, flags: CommonFlags & { run?: string; immediate?: boolean }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const service = ctx.service(name);
        const run =
          flags.run === undefined ? undefined : parseArg(z.string().regex(/^[0-9a-f-]{8,64}$/i, 'expected a run id such as 0195f3c2-…'), flags.run, '--run');
        const input = parseRunbookInput(rollbackInputSchema, {
          service: service.name,
          ...(run !== undefined ? { run } : {}),
          immediate: flags.immediate === true,
          ...(flags.reason !== undefined ? { reason: flags.reason } : {}),
          actor: actorOf(flags),
        });
        return launch(ctx, { kind: 'rollback', type: 'rollback', service, input, wait: flags.wait === true, key: flags.key });
      }),
    );
}
