import type { Routing } from '../domain/routing';
import { approvalGate, refuse, type RunbookStatus } from './runbook-frame';
import { fmtWeights, type RunbookContext } from './switching';

/**
 * A rollback to weights given by hand is a failover someone typed: every destination it sends
 * traffic to must be up, and it waits for approval (never proceeding on timeout), naming the
 * regions it adds, so the approvers and four-eyes rules apply to it as to any failover.
 */
export async function approveExplicitWeights(ctx: RunbookContext, status: RunbookStatus, weights: Record<string, number>, current: Routing, actor: string | undefined): Promise<void> {
  const { service, log } = ctx;
  const carrying = Object.entries(weights).filter(([, w]) => w > 0).map(([id]) => id);
  for (const id of carrying) {
    const p = await log.run(`probe ${id}`, () => ctx.act.probe(service, id), (r) => ({ detail: r.up ? 'up' : `down: ${r.error}` }));
    if (!p.up) refuse(`cannot send traffic to ${id}: it is down (${p.error})`, 'TargetDown');
  }
  const regionOf = (id: string) => service.destinations.find((d) => d.id === id)?.region;
  const before = new Set(Object.entries(current.weights).filter(([, w]) => w > 0).map(([id]) => regionOf(id)));
  const added = [...new Set(carrying.map(regionOf))].filter((r) => r !== undefined && !before.has(r));
  const reasons = [`weights given by hand${actor ? ` by ${actor}` : ''}: ${fmtWeights(weights)}`];
  if (added.length > 0) reasons.push(`sends traffic into region ${added.join(', ')}`);
  await approvalGate(ctx, status, reasons, 'abort');
  await ctx.controls.checkpoint();
}
