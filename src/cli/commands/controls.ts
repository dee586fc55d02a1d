import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { runbookWorkflowId } from '../../domain/workflow-ids';
import { abortUpdate, approveUpdate, pauseUpdate, resumeUpdate } from '../../workflows/controls';
import { CliError, EXIT, rootMessage, usageError } from '../errors';
import { brakesLines, changeBrakes, resumeAutomation } from './brakes';
import { describeOrUndefined } from '../runbooks';
import { defaultActor, type Cli } from '../session';
import type { ControlAction } from '../../domain/control-auth';
import { loadSigningKey, signControl, SIGNING_KEY_ENV } from '../../security/control-signing';

const CONTROLS = {
  approve: { definition: approveUpdate, description: 'let a runbook waiting at its approval gate go on' },
  pause: { definition: pauseUpdate, description: 'hold the running runbook before its next step' },
  resume: { definition: resumeUpdate, description: 'continue a paused runbook' },
  abort: { definition: abortUpdate, description: 'stop the running runbook; steps already taken are undone' },
} as const;

/**
 * One command per update the running runbook accepts; its validator's refusal is shown as is.
 * `resume` also lifts a suspension of the service's automatic runbooks (`resume --all`: of every service).
 */
export function registerControls(program: Command, cli: Cli): void {
  for (const [update, { definition, description }] of Object.entries(CONTROLS)) {
    const resume = update === 'resume';
    const command = program
      .command(update)
      .description(resume ? `${description}, and/or let its automatic runbooks start again after \`suspend\`` : description)
      .argument(resume ? '[service]' : '<service>', 'service name from the config')
      .option('--by <name>', 'who decides (default: $USER)')
      .option('--reason <text>', 'why; recorded with the decision')
      .option('--key <file>', `Ed25519 private key (PEM) to sign with, when approval.keys lists you (default: $${SIGNING_KEY_ENV})`);
    if (resume) command.option('--all', 'lift the suspension of every service');
    command
      .addHelpText('after', '\nExit code 1 when no runbook is running or the runbook rejects the request (the reason is printed).')
      .action((name: string | undefined, flags: { by?: string; reason?: string; all?: boolean; key?: string }, cmd: Command) =>
        cli.run(cmd, async (ctx) => {
          const by = flags.by ?? defaultActor();
          if (resume && flags.all) {
            if (name !== undefined) throw usageError('resume: name one service or give --all, not both');
            const brakes = await changeBrakes(ctx, 'resume', { by, reason: flags.reason ?? '' });
            return void ctx.emit({ brakes }, () => brakesLines(brakes).join('\n'));
          }
          if (name === undefined) throw usageError(`${update}: missing <service>`);
          const service = ctx.service(name);
          const client = await ctx.client();
          const automation = resume ? await resumeAutomation(ctx, service.name, by, flags.reason ?? '') : { lifted: false };
          if (automation.note) ctx.note(automation.note);
          const lifted = automation.lifted ? `automatic runbooks of ${service.name} may start again` : undefined;
          const workflowId = runbookWorkflowId(service.name);
          const info = await describeOrUndefined(client, workflowId);
          if (!info || info.status.name !== 'RUNNING') {
            if (lifted) return void ctx.emit({ service: service.name, update, brakes: automation.brakes }, () => lifted);
            const last = info ? ` (last: ${info.type} ${info.status.name.toLowerCase()})` : '';
            throw new CliError(`cannot ${update}: no runbook is running for ${service.name}${last}`, EXIT.failed, 'not-running', { service: service.name });
          }
          const keyFile = flags.key ?? process.env[SIGNING_KEY_ENV];
          const plain = { by, ...(flags.reason !== undefined ? { reason: flags.reason } : {}) };
          const request = keyFile ? signControl(update as ControlAction, workflowId, info.runId, plain, loadSigningKey(keyFile)) : plain;
          const handle = client.workflow.getHandle(workflowId, info.runId);
          let answer: string;
          try {
            answer = await ctx.withWorker(`${update} update`, () => handle.executeUpdate(definition, { args: [request] }));
          } catch (err) {
            if (!(err instanceof WorkflowUpdateFailedError)) throw err;
            const reason = rootMessage(err);
            if (lifted)
              return void ctx.emit(
                { service: service.name, update, brakes: automation.brakes, runbook: reason },
                () => `${lifted}; the running ${info.type}: ${reason}`,
              );
            throw new CliError(`${update} rejected by the running ${info.type} of ${service.name}: ${reason}`, EXIT.failed, 'rejected', {
              service: service.name,
              update,
              reason,
            });
          }
          const doc = {
            service: service.name,
            update,
            workflowId,
            runId: info.runId,
            type: info.type,
            result: answer,
            ...(automation.brakes ? { brakes: automation.brakes } : {}),
          };
          ctx.emit(doc, () => `${lifted ? `${lifted}; ` : ''}${info.type} of ${service.name}: ${answer}`);
        }),
      );
  }
}
