import type { ReassertResult } from '../api/results';
import { fmtWeights, sameWeights, type Routing } from '../domain/routing';
import { reassertInputSchema, type ReassertInput } from '../domain/runbook-input';
import { applyRouting, validate } from './routing-steps';
import { refuse, Runbook } from './runbook-kit';
import { isSingleWriter } from './switching';

export type { ReassertResult };

/**
 * The router drifted from the routing the manager decided (a reload reset HAProxy to its file, a
 * weight changed by hand): write the decided weights back (compare-and-set on what the router has
 * now), close the sessions on destinations that must carry nothing, and check the entrypoint.
 * With `failover_execution.router_drift: approve` a person approves first. Started by detection.
 */
export async function reassert(input: ReassertInput): Promise<ReassertResult> {
  return Runbook.run('reassert', reassertInputSchema, input, async (req, rb) => {
    const { ctx, log } = rb;
    const { service } = ctx;
    for (const id of Object.keys(req.weights)) rb.requireDestination(id, `input.weights.${id}`);
    // Observe: what the router has now.
    const now = await rb.readRouting();
    const finish = (outcome: ReassertResult['outcome'], after: Routing): ReassertResult => ({
      service: service.name,
      outcome,
      routingBefore: now,
      routingAfter: after,
      steps: log.steps,
    });
    if (sameWeights(now.weights, req.weights)) {
      await rb.done('the router already has the decided weights', undefined, 'skipped');
      return finish('already-right', now);
    }
    // Gate: with router_drift `approve`, a person agrees first.
    if (ctx.policy.failover_execution.router_drift === 'approve') {
      await rb.gate([
        `the router has ${fmtWeights(now.weights)} (generation ${now.generation}); the decided routing is ${fmtWeights(req.weights)} (generation ${req.generation})`,
      ]);
    }
    // Move: lower first, so whatever must carry nothing leaves the pool before the decided destination comes back.
    rb.enter('switching');
    await ctx.controls.checkpoint();
    const after = await applyRouting(ctx, 'reassert routing', req.weights, now, true);
    for (const id of service.destinations.map((d) => d.id).filter((d) => (req.weights[d] ?? 0) === 0 && (now.weights[d] ?? 0) > 0)) {
      await log.run(
        `cut sessions to ${id}`,
        () => ctx.act.cutSessions(ctx.serviceArg, id),
        () => ({ detail: `connections to ${id} closed in this router process` }),
      );
    }
    // Finish: the entrypoint answers through the decided primary.
    const primary = Object.entries(req.weights).sort(([, a], [, b]) => b - a)[0]?.[0];
    if (primary) {
      const v = await validate(ctx, 'validate', primary, isSingleWriter(ctx));
      if (!v.ok) refuse(`routing reasserted but validation failed: ${v.detail}`, 'ValidationFailed', finish('reasserted', after));
    }
    await rb.done(`routing back to the decided ${fmtWeights(after.weights)} (router generation ${after.generation})`);
    return finish('reasserted', after);
  });
}
