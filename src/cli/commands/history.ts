import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { Command } from 'commander';
import { MUTATING_RUNBOOKS, runbookWorkflowId } from '../../domain/workflow-ids';
import { limitSchema, parseArg } from '../args';
import { failureOf } from '../runbooks';
import type { Cli } from '../session';
import { historyView, type HistoryRun, type RunbookResultLike } from '../views';
import { triggerKey } from '../../domain/search-attributes';

/** Mutating runbooks of the service: labelled with its name, or run under its lock id. */
export function historyQuery(service: string): string {
  const q = (s: string) => JSON.stringify(s);
  return `(Service = ${q(service)} AND RunbookKind IN (${MUTATING_RUNBOOKS.map(q).join(', ')})) OR WorkflowId = ${q(runbookWorkflowId(service))}`;
}

async function describeRun(client: Client, info: WorkflowExecutionInfo): Promise<HistoryRun> {
  const trigger = info.typedSearchAttributes.get(triggerKey);
  const memo = (info.memo ?? {}) as { source?: unknown; target?: unknown };
  const run: HistoryRun = {
    workflowId: info.workflowId,
    runId: info.runId,
    type: info.type,
    status: info.status.name,
    ...(trigger ? { trigger } : {}),
    startTime: info.startTime.toISOString(),
    ...(info.closeTime ? { closeTime: info.closeTime.toISOString() } : {}),
    ...(typeof memo.source === 'string' ? { source: memo.source } : {}),
    ...(typeof memo.target === 'string' ? { target: memo.target } : {}),
  };
  if (info.status.name !== 'COMPLETED' && info.status.name !== 'FAILED') return run;
  try {
    const r = (await client.workflow.getHandle(info.workflowId, info.runId, { followRuns: false }).result()) as RunbookResultLike;
    return {
      ...run,
      ...(r.outcome ? { outcome: r.outcome } : {}),
      ...(r.source ? { source: r.source } : {}),
      ...(r.target ?? r.destination ? { target: (r.target ?? r.destination)! } : {}),
      ...(r.planned !== undefined ? { planned: r.planned } : {}),
      ...(r.rtoMs !== undefined ? { rtoMs: r.rtoMs } : {}),
      ...(r.rpo ? { rpo: r.rpo } : {}),
      ...(r.objective?.exceeded ? { objectiveExceeded: r.objective.maxFailoverTime } : {}),
    };
  } catch (err) {
    const failure = failureOf(err);
    if (!failure) throw err;
    return { ...run, failure: `${failure.type ? `${failure.type}: ` : ''}${failure.message}` };
  }
}

/** The schedule's own run of a maintenance that went on under the lock id (the other row shows it). */
export function isMaintenanceStarter(service: string, r: Pick<HistoryRun, 'type' | 'workflowId' | 'status' | 'outcome'>): boolean {
  if (r.type !== 'maintenance' || r.workflowId === runbookWorkflowId(service)) return false;
  return r.status === 'RUNNING' || (r.status === 'COMPLETED' && r.outcome !== 'skipped');
}

/** Maps with at most `n` calls in flight, keeping order. */
async function mapLimited<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

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
        const client = await ctx.client();
        // A scheduled maintenance is two runs: the schedule's starter and the run under the lock id; the
        // starter is shown only when it did the work itself (skipped, or failed before starting the other).
        const infos: WorkflowExecutionInfo[] = [];
        for await (const info of client.workflow.list({ query: historyQuery(service.name), pageSize: Math.min(limit * 2, 100) })) {
          infos.push(info);
          if (infos.length >= Math.min(limit * 2, 2000)) break;
        }
        infos.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
        const described = await mapLimited(infos, 8, (info) => describeRun(client, info));
        const runs = described.filter((r) => !isMaintenanceStarter(service.name, r)).slice(0, limit);
        ctx.emit({ service: service.name, runs }, () => historyView(service.name, runs));
      }),
    );
}
