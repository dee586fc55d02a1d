import type { Command } from 'commander';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { resumeUpdate, supervisionQuery, supervisorWorkflowId, suspendUpdate, type BrakeState } from '../../api/supervisor';
import { CliError, EXIT, rootMessage, usageError } from '../errors';
import { defaultActor, type Cli, type CommandContext } from '../session';
import { supervisorHandle } from './config';

/** Readable brakes: what is suspended, by whom and why. */
export function brakesLines(b: BrakeState): string[] {
  const lines: string[] = [];
  if (b.all) lines.push(`automatic runbooks of every service suspended by ${b.all.by} since ${b.all.at}: ${b.all.reason}`);
  for (const [service, s] of Object.entries(b.services)) lines.push(`automatic runbooks of ${service} suspended by ${s.by} since ${s.at}: ${s.reason}`);
  return lines.length > 0 ? lines : ['automatic runbooks allowed for every service'];
}

/**
 * The kill switch. `suspend` stops detection from starting runbooks (it keeps watching and records
 * what it holds). `resume --all`, or `resume <service>` (see controls.ts: it also resumes a paused
 * runbook of the service), lifts it, and held decisions are taken again at once.
 */
export function registerSuspend(program: Command, cli: Cli): void {
  program
    .command('suspend')
    .description('stop automatic runbooks at once (one service, or --all); detection keeps watching and records what it holds')
    .argument('[service]', 'service name (or --all)')
    .option('--all', 'every service')
    .option('--by <name>', 'who (default: $USER)')
    .option('--reason <text>', 'why (required; recorded and shown in status)')
    .action((service: string | undefined, flags: { all?: boolean; by?: string; reason?: string }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        if ((service === undefined) === (flags.all !== true)) throw usageError('suspend: name one service or give --all');
        if (!flags.reason) throw usageError('suspend: --reason is required (it is recorded and shown in status)');
        const brakes = await changeBrakes(ctx, 'suspend', { ...(service ? { service } : {}), by: flags.by ?? defaultActor(), reason: flags.reason });
        ctx.emit({ brakes }, () => brakesLines(brakes).join('\n'));
      }),
    );
}

/** Sends suspend / resume to the supervisor; its refusal is exit 1 with the reason. */
export async function changeBrakes(
  ctx: CommandContext,
  verb: 'suspend' | 'resume',
  request: { service?: string; by: string; reason: string },
): Promise<BrakeState> {
  const handle = await supervisorHandle(ctx, await ctx.client());
  try {
    return await ctx.withWorker(`${verb} update`, () => handle.executeUpdate(verb === 'suspend' ? suspendUpdate : resumeUpdate, { args: [request] }));
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    throw new CliError(`${verb} refused: ${rootMessage(err)}`, EXIT.failed, 'rejected');
  }
}

/** When the service's automatic runbooks are suspended (by that name, not fleet-wide), lifts it; otherwise says why not. */
export async function resumeAutomation(
  ctx: CommandContext,
  service: string,
  by: string,
  reason: string,
): Promise<{ lifted: boolean; note?: string; brakes?: BrakeState }> {
  const client = await ctx.client();
  const handle = client.workflow.getHandle(supervisorWorkflowId(ctx.settings.taskQueue));
  const running = await handle.describe().then(
    (d) => d.status.name === 'RUNNING',
    () => false,
  );
  if (!running) return { lifted: false };
  const s = await ctx.withWorker('supervision query', () => handle.query(supervisionQuery));
  if (s.brakes.services[service]) return { lifted: true, brakes: await changeBrakes(ctx, 'resume', { service, by, reason }) };
  if (s.brakes.all) return { lifted: false, note: `every service is suspended (by ${s.brakes.all.by}: ${s.brakes.all.reason}); \`resume --all\` lifts that` };
  return { lifted: false };
}
