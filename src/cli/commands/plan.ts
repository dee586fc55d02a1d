import type { Command } from 'commander';
import { AmbiguousPrimaryError } from '../../drivers/routing-primary';
import { learnedRanking, observeNow, RouterUnreadableError } from '../../client/observe';
import { policyOf } from '../../domain/config';
import { formatPlan, planFailover } from '../../domain/simulate';
import { destinationArg } from '../args';
import { CliError, EXIT, unreachableError } from '../errors';
import type { Cli } from '../session';
import { probesLine } from '../views';

/** Verdicts meaning a failover started now would be refused. */
const REFUSED = new Set(['blocked', 'no-target']);

export function registerPlan(program: Command, cli: Cli): void {
  program
    .command('plan')
    .description('dry run: probe the destinations, read the routing, and print the steps a failover would take now; changes nothing')
    .argument('<service>', 'service name from the config')
    .option('--to <destination>', 'plan a move to this destination (default: chosen by the rules)')
    .addHelpText('after', '\nExit code 1 when the plan is blocked or has no target; 4 when the router cannot be read.')
    .action((name: string, flags: { to?: string }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const service = ctx.service(name);
        if (flags.to !== undefined) destinationArg(service, flags.to, '--to');
        const policy = policyOf(ctx.config(), service.name);
        const { readout, probes } = await observeNow(service, policy).catch((err: Error) =>
          Promise.reject(
            err instanceof RouterUnreadableError
              ? unreachableError(err.message)
              : err instanceof AmbiguousPrimaryError
                ? new CliError(err.message, EXIT.failed, 'ambiguous-primary')
                : err,
          ),
        );
        // Detection's failovers follow its learned ranking: so does the plan, when detection runs.
        const ranking =
          policy.failover_execution.target_selection === 'intelligent'
            ? await ctx
                .client()
                .then((client) => learnedRanking(client, service.name, (what, fn) => ctx.withWorker(what, fn)))
                .catch((err: Error) => void ctx.note(`learned ranking not read (${err.message}); the plan uses the configured order`))
            : undefined;
        const plan = planFailover({
          service,
          policy,
          routing: readout.routing,
          probes,
          ...(ranking ? { ranking: { state: ranking, now: Date.now() } } : {}),
          ...(flags.to !== undefined ? { to: flags.to } : {}),
        });
        ctx.emit({ service: service.name, dryRun: true, routing: readout.routing, probes, plan }, () =>
          [probesLine(probes), formatPlan(plan), 'dry run: nothing was changed'].join('\n'),
        );
        return REFUSED.has(plan.verdict) ? EXIT.failed : EXIT.ok;
      }),
    );
}
