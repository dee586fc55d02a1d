import * as wf from '@temporalio/workflow';
import type { Activities, ProbeResult } from '../activities';
import type { Policy, ServiceConfig } from '../domain/config';
import { requireMs } from '../domain/duration';
import { fmtWeights, sameWeights, type Routing } from '../domain/routing';
import { isSingleWriter as singleWriterService } from '../domain/runbook-plan';
import { rampPlan } from '../domain/ramp';
import type { RunbookControls } from './controls';
import { readRouting } from './runbook-end';
import { Compensations, type StepLog } from './runbook-steps';

/** Everything a runbook's steps need; built once per runbook after its config snapshot is loaded. */
export interface RunbookContext {
  service: ServiceConfig;
  policy: Policy;
  log: StepLog;
  controls: RunbookControls;
  act: ReturnType<typeof stepActivities>;
  waiting: ReturnType<typeof waitingActivities>;
  /** Called with each routing the runbook writes, for status. */
  onRouting(r: Routing): void;
  /** Behaviour added since older runs of this code: decided once, at the start of the run (see runbookFeatures). */
  features: RunbookFeatures;
}

/**
 * `wf.patched()` for every change the mutating runbooks gained, called in the run's first
 * activation. Called later (after a local activity) a patch can land in another workflow task on
 * replay than it did when recorded, which is a nondeterminism error; at the start it cannot.
 */
export function runbookFeatures() {
  return {
    /** Single-writer failover checks that its target is a copy of the source (returned-node rule). */
    targetSync: wf.patched('failover-target-sync'),
    /** A resync records (and can keep) what the node held that the primary lacks. */
    resyncDivergence: wf.patched('resync-divergence'),
    /** An approval wait raises an alert event with the commands to answer it. */
    approvalNotice: wf.patched('approval-notice'),
    /** The single-writer switch runs as one activity: nothing stops it half way, and the write pause is short. */
    atomicSwitch: wf.patched('atomic-switch'),
    /** A drain of a single-writer service's primary goes through the fenced switchover. */
    drainFenced: wf.patched('drain-fenced'),
    /** A failover that has not moved traffic within performance.max_failover_time raises an alert and is marked. */
    maxFailoverTime: wf.patched('max-failover-time'),
    /** Lag gate children are named from the run id, not wf.uuid4() (tracing draws span ids from the same numbers). */
    gateIdFromRun: wf.patched('gate-id-from-run'),
    /** A rollback to weights given by hand checks every destination it sends traffic to and waits for approval. */
    weightsApproval: wf.patched('rollback-weights-approval'),
    /** The starter is verified (a signed start) or recorded as unverified; four-eyes uses it (start-check.ts). */
    signedStarts: wf.patched('signed-starts'),
  };
}
export type RunbookFeatures = ReturnType<typeof runbookFeatures>;

/** Step activities heartbeat every second while they run (see activities/keepalive.ts): a lost worker costs seconds. */
export const STEP_HEARTBEAT = '3s';

export function stepActivities(policy: Policy) {
  return wf.proxyActivities<Activities>({
    startToCloseTimeout: policy.failover_execution.step_timeout,
    heartbeatTimeout: STEP_HEARTBEAT,
    retry: { maximumAttempts: 5, initialInterval: '200ms', maximumInterval: '2s', nonRetryableErrorTypes: ['GenerationConflict'] },
  });
}

export function waitingActivities(policy: Policy) {
  const waitMs = Math.max(requireMs(policy.failover_execution.consistency_check.timeout), requireMs(policy.recovery_management.resync_timeout));
  return wf.proxyActivities<Activities>({
    startToCloseTimeout: waitMs + 30_000,
    heartbeatTimeout: STEP_HEARTBEAT,
    retry: { maximumAttempts: 3, initialInterval: '500ms' },
  });
}

/** Single-writer replication (Redis primary/replica …): only one destination may ever take writes. */
export function isSingleWriter(ctx: Pick<RunbookContext, 'service' | 'policy'>): boolean {
  return singleWriterService(ctx.service, ctx.policy);
}

