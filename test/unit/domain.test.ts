import { describe, expect, it } from 'vitest';
import { parseServersState } from '../../src/drivers/routers/haproxy-runtime';
import { parseConfigText } from '../../src/config-file';
import { durationToMs } from '../../src/domain/duration';
import { rankCandidates } from '../../src/domain/plan';
import { allTo, checkNotAllDown, primaryOf, resolvePrimary, sameWeights } from '../../src/domain/routing';
import { failoverInputSchema } from '../../src/domain/runbook-input';
import { describeIssues } from '../../src/domain/validation';

describe('routing', () => {
  it('finds the primary as the heaviest destination, ties by id', () => {
    expect(primaryOf({ generation: 1, weights: { a: 0, b: 100 } })).toBe('b');
    expect(primaryOf({ generation: 1, weights: { b: 50, a: 50 } })).toBe('a');
    expect(primaryOf({ generation: 1, weights: { a: 0, b: 0 } })).toBeUndefined();
  });

  it('with tied weights, takes the primary the roles name, and refuses when they do not name one or disagree with the router', () => {
    const tie = { generation: 0, weights: { 'redis-a': 1, 'redis-b': 1 } };
    const router = 'HAProxy backend orders';
    const up = { up: true };
    // Declared by weight: nothing to ask.
    expect(resolvePrimary({ routing: { generation: 0, weights: { 'redis-a': 100, 'redis-b': 0 } }, roles: {}, router })).toBeUndefined();
    // No role reported (drivers without roles): the router's order stands.
    expect(resolvePrimary({ routing: tie, roles: { 'redis-a': up, 'redis-b': up }, router })).toBeUndefined();
    const b = resolvePrimary({
      routing: tie,
      roles: { 'redis-a': { ...up, role: 'replica' }, 'redis-b': { ...up, role: 'primary' } },
      routerUp: { 'redis-a': false, 'redis-b': true },
      router,
    });
    expect(b).toEqual({ primary: 'redis-b' });
    expect(primaryOf({ ...tie, primary: 'redis-b' })).toBe('redis-b');
    expect(resolvePrimary({ routing: tie, roles: { 'redis-a': { ...up, role: 'primary' }, 'redis-b': { ...up, role: 'primary' } }, router })).toEqual({
      problem:
        'HAProxy backend orders gives redis-a, redis-b the same weight 1, and redis-a and redis-b both report role primary: two writers (redis-a reports primary, redis-b reports primary); make one a replica (REPLICAOF) or take one out of the router',
    });
    expect(resolvePrimary({ routing: tie, roles: { 'redis-a': { up: false }, 'redis-b': { ...up, role: 'replica' } }, router })).toEqual({
      problem:
        'HAProxy backend orders gives redis-a, redis-b the same weight 1, and none of them reports role primary (redis-a does not answer, redis-b reports replica); refusing to guess which one takes the writes',
    });
    expect(
      resolvePrimary({
        routing: tie,
        roles: { 'redis-a': { ...up, role: 'replica' }, 'redis-b': { ...up, role: 'primary' } },
        routerUp: { 'redis-a': true, 'redis-b': false },
        router,
      }),
    ).toEqual({
      problem:
        'HAProxy backend orders sends the traffic to redis-a (its health check sees redis-b down), but redis-b reports role primary (redis-a reports replica, redis-b reports primary); router and roles disagree, refusing to act until they agree',
    });
  });

  it('moves all weight to one target', () => {
    expect(allTo({ generation: 3, weights: { a: 100, b: 0, c: 0 } }, 'c', 80)).toEqual({ a: 0, b: 0, c: 80 });
  });

  it('refuses routing that sends everything to down destinations', () => {
    expect(checkNotAllDown({ a: 100, b: 0 }, new Set(['a']))).toMatch(/all traffic to down destinations: a/);
    expect(checkNotAllDown({ a: 0, b: 0 }, new Set())).toMatch(/nowhere/);
    expect(checkNotAllDown({ a: 50, b: 50 }, new Set(['a']))).toBeUndefined();
  });

  it('compares weights treating missing as zero', () => {
    expect(sameWeights({ a: 1, b: 0 }, { a: 1 })).toBe(true);
    expect(sameWeights({ a: 1 }, { a: 2 })).toBe(false);
  });
});

