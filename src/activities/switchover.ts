import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import type { ServiceConfig } from '../domain/config';
import { sameWeights, type Routing } from '../domain/routing';
import { replicatorFor, routerFor } from '../drivers';
import { GenerationConflictError } from '../drivers/routers/types';
import { isConsistent } from '../domain/consistency';

/**
 * The single-writer switch as one activity: fence the source → catch up to lag 0 → promote the
 * target → route (old primary out first) → cut old sessions → demote the source. One activity, so
 * the section where writes are paused is a few Redis and HAProxy round trips long, not six
 * workflow round trips; and nothing (pause, abort, a crash between steps) can stop it half way
 * with the fence lapsed. Each sub-step's time and numbers come back for the audit.
 */

export interface SwitchoverInput {
  source: string;
  target: string;
  /** The source answers: fence it and catch up; otherwise (emergency) promote and route at once. */
  sourceUp: boolean;
  expected: Routing;
  weights: Record<string, number>;
  /** Fence hold: the source resumes writes by itself after this if nothing else happens. */
  holdMs: number;
  /** Longest wait for the target to reach the source's offset with writes fenced. */
  catchUpTimeoutMs: number;
  /** An approval accepted this much lag: a catch-up that does not reach 0 goes on. */
  acceptLag?: number;
}

export interface SwitchoverStep {
  name: 'undo lost promote' | 'fence source' | 'catch up' | 'promote target' | 'switch routing' | 'cut old sessions' | 'demote source';
  ms: number;
  detail: string;
  numbers?: Record<string, number | string | boolean | null>;
}

export interface SwitchoverResult {
  routing: Routing;
  /** Milliseconds from the fence to the new primary routed (or from promote, in an emergency). */
  pausedMs: number;
  switchedAtMs: number;
  rpo: { lag: number | null; note: string };
  steps: SwitchoverStep[];
}

export async function switchover(service: ServiceConfig, input: SwitchoverInput, timeoutMs: number): Promise<SwitchoverResult> {
  const steps: SwitchoverStep[] = [];
  // Beats on a timer too: a slow call (a stalled node, up to the probe timeout) is not a lost worker.
  const beat = setInterval(() => heartbeat({ steps: steps.map((s) => s.name) }), 1000);
  try {
    return await switchNow(service, input, timeoutMs, steps);
  } finally {
    clearInterval(beat);
  }
}