export { fmtWeights };

export async function applyRouting(ctx: RunbookContext, name: string, weights: Record<string, number>, expected: Routing, lowerFirst = false): Promise<Routing> {
  const r = await ctx.log.run(name, () => ctx.act.applyRouting(ctx.service, weights, expected.generation, { lowerFirst }), (res) => ({
    detail: `generation ${res.routing.generation}: ${fmtWeights(res.routing.weights)}`,
    numbers: { generation: res.routing.generation, changes: res.changes.length },
  }));
  ctx.onRouting(r.routing);
  return r.routing;
}

/** Target probe, extra validation probes, and the end-to-end check through the entrypoint. */
export async function validate(ctx: RunbookContext, name: string, target: string, singleWriter: boolean): Promise<{ ok: boolean; detail: string }> {
  return ctx.log.run(name, () => ctx.act.validateStep(ctx.service, target, singleWriter), (v) => ({
    detail: v.detail,
    numbers: Object.fromEntries(v.checks.map((c) => [c.name, c.ok])),
  }));
}

export interface SwitchResult {
  after: Routing;
  switchedAt: number;
  rpo: { lag: number | null; note: string };
}

/**
 * Single-writer switch: consistency gate → fence source → catch-up → promote target → route all
 * traffic in one step → cut old sessions → demote source. Weights cannot ramp here: a share left on
 * the fenced source would only see blocked or refused writes. Before the routing switch every step
 * is undone on failure; after it the target may hold writes the source lacks, so undo means a
 * reverse switchover instead (see failover's rollback).
 */
type SwitchOptions = {
  source: string;
  target: string;
  sourceUp: boolean;
  before: Routing;
  targetWeight: number;
  targetOffset?: number;
  /** Set when an approval accepted lag above the bound. */
  acceptLag?: number;
  /** Source offset at the last observation (emergency RPO). */
  sourceLastSeen?: number;
};

export async function switchSingleWriter(ctx: RunbookContext, opts: SwitchOptions): Promise<SwitchResult> {
  return ctx.features.atomicSwitch ? switchInOneStep(ctx, opts) : switchStepByStep(ctx, opts);
}

/**
 * The switch as one activity (see activities/switchover.ts): a pause or abort asked meanwhile takes
 * effect after it, and its sub-steps are recorded with their numbers as steps of this runbook.
 */
async function switchInOneStep(ctx: RunbookContext, opts: SwitchOptions): Promise<SwitchResult> {
  const exec = ctx.policy.failover_execution;
  await ctx.controls.checkpoint();
  const weights = Object.fromEntries(Object.keys(opts.before.weights).map((id) => [id, id === opts.target ? opts.targetWeight : 0]));
  const catchUpMs = requireMs(exec.consistency_check.timeout);
  const { switchover } = wf.proxyActivities<Activities>({
    // A lost worker is noticed in seconds (heartbeats), and the section is never run twice at once.
    startToCloseTimeout: catchUpMs + requireMs(exec.step_timeout),
    heartbeatTimeout: STEP_HEARTBEAT,
    retry: { maximumAttempts: 3, initialInterval: '200ms', nonRetryableErrorTypes: ['GenerationConflict', 'CatchUp', 'NoReplication'] },
  });
  const result = await ctx.log.run(
    'switch section',
    () =>
      wf.CancellationScope.nonCancellable(() =>
        switchover(ctx.service, {
          source: opts.source, target: opts.target, sourceUp: opts.sourceUp, expected: opts.before, weights,
          holdMs: requireMs(exec.fence_timeout), catchUpTimeoutMs: catchUpMs, ...(opts.acceptLag !== undefined ? { acceptLag: opts.acceptLag } : {}),
        }),
      ),
    (r) => ({ detail: `writes paused ${r.pausedMs}ms; ${opts.source} → ${opts.target}`, numbers: { pausedMs: r.pausedMs } }),
  );
  for (const s of result.steps) await ctx.log.note(s.name, 'ok', s.detail, { ms: s.ms, ...(s.numbers ?? {}) });
  if (!opts.sourceUp) await ctx.log.note('fence source', 'skipped', 'source unreachable; fenced at the router by the switch');
  ctx.onRouting(result.routing);
  const rpo = opts.sourceUp ? result.rpo : emergencyRpo(opts);
  return { after: result.routing, switchedAt: result.switchedAtMs, rpo };
}

