import type { RollbackResult } from '../api/results';
import { primaryOf, sameWeights, type Routing } from '../domain/routing';
import { rollbackInputSchema, type RollbackInput } from '../domain/runbook-input';
import { approveExplicitWeights } from './explicit-weights';
import { restoreRouting } from './ramp';
import { validate } from './routing-steps';
import { refuse, Runbook } from './runbook-kit';
import { switchSingleWriter } from './single-writer-switch';
import { isSingleWriter } from './switching';

export type { RollbackResult };

/**
 * Restores a routing snapshot: the one a finished failover/recovery of the service started from
 * (by run id, or the latest), or weights given directly. Independent destinations go back in reverse steps unless `immediate`
 * or the current target is down; a single-writer service goes back by a switchover (fenced, zero
 * loss when the current primary is up).
 */
export async function rollback(input: RollbackInput): Promise<RollbackResult> {
  return Runbook.run('rollback', rollbackInputSchema, input, async (req, rb) => {
    const { ctx, status, log } = rb;
    const { service } = ctx;
    // Plan: the snapshot to go back to, and where traffic is now.
    let snapshot: Record<string, number>;
    if (!req.weights) {
      const origin = await log.run(
        'load snapshot',
        () => ctx.act.runbookResult(service.name, req.run),
        (r) => ({
          detail: `${r.type} run ${r.runId} started from generation ${r.routingBefore.generation}: ${JSON.stringify(r.routingBefore.weights)}`,
        }),
      );
      snapshot = origin.routingBefore.weights;
    } else {
      snapshot = req.weights;
      for (const id of Object.keys(snapshot)) rb.requireDestination(id, `input.weights.${id}`);
    }
    const current = await rb.readRouting();
    const finish = (after: Routing): RollbackResult => ({
      service: service.name,
      restored: snapshot,
      routingBefore: current,
      routingAfter: after,
      steps: log.steps,
    });
    if (sameWeights(snapshot, current.weights)) {
      rb.enter('done');
      await log.note('restore routing', 'skipped', 'routing already matches the snapshot');
      return finish(current);
    }
    const from = primaryOf(current);
    const to = primaryOf({ generation: 0, weights: snapshot });
    if (!to) refuse('invalid rollback input:\n  - the snapshot sends traffic nowhere', 'UnsafeRouting');
    const toProbe = await ctx.act.probe(ctx.serviceArg, to);
    if (!toProbe.up) refuse(`cannot roll back to ${to}: it is down (${toProbe.error})`, 'TargetDown');
    status.source = from;
    status.target = to;
    // Gate: weights typed by hand move traffic like a failover: the same checks and a person's approval.
    if (req.weights && ctx.features.weightsApproval) await approveExplicitWeights(rb, snapshot, current, req.actor);

    // Move: a single writer by a switchover, independent destinations by restoring the weights.
    let after: Routing;
    const switchFrom = isSingleWriter(ctx) && from && from !== to ? from : undefined;
    if (switchFrom) {
      rb.enter('switching');
      const fromUp = (await ctx.act.probe(ctx.serviceArg, switchFrom)).up;
      after = (await switchSingleWriter(ctx, { source: switchFrom, target: to, sourceUp: fromUp, before: current, targetWeight: snapshot[to]! })).after;
    } else {
      rb.enter('ramping');
      const fromUp = from ? (await ctx.act.probe(ctx.serviceArg, from)).up : false;
      after = await restoreRouting(ctx, { generation: current.generation, weights: snapshot }, current, !req.immediate && fromUp);
    }
    // Finish: validated, or failed saying where traffic is.
    const v = await validate(ctx, 'validate', to, switchFrom !== undefined);
    rb.enter(v.ok ? 'done' : 'failed');
    if (!v.ok) refuse(`${switchFrom ? `rolled back to ${to}` : 'routing restored'} but validation failed: ${v.detail}`, 'ValidationFailed', finish(after));
    return finish(after);
  });
}
