import { requireMs } from '../domain/duration';
import { fullWeight, type Routing } from '../domain/routing';
import { lagGate } from './consistency-check';
import { moveTraffic } from './move-traffic';
import type { RampStep } from './ramp';
import { isSetback, refuse, type Runbook, type Setback } from './runbook-kit';
import { isSingleWriter, type RunbookContext } from './switching';

export interface RestoreOptions {
  destination: string;
  /** Where traffic is now: the destination resyncs from it and, on failback, takes its traffic back. */
  primary: string;
  before: Routing;
  /** Move traffic back once resynced, or only restore the destination as a healthy standby. */
  failback: boolean;
  /** Independent destinations: explicit weights per failback step (default: a shift from primary to destination). */
  plan?: RampStep[];
}

export interface Restored {
  outcome: 'standby-restored' | 'failed-back';
  after: Routing;
  /** What the runbook's `done` step says. */
  said: string;
}

/**
 * Brings a destination back: health for N consecutive intervals → (single writer) resync from the
 * primary and lag gate → optionally move traffic back (gradually where destinations are
 * independent) with validation, rolled back if it degrades (a setback the runbook ends with).
 * Shared by recovery and maintenance.
 */
export async function restoreDestination(rb: Runbook, o: RestoreOptions): Promise<Restored | Setback> {
  const { ctx } = rb;
  const { service, policy, log } = ctx;
  const rec = policy.recovery_management;
  const intervalMs = requireMs(policy.failover_detection.detection_interval);
  // performance_validation: a returning node must also answer fast enough; the argument is only sent when it is on.
  const bound = rec.performance_validation ? ([requireMs(policy.quality.max_latency)] as const) : ([] as const);
  const health = await log.run(
    'health validation',
    () => ctx.waiting.probeRepeatedly(ctx.serviceArg, o.destination, rec.validation_intervals, intervalMs, ...bound),
    (h) => ({
      detail: h.detail,
      numbers: { passed: h.passed, required: rec.validation_intervals },
    }),
  );
  if (!health.ok) refuse(`${o.destination} is not healthy yet: ${health.detail}`, 'NotHealthy');
  await ctx.controls.checkpoint();

  if (isSingleWriter(ctx)) {
    if (ctx.features.resyncDivergence) await recordDivergence(ctx, o.destination, o.primary);
    await log.run(
      'resync',
      () => ctx.act.follow(ctx.serviceArg, o.destination, o.primary),
      (f) => ({ detail: `${o.destination} follows ${o.primary}: ${f.detail}` }),
    );
    const verdict = await lagGate(ctx, {
      step: 'lag gate',
      tag: 'resync',
      source: o.primary,
      target: o.destination,
      maxLag: policy.failover_execution.consistency_check.max_lag,
      timeout: rec.resync_timeout,
    });
    if (!verdict.ok) refuse(`${o.destination} did not catch up with ${o.primary}: ${verdict.verdict}`, 'ResyncFailed');
  }
  if (!o.failback) return { outcome: 'standby-restored', after: o.before, said: `${o.destination} is a healthy standby; traffic stays on ${o.primary}` };

  const targetWeight = fullWeight(service.destinations.find((d) => d.id === o.destination)!.weight);
  const moved = await moveTraffic(rb, {
    source: o.primary,
    target: o.destination,
    sourceUp: true,
    before: o.before,
    targetWeight,
    steps: rec.gradual_recovery && policy.failover_execution.gradual_failover.enabled ? policy.failover_execution.gradual_failover.steps : [100],
    ...(o.plan ? { plan: o.plan } : {}),
  });
  return isSetback(moved) ? moved : { outcome: 'failed-back', after: moved.after, said: `traffic back on ${o.destination}` };
}

/**
 * A resync discards whatever the destination holds that the primary lacks (writes a returned old
 * primary acknowledged after its replica lost it): record how much, and keep a copy when
 * `divergent_copy_dir` is set, so an operator can recover them by hand.
 */
async function recordDivergence(ctx: RunbookContext, destination: string, primary: string): Promise<void> {
  const { service, policy, log } = ctx;
  const div = await log.run(
    'divergence',
    () => ctx.act.inspectDivergence(ctx.serviceArg, destination, primary),
    (d) =>
      d
        ? { detail: d.detail, numbers: { offset: d.offset, items: d.items, primaryOffset: d.primaryOffset, tail: d.tail } }
        : { detail: 'the replication driver cannot tell what the resync discards' },
  );
  const dir = policy.recovery_management.divergent_copy_dir;
  if (!div || div.items === 0 || div.tail === 0) return;
  if (!dir) {
    await log.note('keep divergent copy', 'skipped', `recovery_management.divergent_copy_dir is not set: what only ${destination} held is discarded`);
    return;
  }
  await log.run(
    'keep divergent copy',
    () => ctx.waiting.keepDivergentCopy(ctx.serviceArg, destination, dir),
    (c) =>
      c
        ? { detail: `${c.bytes} bytes of ${destination} saved to ${c.file}`, numbers: { bytes: c.bytes, file: c.file } }
        : { detail: 'the replication driver cannot save a copy' },
  );
}
