import type { RecoveryResult } from '../api/results';
import { primaryOf, type Routing } from '../domain/routing';
import { recoveryInputSchema, type RecoveryInput } from '../domain/runbook-input';
import { restoreDestination } from './restore-destination';
import { isSetback, refuse, Runbook } from './runbook-kit';

export type { RecoveryResult };

/**
 * Failback of a destination that came back: health for N consecutive intervals → resync it from
 * the current primary → lag gate → move traffic back (gradually where destinations are
 * independent) with validation → roll back if it degrades.
 */
export async function recovery(input: RecoveryInput): Promise<RecoveryResult> {
  return Runbook.run('recovery', recoveryInputSchema, input, async (req, rb) => {
    const { service, log } = rb.ctx;
    rb.requireDestination(req.destination, 'input.destination');
    // Observe: where traffic is now; it resyncs from there.
    const before = await rb.readRouting();
    const primary = primaryOf(before);
    if (!primary) refuse(`service ${service.name} has no destination carrying traffic to resync from`, 'NoSource');
    if (primary === req.destination)
      refuse(`invalid recovery input:\n  - input.destination: ${JSON.stringify(req.destination)} already carries the traffic of ${service.name}`);
    rb.status.source = primary;
    rb.status.target = req.destination;
    const finish = (outcome: RecoveryResult['outcome'], after: Routing): RecoveryResult => ({
      service: service.name,
      destination: req.destination,
      outcome,
      routingBefore: before,
      routingAfter: after,
      steps: log.steps,
    });
    // Restore: health, resync, lag gate, and (failback) traffic back.
    try {
      const restored = await restoreDestination(rb, { destination: req.destination, primary, before, failback: req.failback });
      if (isSetback(restored)) return rb.end(restored, (s) => finish('rolled-back', s.after));
      await rb.done(restored.said);
      return finish(restored.outcome, restored.after);
    } catch (err) {
      return rb.fail(err, { left: 'no traffic moved' });
    }
  });
}
