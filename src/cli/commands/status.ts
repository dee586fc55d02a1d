import type { Command } from 'commander';
import { supervisionQuery, supervisorWorkflowId } from '../../api/supervisor';
import { suspensionOf } from '../../domain/brakes';
import { detectionWorkflowId, runbookWorkflowId } from '../../domain/workflow-ids';
import type { DetectionStatus } from '../../workflows/detection';
import type { RunbookStatus } from '../../workflows/runbook-frame';
import { describeOrUndefined, runningUnder } from '../runbooks';
import type { Cli } from '../session';
import { statusView, type StatusReport } from '../views';

export function registerStatus(program: Command, cli: Cli): void {
  program
    .command('status')
    .description("detection health and the running runbook's phase, step, move, routing and controls (or idle)")
    .argument('<service>', 'service name from the config')
    .action((name: string, _opts, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const service = ctx.service(name);
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
          const status = await ctx.withWorker('status query', () => handle.query<RunbookStatus>('status'));
          report.runbook = { ...runbook.running, status };
        } else {
          const last = await describeOrUndefined(client, runbookId);
          if (last) report.last = { type: last.type, status: last.status.name, ...(last.closeTime ? { closeTime: last.closeTime.toISOString() } : {}) };
        }
        ctx.emit(report, () => statusView(report));
      }),
    );
}