function emergencyRpo(opts: SwitchOptions): SwitchResult['rpo'] {
  // The estimate is the lag at the last observation; writes acknowledged after it are not in it.
  return opts.sourceLastSeen !== undefined && opts.targetOffset !== undefined
    ? {
        lag: Math.max(0, opts.sourceLastSeen - opts.targetOffset),
        note: `source ${opts.source} unreachable; lag at the last observation: source offset ${opts.sourceLastSeen} (last seen by detection) − target offset ${opts.targetOffset}; writes acknowledged after that observation are not counted`,
      }
    : { lag: null, note: `source ${opts.source} unreachable and never observed; writes acknowledged after the target's offset ${opts.targetOffset ?? '?'} may be lost` };
}

/** The switch step by step, as runs that started before `atomic-switch` recorded it (kept for their replay). */
async function switchStepByStep(ctx: RunbookContext, opts: SwitchOptions): Promise<SwitchResult> {
  const { source, target } = opts;
  const exec = ctx.policy.failover_execution;
  const undo = new Compensations();
  let rpo: SwitchResult['rpo'];
  try {
    if (opts.sourceUp) {
      const holdMs = requireMs(exec.fence_timeout);
      await ctx.controls.checkpoint();
      await ctx.log.run('fence source', () => ctx.act.fence(ctx.service, source, holdMs), (f) => ({ detail: f.detail, numbers: { holdMs } }));
      undo.push(`fence ${source}`, () => ctx.act.unfence(ctx.service, source));
      // With writes paused, the target must reach the source's last offset: then nothing acknowledged is lost.
      const caught = await ctx.log.run('catch up', () => ctx.waiting.waitForLag(ctx.service, source, target, 0, requireMs(exec.consistency_check.timeout)), lagNumbers);
      // An approved gate accepted a loss up front; otherwise the target must be exactly caught up.
      if (!caught.ok && opts.acceptLag === undefined) {
        throw wf.ApplicationFailure.nonRetryable(`replica did not catch up with writes fenced: ${caught.verdict}`, 'CatchUp');
      }
      rpo = caught.ok
        ? { lag: 0, note: `target at source offset ${caught.reading.sourceOffset} with writes fenced` }
        : { lag: caught.reading.lag, note: `lag ${caught.reading.lag} accepted by approval (${caught.verdict})` };
    } else {
      rpo = emergencyRpo(opts);
      await ctx.log.note('fence source', 'skipped', 'source unreachable; fenced at the router by the switch below');
    }
    await ctx.controls.checkpoint();
    await ctx.log.run('promote target', () => ctx.act.promote(ctx.service, target), (p) => ({ detail: p.detail }));
    if (opts.sourceUp) undo.push(`promote ${target}`, () => ctx.act.follow(ctx.service, target, source));
    const weights = Object.fromEntries(Object.keys(opts.before.weights).map((id) => [id, id === target ? opts.targetWeight : 0]));
    // Lower first: the fenced source leaves the pool before the promoted target joins it.
    const after = await applyRouting(ctx, 'switch routing', weights, opts.before, true);
    const switchedAt = Date.now();
    undo.clear(); // point of no return: see the doc comment
    await ctx.log.run('cut old sessions', () => ctx.act.cutSessions(ctx.service, source), () => ({ detail: `connections to ${source} closed` }));
    if (opts.sourceUp) await ctx.log.run('demote source', () => ctx.act.follow(ctx.service, source, target), (f) => ({ detail: f.detail }));
    return { after, switchedAt, rpo };
  } catch (err) {
    await undo.unwind(ctx.log);
    throw err;
  }
}

export interface RampStep {
  percent: number;
  weights: Record<string, number>;
}

