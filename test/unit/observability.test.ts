import { describe, expect, it } from 'vitest';
import { admit, emptyBrakes, suspend } from '../../src/domain/brakes';
import { decide, type DecisionContext } from '../../src/domain/detection-policy';
import { applyAlert, initialHealth, observe, type DestinationHealth, type HealthThresholds } from '../../src/domain/health';
import {
  AvailabilityTracker,
  failingSince,
  falseDownWindowMs,
  holdReason,
  judgeFalseDown,
  labelValue,
  rolledBackToHealthySource,
  runbookKind,
  runbookOutcome,
} from '../../src/domain/observability';

const t: HealthThresholds = { failureThreshold: 3, recoveryThreshold: 2, healthThreshold: 0.5, maxLatencyMs: 500, windowSize: 6 };
const probe = (up: boolean, atMs: number) => ({ up, latencyMs: 5, atMs, ...(up ? {} : { error: 'refused' }) });

describe('first failed probe in the health fold', () => {
  it('is the first failure since the destination was last up, kept while it is down, cleared once it is up again', () => {
    let h: DestinationHealth = initialHealth();
    const fold = (up: boolean, at: number) => (h = observe('a', h, probe(up, at), t).health);
    fold(true, 1000);
    expect(h.firstFailedAtMs).toBeUndefined();
    fold(false, 2000);
    fold(false, 3000);
    expect(h.firstFailedAtMs).toBe(2000);
    const down = observe('a', h, probe(false, 4000), t);
    expect(down.event?.kind).toBe('down');
    h = down.health;
    expect(h.firstFailedAtMs).toBe(2000);
    fold(true, 5000); // down still: one good probe does not end the failure
    expect(h.firstFailedAtMs).toBe(2000);
    const back = observe('a', h, probe(true, 6000), t);
    expect(back.event?.kind).toBe('recovered');
    expect(back.health.firstFailedAtMs).toBeUndefined();
  });

  it('forgets a single failed probe of a destination that stays up', () => {
    let h = observe('a', initialHealth(), probe(false, 1000), t).health;
    expect(h.firstFailedAtMs).toBe(1000);
    h = observe('a', h, probe(true, 2000), t).health;
    expect(h.firstFailedAtMs).toBeUndefined();
  });

  it("takes a firing alert's start, and keeps it while the alert fires although probes pass", () => {
    let h = applyAlert('a', initialHealth(), { fingerprint: 'f', status: 'firing', summary: 's', startsAt: '2026-01-01T00:00:00Z' }).health;
    expect(h.firstFailedAtMs).toBe(Date.parse('2026-01-01T00:00:00Z'));
    h = observe('a', h, probe(true, Date.parse('2026-01-01T00:00:05Z')), t).health;
    expect(h.firstFailedAtMs).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(failingSince({ a: h, b: initialHealth() })).toEqual({ firstFailedAt: { a: Date.parse('2026-01-01T00:00:00Z') } });
    expect(failingSince({ b: initialHealth() })).toEqual({});
  });
});

describe('labels', () => {
  it('counts a planned failover as a switchover and bounds free text', () => {
    expect(runbookKind('failover', { planned: true })).toBe('switchover');
    expect(runbookKind('failover', { planned: false })).toBe('failover');
    expect(runbookKind('recovery', { planned: true })).toBe('recovery');
    expect(labelValue('orders-bus', 'x')).toBe('orders-bus');
    expect(labelValue('a b"}', 'x')).toBe('invalid');
    expect(labelValue(undefined, 'manual')).toBe('manual');
  });

  it('names the outcome from the result, or from the failure type', () => {
    expect(runbookOutcome({ ok: true, result: { outcome: 'switched' } })).toBe('switched');
    expect(runbookOutcome({ ok: true, result: { restored: {} } })).toBe('completed');
    expect(runbookOutcome({ ok: false, type: 'RolledBack' })).toBe('rolled-back');
    expect(runbookOutcome({ ok: false, type: 'Aborted' })).toBe('aborted');
    expect(runbookOutcome({ ok: false, type: 'NoTarget' })).toBe('failed');
    expect(runbookOutcome({ ok: false, cancelled: true })).toBe('cancelled');
  });
});

