import { describe, expect, it } from 'vitest';
import { decide, recoveryStrategyContext, unfencedWriters, type DecisionContext } from '../../src/domain/detection-policy';
import { applyAlert, initialHealth, observe, type DestinationHealth, type HealthThresholds } from '../../src/domain/health';
import { runbookEndedSchema } from '../../src/domain/detection-state';

const t: HealthThresholds = { failureThreshold: 3, recoveryThreshold: 2, healthThreshold: 0.6, maxLatencyMs: 100, windowSize: 6 };
const ok = { up: true, latencyMs: 5 };
const slow = { up: true, latencyMs: 500 };
const fail = { up: false, latencyMs: 1000, failure: 'refused', error: 'ECONNREFUSED' };

function run(seq: { up: boolean; latencyMs: number }[], start: DestinationHealth = initialHealth()) {
  let h = start;
  const events: string[] = [];
  for (const o of seq) {
    const r = observe('x', h, o, t);
    h = r.health;
    if (r.event) events.push(r.event.kind);
  }
  return { h, events };
}

describe('health from probes', () => {
  it('declares down only after failure_threshold consecutive failures', () => {
    expect(run([fail, fail]).events).toEqual([]);
    expect(run([fail, fail, ok, fail, fail]).events).toEqual([]);
    const r = run([fail, fail, fail, fail]);
    expect(r.events).toEqual(['down']);
    expect(r.h.status).toBe('down');
    expect(r.h.lastError).toBe('refused: ECONNREFUSED');
  });

  it('degrades on an error-rate spike (intermittent failures) once the window is full', () => {
    expect(run([fail, fail, ok, fail, fail, ok]).events).toEqual(['degraded']);
  });

  it('recovers after recovery_threshold good probes once the score is back', () => {
    const down = run([fail, fail, fail]).h;
    const r = run([ok, ok, ok, ok, ok], down);
    expect(r.events).toEqual(['recovered']);
    expect(r.h.status).toBe('up');
  });

  it('degrades on latency (health score below threshold) while answering', () => {
    expect(run([slow, slow, slow, slow, slow]).events).toEqual([]); // window not full yet
    const r = run([slow, slow, slow, slow, slow, slow]);
    expect(r.events).toEqual(['degraded']);
    expect(r.h.score).toBe(0.5);
  });

  it('a firing alert marks down at once; resolution lifts the hold but probes must confirm', () => {
    const a = applyAlert('x', initialHealth(), { fingerprint: 'f1', status: 'firing', summary: 'error rate' });
    expect(a.event?.kind).toBe('down');
    const again = applyAlert('x', a.health, { fingerprint: 'f1', status: 'firing', summary: 'error rate' });
    expect(again.event).toBeUndefined();
    // While the alert fires, good probes do not recover it.
    expect(run([ok, ok, ok], a.health).events).toEqual([]);
    const resolved = applyAlert('x', a.health, { fingerprint: 'f1', status: 'resolved', summary: '' });
    expect(resolved.event).toBeUndefined();
    expect(run([ok, ok, ok], resolved.health).events).toEqual(['recovered']);
  });
});

