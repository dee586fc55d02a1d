import type { Command } from 'commander';
import { routerFor } from '../../activities/drivers';
import { runProbe, type ProbeResult } from '../../activities/probes';
import { AmbiguousPrimaryError, readRoutingWithPrimary } from '../../activities/routing-primary';
import { requireMs } from '../../domain/duration';
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
        const policy = ctx.config().failover_manager;
        const timeoutMs = requireMs(policy.failover_detection.timeout);
        const [read, probes] = await Promise.all([
          routerFor(service)
            .read()
            .catch((err: Error) => Promise.reject(unreachableError(`cannot read the routing of ${service.name} (${service.router.type}): ${err.message}`))),
          Promise.all(service.destinations.map(async (d) => [d.id, await runProbe(d.probe, timeoutMs)] as const)).then(
            (entries) => Object.fromEntries(entries) as Record<string, ProbeResult>,
          ),
        ]);
        // Equal weights: the primary is the destination whose role says so (refused when that is unclear).
        const readout = await readRoutingWithPrimary(service, async () => ({ up: false, latencyMs: 0 }), probes, read).catch((err: Error) =>
          Promise.reject(err instanceof AmbiguousPrimaryError ? new CliError(err.message, EXIT.failed, 'ambiguous-primary') : err),
        );
        const plan = planFailover({ service, policy, routing: readout.routing, probes, ...(flags.to !== undefined ? { to: flags.to } : {}) });
        ctx.emit({ service: service.name, dryRun: true, routing: readout.routing, probes, plan }, () =>
          [probesLine(probes), formatPlan(plan), 'dry run: nothing was changed'].join('\n'),
        );
        return REFUSED.has(plan.verdict) ? EXIT.failed : EXIT.ok;
      }),
    );
}
