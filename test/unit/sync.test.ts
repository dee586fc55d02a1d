import { describe, expect, it } from 'vitest';
import { divergentTail } from '../../src/drivers/replication/redis';
import { serviceSchema } from '../../src/domain/config';
import { decide, type DecisionContext } from '../../src/domain/detection-policy';
import { detectionInputSchema } from '../../src/domain/runbook-input';
import { initialHealth, observeSync, type DestinationHealth } from '../../src/domain/health';
import { policySchema } from '../../src/domain/config';
import { planFailover } from '../../src/domain/simulate';
import { checkFailoverTarget, syncStateOf, type ReplicationObservation } from '../../src/domain/sync';

const svc = serviceSchema.parse({
  name: 's',
  router: { type: 'haproxy', socket: '/x', backend: 'b' },
  destinations: ['a', 'b', 'c'].map((id, i) => ({
    id,
    zone: `z${i}`,
    region: 'r',
    probe: { type: 'redis', host: '10.0.0.1', port: 6380 + i },
    replication: { type: 'redis' },
  })),
});
const primary = (offset: number): ReplicationObservation => ({ role: 'primary', offset });
const replica = (port: number, offset: number, linkUp = true, linkDownForMs?: number): ReplicationObservation => ({
  role: 'replica',
  upstream: `10.0.0.1:${port}`,
  offset,
  linkUp,
  ...(linkDownForMs !== undefined ? { linkDownForMs } : {}),
});

describe('is a backup a copy of the primary', () => {
  it('in sync: replicates from the primary, link up, lag within bound', () => {
    expect(syncStateOf(svc, 'b', 'a', { a: primary(1000), b: replica(6380, 990) }, 100)).toMatchObject({ state: 'in-sync', lag: 10 });
  });
  it('catching up: link down, or too far behind', () => {
    expect(syncStateOf(svc, 'b', 'a', { a: primary(1000), b: replica(6380, 990, false, 4000) }, 100)).toMatchObject({
      state: 'catching-up',
      reason: 'link to a down for 4s',
    });
    expect(syncStateOf(svc, 'b', 'a', { a: primary(100_000), b: replica(6380, 10) }, 100).state).toBe('catching-up');
  });
  it('diverged: a standalone primary (an old primary back, a node restarted empty), or a replica of someone else', () => {
    expect(syncStateOf(svc, 'b', 'a', { a: primary(1000), b: primary(0) }, 100)).toMatchObject({
      state: 'diverged',
      reason: 'a standalone primary at offset 0, not replicating from a',
    });
    expect(syncStateOf(svc, 'b', 'a', { a: primary(1000), b: replica(6382, 1000) }, 100).reason).toMatch(/replicates from 10.0.0.1:6382, not from a/);
  });
  it('"localhost" and 127.0.0.1 name the same upstream', () => {
    const local = serviceSchema.parse({ ...svc, destinations: svc.destinations.map((d) => ({ ...d, probe: { ...d.probe, host: '127.0.0.1' } })) });
    expect(syncStateOf(local, 'b', 'a', { b: { role: 'replica', upstream: 'localhost:6380', offset: 1, linkUp: true } }, 100).state).toBe('in-sync');
  });
  it('unknown without an observation; the primary is not classified', () => {
    expect(syncStateOf(svc, 'b', 'a', {}, 100).state).toBe('unknown');
    expect(syncStateOf(svc, 'a', 'a', { a: primary(1) }, 100).state).toBe('unknown');
  });
});

describe('settling a sync verdict', () => {
  const t = { recoveryThreshold: 3 };
  const diverged = { state: 'diverged' as const, reason: 'standalone' };
  it('settles after recovery_threshold probes; diverging while answering is an event, coming back is not', () => {
    let h: DestinationHealth = { ...initialHealth(), sync: 'in-sync' };
    const events: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = observeSync('b', h, diverged, t, true);
      h = r.health;
      if (r.event) events.push(r.event.kind);
      expect(r.settled).toBe(i === 2);
    }
    expect(h.sync).toBe('diverged');
    expect(events).toEqual(['diverged']);
    // A destination coming back (down before this probe) settles without an event: its `recovered` event decides.
    let back: DestinationHealth = { ...initialHealth(), status: 'down' };
    for (let i = 0; i < 3; i++) back = { ...observeSync('b', back, diverged, t, false).health, status: 'down' };
    expect(back.sync).toBe('diverged');
  });
  it('a blip shorter than the threshold changes nothing', () => {
    const h0 = { ...initialHealth(), sync: 'in-sync' as const };
    const h1 = observeSync('b', h0, diverged, t, true).health;
    const h2 = observeSync('b', h1, { state: 'in-sync', reason: 'ok' }, t, true).health;
    expect(h2.sync).toBe('in-sync');
    expect(h2.syncPending).toBeUndefined();
  });
});

