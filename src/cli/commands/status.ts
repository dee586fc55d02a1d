import type { Command } from 'commander';
import { healthQuery, statusQuery } from '../../api/queries';
import { serviceStatus } from '../../client/observe';
import type { ServiceConfig } from '../../domain/config';
import { detectionWorkflowId, runbookWorkflowId } from '../../domain/workflow-ids';
import { followRunbook, outcomeExit } from '../follow';
import { decisionLines, type LiveStatus } from '../progress';
import { runningUnder } from '../runbooks';
import type { Cli, CommandContext } from '../session';
import { outcomeView, statusView, type StatusReport } from '../views';
import type { ExitCode } from '../errors';

export function registerStatus(program: Command, cli: Cli): void {
  program
    .command('status')
    .description("detection health and the running runbook's phase, step, move, routing and controls (or idle)")
    .argument('<service>', 'service name from the config')
    .option('--watch', 'then follow: detection decisions as they land, and the running (or next) runbook step by step to its end; exit with its outcome')
    .action((name: string, flags: { watch?: boolean }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const service = ctx.service(name);
        const client = await ctx.client();
        const report = await serviceStatus(client, ctx.settings.taskQueue, service.name, (what, fn) => ctx.withWorker(what, fn));
        if (!flags.watch) return void ctx.emit(report, () => statusView(report, ctx.cliPrefix()));
        if (!ctx.settings.json) process.stdout.write(`${statusView(report, ctx.cliPrefix())}\n`);
        return watch(ctx, service, report);
      }),
    );
}

const IDLE_POLL_MS = 1000;

/**
 * `status --watch`: prints detection's decisions as they land while no runbook runs; follows the
 * running (or next) runbook step by step and exits with its outcome. --json: one document, the outcome.
 */
async function watch(ctx: CommandContext, service: ServiceConfig, report: StatusReport): Promise<ExitCode> {
  const client = await ctx.client();
  let decisions = report.detection?.health.decisions ?? [];
  let running = report.runbook;
  // The status view above showed the running runbook so far; one found later is shown from its first step.
  let shown = running !== null;
  const runbookId = runbookWorkflowId(service.name);
  if (!running) ctx.progress(`watching ${service.name}: no runbook running; detection decisions and the next runbook appear here (Ctrl-C stops watching)`);
  for (;;) {
    if (running) {
      const kind = running.type === 'failover' && (running.status as LiveStatus | undefined)?.planned ? 'switchover' : running.type;
      ctx.progress(`following ${kind} of ${service.name}: ${running.workflowId} run ${running.runId}${running.trigger ? ` (trigger ${running.trigger})` : ''}`);
      const handle = client.workflow.getHandle(runbookId, running.runId);
      const base = { service: service.name, kind, workflowId: running.workflowId, runId: running.runId };
      const outcome = await followRunbook(ctx, handle, base, ctx.progress, shown ? (running.status as LiveStatus | undefined) : undefined);
      ctx.emit(outcome, () => outcomeView(outcome, { steps: false }));
      return outcomeExit(outcome);
    }
    await new Promise((r) => setTimeout(r, IDLE_POLL_MS));
    const detection = client.workflow.getHandle(detectionWorkflowId(service.name));
    const health = await ctx.withWorker('health query', () => detection.query(healthQuery)).catch(() => undefined);
    if (health) {
      for (const line of decisionLines(decisions, health.decisions)) ctx.progress(line);
      decisions = health.decisions;
    }
    const next = await runningUnder(client, runbookId);
    shown = false;
    // Until its first step its status does not say yet what it is (e.g. a planned failover): look again then.
    const status = next
      ? await ctx
          .withWorker('status query', () => client.workflow.getHandle(runbookId, next.running.runId).query(statusQuery) as Promise<LiveStatus>)
          .catch(() => undefined)
      : undefined;
    if (next && status && status.steps.length > 0) running = { ...next.running, status };
  }
}
