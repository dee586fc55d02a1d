import type { Routing } from '../domain/routing';
import { fmtWeights } from '../domain/routing';
import type { RunbookStatus } from '../api/status';
import { AbortedError } from './controls';
import { refuse } from './runbook-frame';
import type { RunbookContext } from './switching';

/**
 * Steps and endings every runbook shares, written once: reading the routing, and how a runbook
 * that failed part way ends (its phase, and an operator's abort as an `Aborted` failure).
 */

/** The `read routing` step; with `status`, the routing the runbook starts from. */
export async function readRouting(ctx: RunbookContext, status?: Pick<RunbookStatus, 'routingBefore' | 'routingCurrent'>): Promise<Routing> {
  const { routing } = await ctx.log.run('read routing', () => ctx.act.readRouting(ctx.service), (r) => ({
    detail: `generation ${r.routing.generation}: ${fmtWeights(r.routing.weights)}`,
    numbers: { generation: r.routing.generation },
  }));
  if (status) {
    status.routingBefore = routing;
    status.routingCurrent = routing;
  }
  return routing;
}

/**
 * Ends a runbook on an error: an abort fails it as `Aborted` saying what was `left` as it was
 * (`note`: recorded as a step too); anything else fails it as is, keeping a `rolled-back` phase.
 */
export async function failRunbook(ctx: RunbookContext, status: RunbookStatus, err: unknown, aborted: { left: string; note?: boolean }): Promise<never> {
  if (err instanceof AbortedError) {
    status.phase = 'failed';
    if (aborted.note) await ctx.log.note('aborted', 'failed', err.message);
    refuse(`${err.message}; ${aborted.left}`, 'Aborted');
  }
  if (status.phase !== 'rolled-back') status.phase = 'failed';
  throw err;
}