describe('candidate ranking', () => {
  const service = parseConfigText(`
services:
  - name: s
    router: { type: haproxy, socket: /x, backend: b }
    destinations:
      - { id: src, zone: z1, region: r1, probe: { type: tcp, host: h, port: 1 } }
      - { id: far, zone: z9, region: r2, probe: { type: tcp, host: h, port: 1 } }
      - { id: near-zone, zone: z2, region: r1, tier: 1, probe: { type: tcp, host: h, port: 1 } }
      - { id: same-zone, zone: z1, region: r1, tier: 1, probe: { type: tcp, host: h, port: 1 } }
      - { id: other-zone-t0, zone: z3, region: r1, probe: { type: tcp, host: h, port: 1 } }
`).services[0]!;

  it('orders same zone, then other zone (by tier), then other region', () => {
    expect(rankCandidates(service, 'src').map((c) => c.id)).toEqual(['same-zone', 'other-zone-t0', 'near-zone', 'far']);
  });

  it('leaves out down destinations and handles "all down"', () => {
    expect(rankCandidates(service, 'src', new Set(['same-zone', 'other-zone-t0'])).map((c) => c.id)).toEqual(['near-zone', 'far']);
    expect(rankCandidates(service, 'src', new Set(['same-zone', 'other-zone-t0', 'near-zone', 'far']))).toEqual([]);
    expect(rankCandidates(service, 'nope')).toEqual([]);
  });
});

describe('durations', () => {
  it('parses Temporal-style strings and rejects others', () => {
    expect(durationToMs('500ms')).toBe(500);
    expect(durationToMs('30s')).toBe(30_000);
    expect(durationToMs('5m')).toBe(300_000);
    expect(durationToMs('soon')).toBeUndefined();
    expect(durationToMs('')).toBeUndefined();
  });
});

describe('failover input', () => {
  it('defaults to an unplanned, manual failover', () => {
    expect(failoverInputSchema.parse({ service: 'orders-bus' })).toEqual({ service: 'orders-bus', planned: false, trigger: 'manual' });
  });

  it('names each bad field', () => {
    const r = failoverInputSchema.safeParse({ service: '', planned: 'yes', trigger: 'cron' }, { reportInput: true });
    expect(r.success).toBe(false);
    expect(describeIssues(r.error!.issues, 'input')).toEqual([
      'input.service: expected a non-empty name (got "")',
      'input.planned: Invalid input: expected boolean, received string (got "yes")',
      'input.trigger: Invalid option: expected one of "manual"|"alert"|"detection"|"schedule" (got "cron")',
    ]);
  });
});

describe('HAProxy servers state', () => {
  const text = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 be 1 a 127.0.0.1 0 1 100 100 0 1 0 0 0 0 0 0 - 17100 - 0 0 - - 0
3 be 2 b 127.0.0.1 2 4 100 0 0 1 0 0 8 0 0 0 - 17101 - 0 0 - - 0
3 be 3 c 127.0.0.1 2 8 50 50 0 1 0 0 8 0 0 0 - 17102 - 0 0 - - 0
`;
  it('reads maint, drain and weights; a config-disabled server set ready is not in maint', () => {
    expect(parseServersState(text).map(({ name, maint, drain, userWeight, opState }) => ({ name, maint, drain, userWeight, opState }))).toEqual([
      { name: 'a', maint: true, drain: false, userWeight: 100, opState: 0 },
      { name: 'b', maint: false, drain: false, userWeight: 100, opState: 2 },
      { name: 'c', maint: false, drain: true, userWeight: 50, opState: 2 },
    ]);
  });

  it('rejects an answer that is not a servers state table', () => {
    expect(() => parseServersState("Can't find backend.\n")).toThrow(/unexpected answer/);
  });
});