async function switchNow(service: ServiceConfig, input: SwitchoverInput, timeoutMs: number, steps: SwitchoverStep[]): Promise<SwitchoverResult> {
  const replicator = replicatorFor(service, timeoutMs);
  if (!replicator) throw ApplicationFailure.nonRetryable(`service ${service.name} has no replication configured`, 'NoReplication');
  const router = routerFor(service);
  const { source, target } = input;

  const step = async <T>(name: SwitchoverStep['name'], fn: () => Promise<T>, describe: (r: T) => Omit<SwitchoverStep, 'name' | 'ms'>): Promise<T> => {
    const started = performance.now();
    const r = await fn();
    steps.push({ name, ms: Math.round((performance.now() - started) * 10) / 10, ...describe(r) });
    heartbeat({ steps: steps.map((s) => s.name) });
    return r;
  };

  // A retry after a lost attempt: the routing may already be the new one.
  const now = (await router.read()).routing;
  const alreadyRouted = now.generation === input.expected.generation + 1 && sameWeights(now.weights, input.weights);
  if (!alreadyRouted && now.generation !== input.expected.generation)
    throw ApplicationFailure.nonRetryable(new GenerationConflictError(input.expected.generation, now.generation).message, 'GenerationConflict');

  let rpo: SwitchoverResult['rpo'] = { lag: null, note: `source ${source} unreachable; see the estimate at the last observation` };
  if (alreadyRouted && input.sourceUp) rpo = await lostAttemptRpo(replicator, source, target);
  let fenced = false;
  let promoted = false;
  const fenceStart = performance.now();
  let routing = now;
  try {
    if (!alreadyRouted) {
      if (input.sourceUp) {
        // An attempt lost after its promote but before the routing switch: nothing was routed to the
        // promoted target, so it follows the source again and the switch starts over.
        const lost = await replicator.promotedFrom?.(target, source).catch(() => null);
        if (lost)
          await step(
            'undo lost promote',
            () => replicator.follow(target, source),
            (f) => ({ detail: `${lost.detail}; ${f.detail}` }),
          );
        await step(
          'fence source',
          () => replicator.fence(source, input.holdMs),
          (f) => ({ detail: f.detail, numbers: { holdMs: input.holdMs } }),
        );
        fenced = true;
        // With writes paused, the target must reach the source's last offset: then nothing acknowledged is lost.
        const caught = await step(
          'catch up',
          () => catchUp(replicator, source, target, input.catchUpTimeoutMs),
          (c) => ({
            detail: c.detail,
            numbers: { lag: c.lag, sourceOffset: c.sourceOffset, targetOffset: c.targetOffset, polls: c.polls },
          }),
        );
        if (!caught.ok && input.acceptLag === undefined)
          throw ApplicationFailure.nonRetryable(`replica did not catch up with writes fenced: ${caught.detail}`, 'CatchUp');
        rpo = caught.ok
          ? { lag: 0, note: `target at source offset ${caught.sourceOffset} with writes fenced` }
          : { lag: caught.lag, note: `lag ${caught.lag} accepted by approval (${caught.detail})` };
      }
      await step(
        'promote target',
        () => replicator.promote(target),
        (p) => ({ detail: p.detail }),
      );
      promoted = true;
      // Lower first: the fenced source leaves the pool before the promoted target joins it.
      routing = await step(
        'switch routing',
        () => router.apply(input.weights, input.expected.generation, { lowerFirst: true }),
        (r) => ({
          detail: `generation ${r.routing.generation}`,
          numbers: { generation: r.routing.generation, changes: r.changes.length },
        }),
      ).then((r) => r.routing);
    }
  } catch (err) {
    // Before the routing switch every step is undone: the source stays the primary. Unless the
    // router already routes to the target (another attempt of this switch finished it): then the
    // target is the primary and the source must stay fenced until that attempt demotes it.
    const finished = await router.read().then(
      (r) => r.routing.generation > input.expected.generation && (r.routing.weights[target] ?? 0) > 0,
      () => false,
    );
    if (finished) throw err;
    if (promoted && input.sourceUp) await replicator.follow(target, source).catch(() => undefined);
    if (fenced) await replicator.unfence(source).catch(() => undefined);
    if (err instanceof GenerationConflictError) throw ApplicationFailure.nonRetryable(err.message, 'GenerationConflict');
    throw err;
  }
  const pausedMs = Math.round(performance.now() - fenceStart);
  const switchedAtMs = Date.now();
  await step(
    'cut old sessions',
    () => router.cutSessions(source),
    () => ({ detail: `connections to ${source} closed` }),
  );
  if (input.sourceUp)
    await step(
      'demote source',
      () => replicator.follow(source, target),
      (f) => ({ detail: f.detail }),
    );
  return { routing, pausedMs, switchedAtMs, rpo, steps };
}

/** The RPO of a switch routed by an attempt whose worker was lost, read from the nodes' histories. */
async function lostAttemptRpo(replicator: NonNullable<ReturnType<typeof replicatorFor>>, source: string, target: string): Promise<SwitchoverResult['rpo']> {
  const promoted = await replicator.promotedFrom?.(target, source).catch(() => null);
  if (promoted) return { lag: promoted.lag, note: `routed by an earlier attempt: ${promoted.detail}` };
  return {
    lag: null,
    note: `routed by an earlier attempt whose worker was lost; ${source} already follows ${target}, so its catch-up (lag 0 before promote, or the switch stops) is not read again`,
  };
}

async function catchUp(replicator: NonNullable<ReturnType<typeof replicatorFor>>, source: string, target: string, timeoutMs: number) {
  const started = Date.now();
  let polls = 0;
  for (;;) {
    const r = await replicator.lag(source, target);
    polls++;
    if (isConsistent(r, 0))
      return {
        ok: true,
        lag: 0,
        sourceOffset: r.sourceOffset,
        targetOffset: r.targetOffset,
        polls,
        detail: `lag 0 after ${Date.now() - started}ms (offset ${r.sourceOffset})`,
      };
    if (Date.now() - started >= timeoutMs) {
      const why = r.linked ? `lag ${r.lag} still after ${timeoutMs}ms` : `${target} is not replicating from ${source}: ${r.detail ?? 'link down'}`;
      return { ok: false, lag: r.lag, sourceOffset: r.sourceOffset, targetOffset: r.targetOffset, polls, detail: why };
    }
    if (polls % 50 === 0) heartbeat({ polls });
    await new Promise((res) => setTimeout(res, 1));
  }
}
