import { primaryOf, sameWeights, type Routing } from '../domain/routing';
import { rollbackInputSchema, type RollbackInput, type RollbackRequest } from '../domain/runbook-input';
import { approveExplicitWeights } from './explicit-weights';
import { readRouting } from './runbook-end';
import { openRunbook, parseInput, refuse, underLock } from './runbook-frame';
import type { StepRecord } from './runbook-steps';
import { isSingleWriter, restoreRouting, switchSingleWriter, validate } from './switching';

export interface RollbackResult {
  service: string;
  restored: Record<string, number>;
  routingBefore: Routing;
  routingAfter: Routing;
  steps: StepRecord[];
}

/**
 * Restores a routing snapshot: the one a finished failover/recovery of the service started from
 * (by run id, or the latest), or weights given directly. Independent destinations go back in reverse steps unless `immediate`
 * or the current target is down; a single-writer service goes back by a switchover (fenced, zero
 * loss when the current primary is up).
 */
export async function rollback(input: RollbackInput): Promise<RollbackResult> {
  const req = parseInput(rollbackInputSchema, input, 'rollback');
  return underLock('rollback', req, input, () => runRollback(req));
}

async function runRollback(req: RollbackRequest): Promise<RollbackResult> {
  const { ctx, status } = await openRunbook('rollback', req);
  const { service, log } = ctx;
  const ids = service.destinations.map((d) => d.id);

  let snapshot: Record<string, number>;
  if (!req.weights) {
    const origin = await log.run('load snapshot', () => ctx.act.runbookResult(service.name, req.run), (r) => ({
      detail: `${r.type} run ${r.runId} started from generation ${r.routingBefore.generation}: ${JSON.stringify(r.routingBefore.weights)}`,
    }));
    snapshot = origin.routingBefore.weights;
  } else {
    snapshot = req.weights;
    const unknown = Object.keys(snapshot).filter((id) => !ids.includes(id));
    if (unknown.length) refuse(`invalid rollback input:\n  - input.weights.${unknown[0]}: no such destination in service ${service.name} (has ${ids.join(', ')})`);
  }
  const current = await readRouting(ctx, status);
  const finish = (after: Routing): RollbackResult => ({ service: service.name, restored: snapshot, routingBefore: current, routingAfter: after, steps: log.steps });
  if (sameWeights(snapshot, current.weights)) {
    status.phase = 'done';
    await log.note('restore routing', 'skipped', 'routing already matches the snapshot');
    return finish(current);
  }

  const from = primaryOf(current);
  const to = primaryOf({ generation: 0, weights: snapshot });
  if (!to) refuse('invalid rollback input:\n  - the snapshot sends traffic nowhere', 'UnsafeRouting');
  const toProbe = await ctx.act.probe(service, to);
  if (!toProbe.up) refuse(`cannot roll back to ${to}: it is down (${toProbe.error})`, 'TargetDown');
  status.source = from;
  status.target = to;
  // Weights typed by hand move traffic like a failover: the same checks and a person's approval.
  if (req.weights && ctx.features.weightsApproval) await approveExplicitWeights(ctx, status, snapshot, current, req.actor);

  if (isSingleWriter(ctx) && from && from !== to) {
    status.phase = 'switching';
    const fromUp = (await ctx.act.probe(service, from)).up;
    const back = await switchSingleWriter(ctx, { source: from, target: to, sourceUp: fromUp, before: current, targetWeight: snapshot[to]! });
    const v = await validate(ctx, 'validate', to, true);
    status.phase = v.ok ? 'done' : 'failed';
    if (!v.ok) refuse(`rolled back to ${to} but validation failed: ${v.detail}`, 'ValidationFailed', finish(back.after));
    return finish(back.after);
  }
  status.phase = 'ramping';
  const fromUp = from ? (await ctx.act.probe(service, from)).up : false;
  const after = await restoreRouting(ctx, { generation: current.generation, weights: snapshot }, current, !req.immediate && fromUp);
  const v = await validate(ctx, 'validate', to, false);
  status.phase = v.ok ? 'done' : 'failed';
  if (!v.ok) refuse(`routing restored but validation failed: ${v.detail}`, 'ValidationFailed', finish(after));
  return finish(after);
}
