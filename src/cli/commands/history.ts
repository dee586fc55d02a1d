import type { Command } from 'commander';
import { runbookHistory } from '../../client/observe';
import { limitSchema, parseArg } from '../args';
import type { Cli } from '../session';
import { historyView } from '../views';

export { historyQuery } from '../../client/observe';

export function registerHistory(program: Command, cli: Cli): void {
  program
    .command('history')
    .description('past runbooks of a service, newest first, with RTO and RPO of finished failovers')
    .argument('<service>', 'service name from the config')
    .option('--limit <n>', 'how many runs (1-1000)', '20')
    .action((name: string, flags: { limit: string }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const service = ctx.service(name);
        const limit = parseArg(limitSchema, flags.limit, '--limit');
        const runs = await runbookHistory(await ctx.client(), service.name, limit);
        ctx.emit({ service: service.name, runs }, () => historyView(service.name, runs));
      }),
    );
}