describe('held automatic runbooks', () => {
  const cap = { maxAutomaticRunbooks: 1, windowMs: 60_000 };
  it('tells a suspension from the fleet cap by what the brakes answer', () => {
    const suspended = admit(
      suspend(emptyBrakes(), { service: 's' }, { by: 'dana', reason: 'r', at: 'now' }),
      { service: 's', kind: 'failover', nowMs: 0 },
      cap,
    ).admission;
    expect(suspended.admitted).toBe(false);
    expect(holdReason({ action: 'failover', reason: 'x' }, !suspended.admitted ? suspended.reason : undefined)).toBe('suspension');
    const first = admit(emptyBrakes(), { service: 's', kind: 'failover', nowMs: 0 }, cap);
    const capped = admit(first.state, { service: 't', kind: 'failover', nowMs: 1 }, cap).admission;
    expect(capped.admitted).toBe(false);
    expect(holdReason({ action: 'failover', reason: 'x' }, !capped.admitted ? capped.reason : undefined)).toBe('cap');
  });

  it('tells a cooldown hold from what detection decides', () => {
    const ctx: DecisionContext = {
      primary: 'a',
      nowMs: 10_000,
      cooldownMs: 60_000,
      lastFailoverFrom: { a: 5_000, b: 5_000 },
      automaticFailover: true,
      automaticRecovery: true,
      failedOver: ['b'],
    };
    const again = decide({ destination: 'a', kind: 'down', reason: 'r' }, ctx);
    expect(again.action).toBe('none');
    expect(holdReason(again, undefined)).toBe('cooldown');
    const failback = decide({ destination: 'b', kind: 'recovered', reason: 'r' }, ctx);
    expect(holdReason(failback, undefined)).toBe('cooldown');
    const resyncFirst = decide(
      { destination: 'b', kind: 'recovered', reason: 'r' },
      { ...ctx, sync: { b: { state: 'diverged', reason: 'x' } }, resyncReturning: true },
    );
    expect(resyncFirst.action).toBe('recovery');
    expect(holdReason(resyncFirst, undefined)).toBe('cooldown');
    expect(holdReason(decide({ destination: 'a', kind: 'down', reason: 'r' }, { ...ctx, lastFailoverFrom: {} }), undefined)).toBeUndefined();
  });
});

describe('decisions judged false', () => {
  const window = falseDownWindowMs({ failureThreshold: 3, recoveryThreshold: 3, intervalMs: 1000, probeTimeoutMs: 2000 });
  const down = (at: number, action = 'none') => ({ at: new Date(at).toISOString(), event: { destination: 'b', kind: 'down' }, decision: { action } });

  it('a down decision is false when the destination is recovered within the window', () => {
    expect(window).toBe(8000);
    const recovered = { destination: 'b', kind: 'recovered' as const, reason: 'r' };
    expect(judgeFalseDown(recovered, [down(0, 'failover')], 8000, window)?.decision.action).toBe('failover');
    expect(judgeFalseDown(recovered, [down(0)], 8001, window)).toBeUndefined();
    // Only the latest decision about that destination is judged.
    expect(
      judgeFalseDown(
        recovered,
        [down(0), { at: new Date(1).toISOString(), event: { destination: 'b', kind: 'recovered' }, decision: { action: 'none' } }],
        2,
        window,
      ),
    ).toBeUndefined();
    expect(judgeFalseDown({ ...recovered, kind: 'down' }, [down(0)], 1, window)).toBeUndefined();
  });

  it('a failover rolled back onto a source that is up was false; onto a down one it was not', () => {
    const up = initialHealth();
    const downHealth = { ...initialHealth(), status: 'down' as const };
    expect(rolledBackToHealthySource({ kind: 'failover', ok: false, type: 'RolledBack' }, up)).toBe(true);
    expect(rolledBackToHealthySource({ kind: 'failover', ok: false, type: 'RolledBack' }, downHealth)).toBe(false);
    expect(rolledBackToHealthySource({ kind: 'failover', ok: true }, up)).toBe(false);
    expect(rolledBackToHealthySource({ kind: 'recovery', ok: false, type: 'RolledBack' }, up)).toBe(false);
  });
});

describe('availability', () => {
  const up = initialHealth();
  const failing = (since: number): DestinationHealth => ({ ...initialHealth(), status: 'down', firstFailedAtMs: since });

  it('counts an outage from the first failed probe of the carrying destination until a healthy one carries traffic', () => {
    const a = new AvailabilityTracker();
    expect(a.update(1_000, ['a'], { a: up, b: up })).toEqual({ available: true, unavailableSeconds: 0, outageEnded: false });
    // Detection sees the primary down at 5 s; it began failing at 2 s.
    expect(a.update(5_000, ['a'], { a: failing(2_000), b: up })).toEqual({ available: false, unavailableSeconds: 3, outageEnded: false });
    expect(a.update(6_500, ['a'], { a: failing(2_000), b: up })).toEqual({ available: false, unavailableSeconds: 1.5, outageEnded: false });
    expect(a.update(7_000, ['b'], { a: failing(2_000), b: up })).toEqual({ available: true, unavailableSeconds: 0.5, outageEnded: true });
    expect(a.update(9_000, ['b'], { a: failing(2_000), b: up })).toEqual({ available: true, unavailableSeconds: 0, outageEnded: false });
  });

  it('starts an outage when it is seen if nothing says when it began', () => {
    const a = new AvailabilityTracker();
    expect(a.update(5_000, [], { a: up })).toEqual({ available: false, unavailableSeconds: 0, outageEnded: false });
    expect(a.update(8_000, ['a'], { a: up })).toEqual({ available: true, unavailableSeconds: 3, outageEnded: true });
  });
});