describe('detection decisions', () => {
  const ctx: DecisionContext = {
    primary: 'a',
    nowMs: 1_000_000,
    cooldownMs: 60_000,
    lastFailoverFrom: {},
    automaticFailover: true,
    automaticRecovery: false,
    failedOver: [],
  };
  const down = (d: string) => ({ destination: d, kind: 'down' as const, reason: 'probes' });

  it('fails over when the primary goes down', () => {
    expect(decide(down('a'), ctx)).toMatchObject({ action: 'failover', from: 'a' });
  });

  it('does nothing for a standby going down, or when automatic failover is off', () => {
    expect(decide(down('b'), ctx).action).toBe('none');
    expect(decide(down('a'), { ...ctx, automaticFailover: false }).reason).toMatch(/automatic_failover is off/);
  });

  it('cooldown suppresses the same destination but never a different one', () => {
    const after = { ...ctx, lastFailoverFrom: { a: ctx.nowMs - 10_000 } };
    expect(decide(down('a'), after)).toMatchObject({ action: 'none' });
    expect(decide(down('a'), after).reason).toMatch(/cooldown 60s holds/);
    expect(decide(down('b'), { ...after, primary: 'b' })).toMatchObject({ action: 'failover', from: 'b' });
    expect(decide(down('a'), { ...ctx, lastFailoverFrom: { a: ctx.nowMs - 61_000 } }).action).toBe('failover');
  });

  it('fails back only when automatic recovery is on and the cooldown has passed', () => {
    const rec = { destination: 'a', kind: 'recovered' as const, reason: 'probes' };
    const base = { ...ctx, primary: 'b', failedOver: ['a'], lastFailoverFrom: { a: ctx.nowMs - 10_000 } };
    expect(decide(rec, base).reason).toMatch(/automatic_recovery is off/);
    expect(decide(rec, { ...base, automaticRecovery: true })).toMatchObject({ action: 'none', retryAtMs: ctx.nowMs - 10_000 + 60_000 });
    expect(decide(rec, { ...base, automaticRecovery: true }).reason).toMatch(/within the cooldown/);
    expect(decide(rec, { ...base, automaticRecovery: true, lastFailoverFrom: { a: 0 } })).toMatchObject({ action: 'recovery', destination: 'a' });
    expect(decide({ ...rec, destination: 'c' }, { ...base, automaticRecovery: true }).action).toBe('none');
  });

  it('recovery_strategy intelligent fails back only to a more preferred tier; otherwise the node stays a standby', () => {
    const rec = { destination: 'a', kind: 'recovered' as const, reason: 'probes' };
    const base = { ...ctx, primary: 'b', failedOver: ['a'], automaticRecovery: true, lastFailoverFrom: { a: 0 } };
    const sameTier = {
      ...base,
      ...recoveryStrategyContext('intelligent', {
        destinations: [
          { id: 'a', tier: 0 },
          { id: 'b', tier: 0 },
        ],
      }),
    };
    expect(decide(rec, sameTier)).toMatchObject({ action: 'none' });
    expect(decide(rec, sameTier).reason).toBe(
      'a recovered; recovery_strategy intelligent: a is in no better tier than b, so traffic stays on b (start recovery <service> --destination a to fail back by hand)',
    );
    // A returned node that diverged is still resynced at once, as a standby.
    const diverged = { ...sameTier, resyncReturning: true, sync: { a: { state: 'diverged' as const, reason: 'replicates from nobody' } } };
    expect(decide({ ...rec, kind: 'diverged' as const }, diverged)).toMatchObject({ action: 'recovery', destination: 'a', failback: false });
    const betterTier = {
      ...base,
      ...recoveryStrategyContext('intelligent', {
        destinations: [
          { id: 'a', tier: 0 },
          { id: 'b', tier: 1 },
        ],
      }),
    };
    expect(decide(rec, betterTier)).toMatchObject({ action: 'recovery', destination: 'a', failback: true });
    // automatic (and no strategy) fail back whatever the tiers.
    expect(recoveryStrategyContext('automatic', { destinations: [] })).toEqual({});
    expect(decide(rec, base)).toMatchObject({ action: 'recovery', failback: true });
  });

  it('a second writer is fenced before anything else is done for it, whatever event comes first', () => {
    // The old primary came back writable after a failover to b: its fence was deferred (a runbook owned the switch).
    const health = { a: { ...initialHealth(), writable: true }, b: initialHealth() };
    const stray = { ...ctx, primary: 'b', failedOver: ['a'], automaticRecovery: true, lastFailoverFrom: { a: 0 }, resyncReturning: true };
    const diverged = { sync: { a: { state: 'diverged' as const, reason: 'a standalone primary at offset 0' } } };
    const rec = { destination: 'a', kind: 'recovered' as const, reason: '3 good probes' };
    expect(unfencedWriters(health, 'b', [])).toEqual(['a']);
    // Without the rule the resync would start while a still takes writes.
    expect(decide(rec, { ...stray, ...diverged })).toMatchObject({ action: 'recovery', destination: 'a' });
    const first = decide(rec, { ...stray, ...diverged, unfencedWriters: unfencedWriters(health, 'b', []) });
    expect(first).toMatchObject({ action: 'fence', destination: 'a' });
    expect(first.reason).toMatch(/a recovered, but it answers as a writable primary and b is the primary: its writes are paused before anything else/);
    expect(decide({ ...rec, kind: 'diverged' }, { ...stray, unfencedWriters: ['a'] }).action).toBe('fence');
    // Once fenced, its events are decided on their own: the resync demotes it.
    expect(unfencedWriters(health, 'b', ['a'])).toEqual([]);
    expect(decide(rec, { ...stray, ...diverged, unfencedWriters: [] })).toMatchObject({ action: 'recovery', destination: 'a' });
    // The primary itself is never a stray, and a drift is about the router, not the node.
    expect(unfencedWriters({ ...health, b: { ...initialHealth(), writable: true } }, 'b', [])).toEqual(['a']);
    expect(decide({ destination: 'a', kind: 'drift', reason: 'reload' }, { ...stray, unfencedWriters: ['a'] }).action).toBe('reassert');
  });
});

describe('runbookEnded signal payload', () => {
  it('takes a result or a failure, and names what is wrong otherwise', () => {
    const ok = runbookEndedSchema.safeParse({ workflowId: 'runbook-s', runId: 'r1', outcome: { ok: true, result: { outcome: 'switched', target: 'b' } } });
    expect(ok.success).toBe(true);
    const failed = runbookEndedSchema.safeParse({
      workflowId: 'runbook-s',
      runId: 'r1',
      outcome: { ok: false, type: 'RolledBack', message: 'validation failed', details: { target: 'b' } },
    });
    expect(failed.success).toBe(true);
    const bad = runbookEndedSchema.safeParse({ workflowId: 'runbook-s', outcome: { ok: false } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.'))).toEqual(expect.arrayContaining(['runId', 'outcome.message']));
  });
});
