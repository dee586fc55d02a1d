import { fmtWeights, type Routing } from '../domain/routing';
import { refuse, type Runbook } from './runbook-kit';

/**
 * A rollback to weights given by hand is a failover someone typed: every destination it sends
 * traffic to must be up, and it waits for approval (never proceeding on timeout), naming the
 * regions it adds, so the approvers and four-eyes rules apply to it as to any failover.
 */
export async function approveExplicitWeights(rb: Runbook, weights: Record<string, number>, current: Routing, actor: string | undefined): Promise<void> {
  const { ctx, log } = rb;
  const { service } = ctx;
  const carrying = Object.entries(weights)
    .filter(([, w]) => w > 0)
    .map(([id]) => id);
  for (const id of carrying) {
    const p = await log.run(
      `probe ${id}`,
      () => ctx.act.probe(ctx.serviceArg, id),
      (r) => ({ detail: r.up ? 'up' : `down: ${r.error}` }),
    );
    if (!p.up) refuse(`cannot send traffic to ${id}: it is down (${p.error})`, 'TargetDown');
  }
  const regionOf = (id: string) => service.destinations.find((d) => d.id === id)?.region;
  const before = new Set(
    Object.entries(current.weights)
      .filter(([, w]) => w > 0)
      .map(([id]) => regionOf(id)),
  );
  const added = [...new Set(carrying.map(regionOf))].filter((r) => r !== undefined && !before.has(r));
  const reasons = [`weights given by hand${actor ? ` by ${actor}` : ''}: ${fmtWeights(weights)}`];
  if (added.length > 0) reasons.push(`sends traffic into region ${added.join(', ')}`);
  await rb.gate(reasons, 'abort');
  await ctx.controls.checkpoint();
}
