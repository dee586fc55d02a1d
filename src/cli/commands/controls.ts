import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { runbookWorkflowId } from '../../domain/workflow-ids';
import { CliError, EXIT, rootMessage } from '../errors';
import { describeOrUndefined } from '../runbooks';
import { defaultActor, type Cli } from '../session';

const CONTROLS = {
  approve: 'let a runbook waiting at its approval gate go on',
  pause: 'hold the running runbook before its next step',
  resume: 'continue a paused runbook',
  abort: 'stop the running runbook; steps already taken are undone',
} as const;

/** One command per update the running runbook accepts; its validator's refusal is shown as is. */
export function registerControls(program: Command, cli: Cli): void {
  for (const [update, description] of Object.entries(CONTROLS)) {
    program
      .command(update)
      .description(description)
      .argument('<service>', 'service name from the config')
      .option('--by <name>', 'who decides (default: $USER)')
      .option('--reason <text>', 'why; recorded with the decision')
      .addHelpText('after', '\nExit code 1 when no runbook is running or the runbook rejects the request (the reason is printed).')
      .action((name: string, flags: { by?: string; reason?: string }, cmd: Command) =>
        cli.run(cmd, async (ctx) => {
          const service = ctx.service(name);
          const client = await ctx.client();
          const workflowId = runbookWorkflowId(service.name);
          const info = await describeOrUndefined(client, workflowId);
          if (!info || info.status.name !== 'RUNNING') {
            const last = info ? ` (last: ${info.type} ${info.status.name.toLowerCase()})` : '';
            throw new CliError(`cannot ${update}: no runbook is running for ${service.name}${last}`, EXIT.failed, 'not-running', { service: service.name });
          }
          const request = { by: flags.by ?? defaultActor(), ...(flags.reason !== undefined ? { reason: flags.reason } : {}) };
          const handle = client.workflow.getHandle(workflowId, info.runId);
          let answer: string;
          try {
            answer = await ctx.withWorker(`${update} update`, () => handle.executeUpdate<string, [typeof request]>(update, { args: [request] }));
          } catch (err) {
            if (!(err instanceof WorkflowUpdateFailedError)) throw err;
            const reason = rootMessage(err);
            throw new CliError(`${update} rejected by the running ${info.type} of ${service.name}: ${reason}`, EXIT.failed, 'rejected', { service: service.name, update, reason });
          }
          const doc = { service: service.name, update, workflowId, runId: info.runId, type: info.type, result: answer };
          ctx.emit(doc, () => `${info.type} of ${service.name}: ${answer}`);
        }),
      );
  }
}
