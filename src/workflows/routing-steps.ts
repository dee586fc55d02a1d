import type { ProbeResult } from '../activities';
import { fmtWeights, type Routing } from '../domain/routing';
import type { RunbookStatus } from '../api/status';
import type { RunbookContext } from './switching';

/** The steps that read, write and check a service's routing, each recorded with its numbers. */

/** The `read routing` step; with `status`, the routing the runbook starts from. */
export async function readRouting(ctx: RunbookContext, status?: Pick<RunbookStatus, 'routingBefore' | 'routingCurrent'>): Promise<Routing> {
  const { routing } = await ctx.log.run(
    'read routing',
    () => ctx.act.readRouting(ctx.serviceArg),
    (r) => ({
      detail: `generation ${r.routing.generation}: ${fmtWeights(r.routing.weights)}`,
      numbers: { generation: r.routing.generation },
    }),
  );
  if (status) {
    status.routingBefore = routing;
    status.routingCurrent = routing;
  }
  return routing;
}

/**
 * Where traffic is now and who answers: the opening steps of every runbook that moves traffic.
 * Records the starting routing in `status`.
 */
export async function readRoutingAndProbe(
  ctx: RunbookContext,
  status: { routingBefore?: Routing; routingCurrent?: Routing },
): Promise<{ before: Routing; probes: Record<string, ProbeResult>; down: Set<string> }> {
  const ids = ctx.service.destinations.map((d) => d.id);
  const before = await readRouting(ctx, status);
  const probes: Record<string, ProbeResult> = {};
  await ctx.log.run(
    'probe destinations',
    async () => {
      await Promise.all(ids.map(async (id) => (probes[id] = await ctx.act.probe(ctx.serviceArg, id))));
      return probes;
    },
    (p) => ({ detail: ids.map((id) => `${id} ${p[id]!.up ? `up ${Math.round(p[id]!.latencyMs)}ms` : `down (${p[id]!.failure})`}`).join(', ') }),
  );
  return { before, probes, down: new Set(ids.filter((id) => !probes[id]!.up)) };
}

export async function applyRouting(
  ctx: RunbookContext,
  name: string,
  weights: Record<string, number>,
  expected: Routing,
  lowerFirst = false,
): Promise<Routing> {
  const r = await ctx.log.run(
    name,
    () => ctx.act.applyRouting(ctx.serviceArg, weights, expected.generation, { lowerFirst }),
    (res) => ({
      detail: `generation ${res.routing.generation}: ${fmtWeights(res.routing.weights)}`,
      numbers: { generation: res.routing.generation, changes: res.changes.length },
    }),
  );
  ctx.onRouting(r.routing);
  return r.routing;
}

/** Target probe, extra validation probes, and the end-to-end check through the entrypoint. */
export async function validate(ctx: RunbookContext, name: string, target: string, singleWriter: boolean): Promise<{ ok: boolean; detail: string }> {
  return ctx.log.run(
    name,
    () => ctx.act.validateStep(ctx.serviceArg, target, singleWriter),
    (v) => ({
      detail: v.detail,
      numbers: Object.fromEntries(v.checks.map((c) => [c.name, c.ok])),
    }),
  );
}

export function lagNumbers(v: { ok: boolean; verdict: string; waitedMs: number; reading: { lag: number; sourceOffset: number; targetOffset: number } }) {
  return {
    detail: v.verdict,
    numbers: { lag: v.reading.lag, sourceOffset: v.reading.sourceOffset, targetOffset: v.reading.targetOffset, waitedMs: v.waitedMs },
  };
}