describe('may a target be promoted', () => {
  const base = { service: svc, source: 'a', target: 'b', maxLag: 1000, maxLinkDownMs: 30_000, nowMs: 1_000_000 };
  it('never a standalone primary or a replica of another node', () => {
    const c = checkFailoverTarget({ ...base, sourceUp: false, targetObs: primary(0), sourceLastSeen: { offset: 9_236_377, atMs: 999_000 } });
    expect(c).toMatchObject({ safe: false, estimatedLoss: 9_236_377 });
    expect(c.reasons[0]).toMatch(/standalone primary/);
    expect(checkFailoverTarget({ ...base, sourceUp: true, targetObs: replica(6382, 5) }).safe).toBe(false);
  });
  it('source down and observed: within max_lag of its last offset', () => {
    expect(
      checkFailoverTarget({ ...base, sourceUp: false, targetObs: replica(6380, 9_000, false), sourceLastSeen: { offset: 9_500, atMs: 999_000 } }),
    ).toMatchObject({ safe: true, estimatedLoss: 500 });
    expect(
      checkFailoverTarget({ ...base, sourceUp: false, targetObs: replica(6380, 0, false), sourceLastSeen: { offset: 9_500, atMs: 999_000 } }),
    ).toMatchObject({ safe: false, estimatedLoss: 9_500 });
  });
  it('source down and never observed: a link down longer than max_link_down is unsafe', () => {
    expect(checkFailoverTarget({ ...base, sourceUp: false, targetObs: replica(6380, 10, false, 5_000) })).toMatchObject({ safe: true, estimatedLoss: null });
    expect(checkFailoverTarget({ ...base, sourceUp: false, targetObs: replica(6380, 10, false, 600_000) }).safe).toBe(false);
  });
});

describe('the data a resync discards (Redis replication ids)', () => {
  it("an old primary on the new primary's replid2 holds exactly what followed the promotion", () => {
    expect(divergentTail({ replId: 'old', offset: 5_000 }, { replId: 'new', replId2: 'old', secondOffset: 4_001, offset: 7_000 }, 10)).toBe(1_000);
    expect(divergentTail({ replId: 'new', offset: 6_000 }, { replId: 'new', replId2: 'old', secondOffset: 4_001, offset: 7_000 }, 10)).toBe(0);
    expect(divergentTail({ replId: 'x', offset: 0 }, { replId: 'new', replId2: 'old', secondOffset: 4_001, offset: 7_000 }, 0)).toBe(0);
    expect(divergentTail({ replId: 'x', offset: 50 }, { replId: 'new', replId2: 'old', secondOffset: 4_001, offset: 7_000 }, 3)).toBeNull();
  });
});

describe('detection decisions for a returning backup', () => {
  const ctx: DecisionContext = {
    primary: 'b',
    nowMs: 1_000_000,
    cooldownMs: 60_000,
    lastFailoverFrom: { a: 990_000 },
    automaticFailover: true,
    automaticRecovery: false,
    failedOver: ['a'],
    resyncReturning: true,
    sync: { a: { state: 'diverged', reason: 'a standalone primary at offset 0, not replicating from b' } },
  };
  const rec = { destination: 'a', kind: 'recovered' as const, reason: '3 good probes' };
  it('resyncs a diverged backup whatever automatic_recovery says, with no cooldown', () => {
    expect(decide(rec, ctx)).toMatchObject({ action: 'recovery', destination: 'a', failback: false });
    expect(decide({ ...rec, kind: 'diverged' }, ctx)).toMatchObject({ action: 'recovery', failback: false });
  });
  it('with automatic_recovery, inside the cooldown: resync now, fail back when it ends', () => {
    expect(decide(rec, { ...ctx, automaticRecovery: true })).toMatchObject({ action: 'recovery', failback: false, retryAtMs: 1_050_000 });
    expect(decide(rec, { ...ctx, automaticRecovery: true, lastFailoverFrom: {} })).toMatchObject({ action: 'recovery', failback: true });
  });
  it('backs off after a failed attempt, and says so when resync_returning is off', () => {
    expect(decide(rec, { ...ctx, repairNotBefore: { a: 1_004_000 } })).toMatchObject({ action: 'none', retryAtMs: 1_004_000 });
    expect(decide(rec, { ...ctx, resyncReturning: false }).reason).toMatch(/resync_returning is off/);
    expect(decide(rec, { ...ctx, sync: { a: { state: 'in-sync', reason: '' } } }).reason).toMatch(/automatic_recovery is off/);
  });
});

describe('the dry run sees what the runbook would refuse', () => {
  const policy = policySchema.parse({});
  it('an unsynced backup is passed over for one that is in sync, and blocked when it is the only one', () => {
    const routing = { generation: 1, weights: { a: 100, b: 0, c: 0 } };
    const probes = { a: { up: true, replication: primary(1000) }, b: { up: true, replication: primary(0) }, c: { up: true, replication: replica(6380, 1000) } };
    expect(planFailover({ service: svc, policy, routing, probes })).toMatchObject({ verdict: 'ok', target: 'c' });
    const blocked = planFailover({ service: svc, policy, routing, probes, to: 'b' });
    expect(blocked.verdict).toBe('blocked');
    expect(blocked.reasons.join(' ')).toMatch(/--accept-data-loss/);
  });
});

describe('carried detection state is input too', () => {
  it('a malformed carried state is refused naming the field (no workflow-task failure loop)', () => {
    const bad = detectionInputSchema.safeParse({ service: 's', carried: {} });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join('.'))).toContain('carried.health');
  });
});
