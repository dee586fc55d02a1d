import { sameWeights, type Routing } from '../domain/routing';
import { unknownDestination } from '../domain/runbook-plan';
import { reassertInputSchema, type ReassertInput, type ReassertRequest } from '../domain/runbook-input';
import { readRouting } from './runbook-end';
import { approvalGate, openRunbook, parseInput, refuse, underLock } from './runbook-frame';
import type { StepRecord } from './runbook-steps';
import { applyRouting, fmtWeights, isSingleWriter, validate } from './switching';

export interface ReassertResult {
  service: string;
  outcome: 'reasserted' | 'already-right';
  routingBefore: Routing;
  routingAfter: Routing;
  steps: StepRecord[];
}

/**
 * The router drifted from the routing the manager decided (a reload reset HAProxy to its file, a
 * weight changed by hand): write the decided weights back (compare-and-set on what the router has
 * now), close the sessions on destinations that must carry nothing, and check the entrypoint.
 * With `failover_execution.router_drift: approve` a person approves first. Started by detection.
 */
export async function reassert(input: ReassertInput): Promise<ReassertResult> {
  const req = parseInput(reassertInputSchema, input, 'reassert');
  return underLock('reassert', req, input, () => runReassert(req));
}

async function runReassert(req: ReassertRequest): Promise<ReassertResult> {
  const { ctx, status } = await openRunbook('reassert', req);
  const { service, log } = ctx;
  const ids = service.destinations.map((d) => d.id);
  const unknown = Object.keys(req.weights).find((id) => !ids.includes(id));
  if (unknown) refuse(unknownDestination(service, unknown, `input.weights.${unknown}`, 'reassert')!);
  const now = await readRouting(ctx, status);
  const finish = (outcome: ReassertResult['outcome'], after: Routing): ReassertResult => ({ service: service.name, outcome, routingBefore: now, routingAfter: after, steps: log.steps });
  if (sameWeights(now.weights, req.weights)) {
    status.phase = 'done';
    await log.note('done', 'skipped', 'the router already has the decided weights');
    return finish('already-right', now);
  }
  if (ctx.policy.failover_execution.router_drift === 'approve') {
    await approvalGate(ctx, status, [`the router has ${fmtWeights(now.weights)} (generation ${now.generation}); the decided routing is ${fmtWeights(req.weights)} (generation ${req.generation})`]);
  }
  status.phase = 'switching';
  await ctx.controls.checkpoint();
  // Lower first: whatever must carry nothing leaves the pool before the decided destination comes back.
  const after = await applyRouting(ctx, 'reassert routing', req.weights, now, true);
  for (const id of ids.filter((d) => (req.weights[d] ?? 0) === 0 && (now.weights[d] ?? 0) > 0)) {
    await log.run(`cut sessions to ${id}`, () => ctx.act.cutSessions(service, id), () => ({ detail: `connections to ${id} closed in this router process` }));
  }
  const primary = Object.entries(req.weights).sort(([, a], [, b]) => b - a)[0]?.[0];
  if (primary) {
    const v = await validate(ctx, 'validate', primary, isSingleWriter(ctx));
    if (!v.ok) refuse(`routing reasserted but validation failed: ${v.detail}`, 'ValidationFailed', finish('reasserted', after));
  }
  status.phase = 'done';
  await log.note('done', 'ok', `routing back to the decided ${fmtWeights(after.weights)} (router generation ${after.generation})`);
  return finish('reasserted', after);
}
