import type { Command } from 'commander';
import { supervisionQuery, supervisorWorkflowId } from '../../api/supervisor';
import { suspensionOf } from '../../domain/brakes';
import type { ServiceConfig } from '../../domain/config';
import { detectionWorkflowId, runbookWorkflowId } from '../../domain/workflow-ids';
import type { DetectionStatus } from '../../workflows/detection';
import { followRunbook, outcomeExit } from '../follow';
import { decisionLines, type LiveStatus } from '../progress';
import { describeOrUndefined, runningUnder } from '../runbooks';
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
        const report = await readStatus(ctx, service);
        if (!flags.watch) return void ctx.emit(report, () => statusView(report));
        if (!ctx.settings.json) process.stdout.write(`${statusView(report)}\n`);
        return watch(ctx, service, report);
      }),
    );
}

/** Detection health, the control plane's view and the running runbook of one service. */
async function readStatus(ctx: CommandContext, service: ServiceConfig): Promise<StatusReport> {
  const client = await ctx.client();
  const report: StatusReport = { service: service.name, detection: null, runbook: null };

  const detection = await runningUnder(client, detectionWorkflowId(service.name));
  if (detection) {
    const handle = client.workflow.getHandle(detection.running.workflowId, detection.running.runId);
    try {
      const health = await ctx.withWorker('health query', () => handle.query<DetectionStatus>('health'));
      report.detection = { workflowId: detection.running.workflowId, runId: detection.running.runId, health };
    } catch (err) {
      // Detection is advisory here; the runbook part is still worth showing.
      report.detectionError = (err as Error).message;
    }
  }

  // The control plane: live config version and the brakes on this service (when a supervisor runs).
  const supervisor = client.workflow.getHandle(supervisorWorkflowId(ctx.settings.taskQueue));
  const sup = await supervisor.describe().catch(() => undefined);
  if (sup?.status.name === 'RUNNING') {
    try {
      const s = await ctx.withWorker('supervision query', () => supervisor.query(supervisionQuery));
      const suspended = suspensionOf(s.brakes, service.name);
      report.supervision = { version: s.version, ...(suspended ? { suspended } : {}), ...(s.services[service.name] ? { detection: s.services[service.name]!.detection } : {}) };
    } catch (err) {
      report.supervisionError = (err as Error).message;
    }
  } else report.supervision = null;

  const runbookId = runbookWorkflowId(service.name);
  const runbook = await runningUnder(client, runbookId);
  if (runbook) {
    const handle = client.workflow.getHandle(runbookId, runbook.running.runId);
    const status = await ctx.withWorker('status query', () => handle.query<LiveStatus>('status'));
    report.runbook = { ...runbook.running, status };
  } else {
    const last = await describeOrUndefined(client, runbookId);
    if (last) report.last = { type: last.type, status: last.status.name, ...(last.closeTime ? { closeTime: last.closeTime.toISOString() } : {}) };
  }
  return report;
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
    const health = await ctx.withWorker('health query', () => detection.query<DetectionStatus>('health')).catch(() => undefined);
    if (health) {
      for (const line of decisionLines(decisions, health.decisions)) ctx.progress(line);
      decisions = health.decisions;
    }
    const next = await runningUnder(client, runbookId);
    shown = false;
    // Until its first step its status does not say yet what it is (e.g. a planned failover): look again then.
    const status = next ? await ctx.withWorker('status query', () => client.workflow.getHandle(runbookId, next.running.runId).query<LiveStatus>('status')).catch(() => undefined) : undefined;
    if (next && status && status.steps.length > 0) running = { ...next.running, status };
  }
}
