import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { runProbe } from '../../drivers/probes';
import { readRoutingWithPrimary } from '../../drivers/routing-primary';
import { requireMs } from '../../domain/duration';
import type { ServiceConfig } from '../../domain/config';
import { primaryOf } from '../../domain/routing';
import { runbookWorkflowId } from '../../domain/workflow-ids';
import { EXIT, toCliError } from '../errors';
import { runningUnder } from '../runbooks';
import type { Cli } from '../session';
import { describeRouter, servicesView, type ServiceSummary } from '../views';

/** One service's config and live state; what cannot be read is recorded as an error, not thrown. */
async function summarize(service: ServiceConfig, temporal: Client | Error, timeoutMs: number): Promise<ServiceSummary> {
  const summary: ServiceSummary = {
    name: service.name,
    ...(service.description ? { description: service.description } : {}),
    router: describeRouter(service.router),
    destinations: service.destinations.map((d) => ({ id: d.id, zone: d.zone, region: d.region, tier: d.tier, weight: d.weight })),
  };
  const [routing, runbook] = await Promise.allSettled([
    readRoutingWithPrimary(service, (id) => runProbe(service.destinations.find((d) => d.id === id)!.probe, timeoutMs)),
    temporal instanceof Error ? Promise.reject(temporal) : runningUnder(temporal, runbookWorkflowId(service.name)),
  ]);
  if (routing.status === 'fulfilled') {
    const primary = primaryOf(routing.value.routing);
    summary.routing = { ...routing.value.routing, ...(primary ? { primary } : {}), detail: routing.value.detail };
  } else {
    summary.routingError = (routing.reason as Error).message;
  }
  if (runbook.status === 'fulfilled') summary.runbook = runbook.value?.running ?? null;
  else summary.runbookError = toCliError(runbook.reason).message;
  return summary;
}

export function registerServices(program: Command, cli: Cli): void {
  program
    .command('services')
    .description('configured services: destinations, live routing, and whether a runbook is running')
    .addHelpText('after', '\nExit code 4 when a router or Temporal could not be read; what could be read is still printed.')
    .action((_opts, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const services = ctx.config().services;
        const temporal = await ctx.client().catch((err: Error) => toCliError(err));
        const timeoutMs = requireMs(ctx.config().failover_manager.failover_detection.timeout);
        const summaries = await Promise.all(services.map((s) => summarize(s, temporal, timeoutMs)));
        ctx.emit({ services: summaries }, () => servicesView(summaries));
        const partial = summaries.some((s) => s.routingError !== undefined || s.runbookError !== undefined);
        return partial ? EXIT.unreachable : EXIT.ok;
      }),
    );
}
