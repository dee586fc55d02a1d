import type { Command } from 'commander';
import { serviceStatus } from '../../client/observe';
import type { Cli } from '../session';
import { statusView } from '../views';

export function registerStatus(program: Command, cli: Cli): void {
  program
    .command('status')
    .description("detection health and the running runbook's phase, step, move, routing and controls (or idle)")
    .argument('<service>', 'service name from the config')
    .action((name: string, _opts, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const service = ctx.service(name);
        const client = await ctx.client();
        const report = await serviceStatus(client, ctx.settings.taskQueue, service.name, (what, fn) => ctx.withWorker(what, fn));
        ctx.emit(report, () => statusView(report, ctx.cliPrefix()));
      }),
    );
}
