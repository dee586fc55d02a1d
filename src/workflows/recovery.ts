import { requireMs } from '../domain/duration';
import { fullWeight, primaryOf, type Routing } from '../domain/routing';
import { unknownDestination } from '../domain/runbook-plan';
import { recoveryInputSchema, type RecoveryInput, type RecoveryRequest } from '../domain/runbook-input';
import { lagGate } from './consistency-check';
import { moveTraffic } from './move-traffic';
import { failRunbook, readRouting } from './runbook-end';
import { openRunbook, parseInput, refuse, underLock, type RunbookStatus } from './runbook-frame';
import type { StepRecord } from './runbook-steps';
import { isSingleWriter, type RampStep, type RunbookContext } from './switching';

export interface RecoveryResult {
  service: string;
  destination: string;
  outcome: 'standby-restored' | 'failed-back' | 'rolled-back';
  routingBefore: Routing;
  routingAfter: Routing;
  steps: StepRecord[];
}

/**
 * Failback of a destination that came back: health for N consecutive intervals → resync it from
 * the current primary → lag gate → move traffic back (gradually where destinations are
 * independent) with validation → roll back if it degrades.
 */
export async function recovery(input: RecoveryInput): Promise<RecoveryResult> {
  const req = parseInput(recoveryInputSchema, input, 'recovery');
  return underLock('recovery', req, input, () => runRecovery(req));
}

async function runRecovery(req: RecoveryRequest): Promise<RecoveryResult> {
  const { ctx, status } = await openRunbook('recovery', req);
  const { service, log } = ctx;
  const unknown = unknownDestination(service, req.destination, 'input.destination', 'recovery');
  if (unknown) refuse(unknown);
  const before = await readRouting(ctx, status);
  const primary = primaryOf(before);
  if (!primary) refuse(`service ${service.name} has no destination carrying traffic to resync from`, 'NoSource');
  if (primary === req.destination) refuse(`invalid recovery input:\n  - input.destination: ${JSON.stringify(req.destination)} already carries the traffic of ${service.name}`);
  status.source = primary;
  status.target = req.destination;
  const finish = (outcome: RecoveryResult['outcome'], after: Routing): RecoveryResult => ({
    service: service.name, destination: req.destination, outcome, routingBefore: before, routingAfter: after, steps: log.steps,
  });

  try {
    const restored = await restoreDestination(ctx, status, {
      destination: req.destination, primary, before, failback: req.failback,
      rolledBack: (after) => finish('rolled-back', after),
    });
    return finish(restored.outcome, restored.after);
  } catch (err) {
    return failRunbook(ctx, status, err, { left: 'no traffic moved' });
  }
}

export interface RestoreOptions {
  destination: string;
  /** Where traffic is now: the destination resyncs from it and, on failback, takes its traffic back. */
  primary: string;
  before: Routing;
  /** Move traffic back once resynced, or only restore the destination as a healthy standby. */
  failback: boolean;
  /** Independent destinations: explicit weights per failback step (default: a shift from primary to destination). */
  plan?: RampStep[];
  /** Builds the failure details when the failback ends rolled back. */
  rolledBack(after: Routing): unknown;
}

/**
 * Brings a destination back: health for N consecutive intervals → (single writer) resync from the
 * primary and lag gate → optionally move traffic back (gradually where destinations are
 * independent) with validation, rolled back if it degrades. Shared by recovery and maintenance.
 */
export async function restoreDestination(ctx: RunbookContext, status: RunbookStatus, o: RestoreOptions): Promise<{ outcome: 'standby-restored' | 'failed-back'; after: Routing }> {
  const { service, policy, log } = ctx;
  const rec = policy.recovery_management;
  const intervalMs = requireMs(policy.failover_detection.detection_interval);
  // performance_validation: a returning node must also answer fast enough; the argument is only sent when it is on.
  const bound = rec.performance_validation ? [requireMs(policy.quality.max_latency)] as const : ([] as const);
  const health = await log.run('health validation', () => ctx.waiting.probeRepeatedly(service, o.destination, rec.validation_intervals, intervalMs, ...bound), (h) => ({
    detail: h.detail, numbers: { passed: h.passed, required: rec.validation_intervals },
  }));
  if (!health.ok) refuse(`${o.destination} is not healthy yet: ${health.detail}`, 'NotHealthy');
  await ctx.controls.checkpoint();

  if (isSingleWriter(ctx)) {
    if (ctx.features.resyncDivergence) await recordDivergence(ctx, o.destination, o.primary);
    await log.run('resync', () => ctx.act.follow(service, o.destination, o.primary), (f) => ({ detail: `${o.destination} follows ${o.primary}: ${f.detail}` }));
    const verdict = await lagGate(ctx, { step: 'lag gate', tag: 'resync', source: o.primary, target: o.destination, maxLag: policy.failover_execution.consistency_check.max_lag, timeout: rec.resync_timeout });
    if (!verdict.ok) refuse(`${o.destination} did not catch up with ${o.primary}: ${verdict.verdict}`, 'ResyncFailed');
  }
  if (!o.failback) {
    status.phase = 'done';
    await log.note('done', 'ok', `${o.destination} is a healthy standby; traffic stays on ${o.primary}`);
    return { outcome: 'standby-restored', after: o.before };
  }

  const targetWeight = fullWeight(service.destinations.find((d) => d.id === o.destination)!.weight);
  const moved = await moveTraffic(ctx, status, {
    source: o.primary, target: o.destination, sourceUp: true, before: o.before, targetWeight,
    steps: rec.gradual_recovery && policy.failover_execution.gradual_failover.enabled ? policy.failover_execution.gradual_failover.steps : [100],
    ...(o.plan ? { plan: o.plan } : {}),
    rolledBack: (after) => o.rolledBack(after),
  });
  status.phase = 'done';
  await log.note('done', 'ok', `traffic back on ${o.destination}`);
  return { outcome: 'failed-back', after: moved.after };
}

/**
 * A resync discards whatever the destination holds that the primary lacks (writes a returned old
 * primary acknowledged after its replica lost it): record how much, and keep a copy when
 * `divergent_copy_dir` is set, so an operator can recover them by hand.
 */
async function recordDivergence(ctx: RunbookContext, destination: string, primary: string): Promise<void> {
  const { service, policy, log } = ctx;
  const div = await log.run('divergence', () => ctx.act.inspectDivergence(service, destination, primary), (d) =>
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
  await log.run('keep divergent copy', () => ctx.waiting.keepDivergentCopy(service, destination, dir), (c) =>
    c ? { detail: `${c.bytes} bytes of ${destination} saved to ${c.file}`, numbers: { bytes: c.bytes, file: c.file } } : { detail: 'the replication driver cannot save a copy' },
  );
}