export class RampFailedError extends Error {
  constructor(
    message: string,
    readonly current: Routing,
  ) {
    super(message);
    this.name = 'RampFailedError';
  }
}

/**
 * Multi-writer shift: move weight from `source` to `target` in the configured steps, soaking and
 * validating after each. Throws RampFailedError carrying the routing in place when a validation
 * fails or an abort arrives, so the caller can roll back from there.
 */
export async function ramp(
  ctx: RunbookContext,
  opts: { source: string; target: string; from: Routing; steps: number[]; label: string; /** Weights per step when they are not a source→target shift (e.g. one destination drained proportionally). */ plan?: RampStep[] },
): Promise<{ after: Routing; firstShiftAt: number; switchedAt: number }> {
  let current = opts.from;
  let firstShiftAt = 0;
  const plan = opts.plan ?? rampPlan(opts.from.weights, opts.source, opts.target, opts.steps);
  for (const [i, step] of plan.entries()) {
    try {
      await ctx.controls.checkpoint();
      if (!sameWeights(step.weights, current.weights)) {
        current = await applyRouting(ctx, `${opts.label} ${step.percent}%`, step.weights, current);
        if (!firstShiftAt) firstShiftAt = Date.now();
      }
      if (i < plan.length - 1 || ctx.policy.failover_execution.gradual_failover.enabled) {
        await ctx.controls.soak(ctx.policy.failover_execution.gradual_failover.soak);
      }
      const v = await validate(ctx, `validate ${step.percent}%`, opts.target, false);
      if (!v.ok) throw new RampFailedError(`validation failed at ${step.percent}%: ${v.detail}`, current);
    } catch (err) {
      if (err instanceof RampFailedError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw Object.assign(new RampFailedError(message, current), { cause: err });
    }
  }
  return { after: current, firstShiftAt: firstShiftAt || Date.now(), switchedAt: Date.now() };
}

/**
 * Puts a routing snapshot back: in reverse steps while the current target is healthy (capacity
 * matters), at once when it is down. Every write is compare-and-set on the generation.
 */
export async function restoreRouting(ctx: RunbookContext, snapshot: Routing, current: Routing, gradual: boolean): Promise<Routing> {
  if (sameWeights(snapshot.weights, current.weights)) {
    await ctx.log.note('restore routing', 'skipped', 'routing already matches the snapshot');
    return current;
  }
  let routing = current;
  const steps = gradual ? rampBackSteps(current.weights, snapshot.weights, ctx.policy.failover_execution.gradual_failover.steps) : [snapshot.weights];
  for (const [i, w] of steps.entries()) {
    routing = await applyRouting(ctx, steps.length > 1 ? `restore step ${i + 1}/${steps.length}` : 'restore routing', w, routing);
  }
  return routing;
}

function rampBackSteps(from: Record<string, number>, to: Record<string, number>, percents: number[]): Record<string, number>[] {
  const ids = [...new Set([...Object.keys(from), ...Object.keys(to)])];
  return percents.map((p) => Object.fromEntries(ids.map((id) => [id, Math.round((from[id] ?? 0) + ((to[id] ?? 0) - (from[id] ?? 0)) * (p / 100))])));
}

export function lagNumbers(v: { ok: boolean; verdict: string; waitedMs: number; reading: { lag: number; sourceOffset: number; targetOffset: number } }) {
  return {
    detail: v.verdict,
    numbers: { lag: v.reading.lag, sourceOffset: v.reading.sourceOffset, targetOffset: v.reading.targetOffset, waitedMs: v.waitedMs },
  };
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
  await ctx.log.run('probe destinations', async () => {
    await Promise.all(ids.map(async (id) => (probes[id] = await ctx.act.probe(ctx.service, id))));
    return probes;
  }, (p) => ({ detail: ids.map((id) => `${id} ${p[id]!.up ? `up ${Math.round(p[id]!.latencyMs)}ms` : `down (${p[id]!.failure})`}`).join(', ') }));
  return { before, probes, down: new Set(ids.filter((id) => !probes[id]!.up)) };
}
