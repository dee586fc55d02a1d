import { describe, expect, it } from 'vitest';
import { initialHealth, observe, type DestinationHealth, type HealthThresholds } from '../../src/domain/health';
import { combine, quorumStatus } from '../../src/domain/quorum';

const h = (status: DestinationHealth['status']): DestinationHealth => ({ ...initialHealth(), status });

describe('a quorum of observers', () => {
  it('calls a destination down only when quorum observers see it down, and up again only when quorum see it up', () => {
    expect(quorumStatus('up', { o1: 'down', o2: 'up' }, 2)).toBe('up');
    expect(quorumStatus('up', { o1: 'down', o2: 'down' }, 2)).toBe('down');
    expect(quorumStatus('down', { o1: 'up', o2: 'down' }, 2)).toBe('down');
    expect(quorumStatus('down', { o1: 'up', o2: 'up' }, 2)).toBe('up');
    expect(quorumStatus('up', { o1: 'degraded', o2: 'down' }, 2)).toBe('degraded');
  });
  it('ignores isolated observers; with none able to vote the status stays', () => {
    expect(quorumStatus('up', { o1: 'isolated', o2: 'down' }, 2)).toBe('up');
    expect(quorumStatus('up', { o1: 'isolated', o2: 'isolated' }, 1)).toBe('up');
    expect(quorumStatus('down', { o1: 'isolated', o2: 'up' }, 2)).toBe('up');
  });
  it('with one observer and quorum 1 the observer decides, with its own reason', () => {
    const down = { destination: 'a', kind: 'down' as const, reason: '3 consecutive failed probes' };
    const c = combine({
      destinations: ['a'],
      observers: { any: { health: { a: h('down') }, isolated: false } },
      reporter: 'any',
      reporterEvents: [down],
      quorum: 1,
      previous: { a: h('up') },
    });
    expect(c.events).toEqual([down]);
    expect(c.unconfirmed).toEqual([]);
  });
  it("an observer's change the quorum does not confirm is recorded, not acted on", () => {
    const c = combine({
      destinations: ['a'],
      observers: { o1: { health: { a: h('down') }, isolated: false }, o2: { health: { a: h('up') }, isolated: false } },
      reporter: 'o1',
      reporterEvents: [{ destination: 'a', kind: 'down', reason: 'refused' }],
      quorum: 2,
      previous: { a: h('up') },
    });
    expect(c.events).toEqual([]);
    expect(c.unconfirmed[0]!.reason).toBe('a down for o1 (refused), not confirmed: o1: down, o2: up; quorum 2');
    expect(c.votes.a).toEqual({ o1: 'down', o2: 'up' });
  });
  it('a second writer is reported without a vote, next to the return the quorum confirms', () => {
    const back = { destination: 'a', kind: 'recovered' as const, reason: '3 consecutive good probes' };
    const writer = { destination: 'a', kind: 'writable' as const, reason: 'a answers as a writable primary, but b is the primary' };
    const c = combine({
      destinations: ['a'],
      observers: { o1: { health: { a: h('up') }, isolated: false }, o2: { health: { a: h('up') }, isolated: false } },
      reporter: 'o1',
      reporterEvents: [back, writer],
      quorum: 2,
      previous: { a: h('down') },
    });
    expect(c.events).toEqual([{ ...back, reason: '3 consecutive good probes (o1: up, o2: up; quorum 2)' }, writer]);
    const quiet = combine({
      destinations: ['a'],
      observers: { any: { health: { a: h('up') }, isolated: false } },
      reporter: 'any',
      reporterEvents: [writer],
      quorum: 1,
      previous: { a: h('up') },
    });
    expect(quiet.events).toEqual([writer]);
    expect(quiet.unconfirmed).toEqual([]);
  });
  it('a firing alert holds a destination down whatever the observers say', () => {
    const c = combine({
      destinations: ['a'],
      observers: { any: { health: { a: h('up') }, isolated: false } },
      reporter: 'any',
      reporterEvents: [],
      quorum: 1,
      previous: { a: { ...h('down'), alerts: ['f1'] } },
    });
    expect(c.health.a!.status).toBe('down');
    expect(c.events).toEqual([]);
  });
});

describe('certain evidence', () => {
  const t: HealthThresholds = { failureThreshold: 3, recoveryThreshold: 3, healthThreshold: 0.5, maxLatencyMs: 100, windowSize: 6 };
  it('calls a destination down at its first failed probe, naming the evidence', () => {
    const r = observe('a', initialHealth(), { up: false, latencyMs: 1, failure: 'refused', error: 'ECONNREFUSED' }, t, 'port refused; b reports its link down');
    expect(r.event).toEqual({
      destination: 'a',
      kind: 'down',
      reason: 'certainly gone after 1 failed probe(s) (threshold 3 not needed): port refused; b reports its link down',
    });
  });
  it('without it the threshold applies', () => {
    expect(observe('a', initialHealth(), { up: false, latencyMs: 1, failure: 'refused' }, t).event).toBeUndefined();
  });
});
