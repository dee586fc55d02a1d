import { describe, expect, it } from 'vitest';
import { decisionLines, fmtNumbers, progressLines, type LiveStatus } from '../../src/cli/progress';

const base: LiveStatus = {
  runbook: 'maintenance',
  service: 'orders-bus',
  phase: 'planning',
  controls: { paused: false },
  startedAt: '2026-01-01T00:00:00Z',
  steps: [],
};
const step = (name: string, outcome: 'running' | 'ok' | 'failed', detail?: string, numbers?: Record<string, number>) => ({
  name,
  outcome,
  startedAt: '2026-01-01T00:00:00Z',
  ...(detail ? { detail } : {}),
  ...(numbers ? { numbers } : {}),
});

describe('live progress of a runbook', () => {
  it('prints a step when it starts and when it ends, with the numbers that decided it, and nothing twice', () => {
    const a: LiveStatus = { ...base, phase: 'switching', steps: [step('fence source', 'running')] };
    expect(progressLines(undefined, a, 'orders-bus')).toEqual(['  ▶ fence source …', '  · phase switching']);
    const b: LiveStatus = {
      ...a,
      steps: [step('fence source', 'ok', 'writes paused', { holdMs: 60_000 }), step('catch up', 'ok', 'lag 0', { lag: 0, maxLag: 10 })],
    };
    expect(progressLines(a, b, 'orders-bus')).toEqual(['  ✔ fence source — writes paused [holdMs=1m00s]', '  ✔ catch up — lag 0 [lag=0 maxLag=10]']);
    expect(progressLines(b, b, 'orders-bus')).toEqual([]);
  });

  it('says when it waits for approval and how to answer, when it is paused and resumed, and when a maintenance window ends', () => {
    const waiting: LiveStatus = {
      ...base,
      phase: 'awaiting-approval',
      controls: {
        paused: false,
        awaitingApproval: { reason: 'policy requires approval', since: '2026-01-01T00:00:05.123Z', timeout: '10m', defaultAction: 'abort' },
      },
    };
    expect(progressLines(base, waiting, 'orders-bus')).toEqual([
      '  ⏸ waiting for approval since 2026-01-01T00:00:05Z: policy requires approval (after 10m: abort)',
      '     approve: failover approve orders-bus --by <your name>',
      '     abort:   failover abort orders-bus --by <your name> --reason <why>',
    ]);
    const paused: LiveStatus = { ...base, controls: { paused: true, pausedBy: 'dana' } };
    expect(progressLines(base, paused, 'orders-bus')).toEqual(['  ⏸ paused by dana: holds before its next step; resume: failover resume orders-bus']);
    expect(progressLines(paused, base, 'orders-bus')).toEqual(['  ▶ resumed']);
    const holding: LiveStatus = { ...base, phase: 'holding', maintenance: { destination: 'redis-a', window: '30m', windowEndsAt: '2026-01-01T00:30:00Z' } };
    expect(progressLines({ ...base, phase: 'holding' }, holding, 'orders-bus', new Date('2026-01-01T00:10:00Z'))).toEqual([
      '  ⏳ maintenance window: redis-a drained for 30m, ends at 2026-01-01T00:30:00Z (in 20m00s)',
    ]);
  });

  it('prints only detection decisions it has not shown', () => {
    const d = (at: string, kind: 'down' | 'recovered', action: string, extra = {}) => ({
      at,
      event: { destination: 'redis-a', kind, reason: 'r' },
      decision: { action, reason: `${kind} reason` } as never,
      ...extra,
    });
    const old = [d('2026-01-01T00:00:00Z', 'down', 'failover', { runbook: 'runbook-orders-bus' })];
    const now = [...old, d('2026-01-01T00:01:00Z', 'recovered', 'recovery', { held: 'automatic runbooks of orders-bus suspended by dana' })];
    expect(decisionLines(old, now)).toEqual([
      '  detection 2026-01-01T00:01:00Z: redis-a recovered → recovery — held: automatic runbooks of orders-bus suspended by dana: recovered reason',
    ]);
    expect(decisionLines([], old)).toEqual(['  detection 2026-01-01T00:00:00Z: redis-a down → failover (runbook-orders-bus): down reason']);
    expect(fmtNumbers(undefined)).toBe('');
  });
});
