import { describe, expect, it } from 'vitest';
import { configureBackups, configureInputSchema, defineInputSchema, defineService } from '../../src/domain/config-edit';
import { diffConfig, formatDiff } from '../../src/domain/config-diff';
import { policyOf, validateConfig } from '../../src/domain/config';
import { InvalidInputError } from '../../src/domain/validation';

const redis = (port: number) => ({ type: 'redis', host: '127.0.0.1', port });
const live = {
  failover_manager: { failover_detection: { detection_interval: '500ms' } },
  services: [
    {
      name: 'orders-bus',
      router: { type: 'haproxy', address: '127.0.0.1:16389', backend: 'orders' },
      destinations: [
        { id: 'redis-a', zone: 'z1', region: 'r1', probe: redis(16391), replication: { type: 'redis' } },
        { id: 'redis-b', zone: 'z2', region: 'r1', probe: redis(16392), replication: { type: 'redis' } },
      ],
    },
  ],
  maintenance: [{ service: 'orders-bus', destination: 'redis-b', window: '30m', cron: '0 3 * * SUN' }],
};

const problems = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as InvalidInputError).problems;
  }
  throw new Error('expected the change to be refused');
};
const define = (input: Record<string, unknown>) => defineService(live, defineInputSchema.parse({ reason: 'test', ...input }), 7);
const configure = (input: Record<string, unknown>) =>
  configureBackups(live, configureInputSchema.parse({ service: 'orders-bus', reason: 'test', ...input }), 7);

describe('failover.define: a service strategy as a config change', () => {
  it('creates a service with its own strategy and policy; other services and the fleet policy are untouched', () => {
    const r = define({
      service: 'events-bus',
      strategy: 'active-active',
      router: { type: 'file', path: '/tmp/events.json' },
      destinations: [
        { id: 'hook-a', zone: 'z1', region: 'r1', tier: 0, probe: { type: 'http', url: 'http://127.0.0.1:1/health' } },
        { id: 'hook-b', zone: 'z9', region: 'r2', tier: 1, weight: 50, probe: { type: 'http', url: 'http://127.0.0.1:2/health' } },
      ],
      detection: { failure_threshold: 2 },
      execution: { gradual_failover: { steps: [50, 100], soak: '1s' } },
    });
    expect(r.created).toBe(true);
    const config = validateConfig(r.doc);
    expect(policyOf(config, 'events-bus').failover_execution.failover_strategy).toBe('active-active');
    expect(policyOf(config, 'events-bus').failover_detection).toMatchObject({ failure_threshold: 2, detection_interval: '500ms' });
    expect(policyOf(config, 'orders-bus').failover_execution.failover_strategy).toBe('active-passive');
    expect(formatDiff(diffConfig(live, r.doc))).toEqual([expect.stringMatching(/^\+ services\[events-bus\]: /)]);
  });

  it('replaces the strategy of an existing service, keeping its destinations and router as written', () => {
    const r = define({ service: 'orders-bus', strategy: 'active-passive', detection: { failure_threshold: 5 } });
    expect(r.created).toBe(false);
    expect(formatDiff(diffConfig(live, r.doc))).toEqual([
      expect.stringMatching(/^\+ services\[orders-bus\]\.policy: \{"failover_detection":\{"failure_threshold":5\}/),
    ]);
    expect(policyOf(validateConfig(r.doc), 'orders-bus').failover_detection.failure_threshold).toBe(5);
  });

  it('names the field of every problem, and changes nothing', () => {
    expect(problems(() => define({ service: 'new-bus', strategy: 'active-passive' }))).toEqual([
      'router: required to create service "new-bus", which config version 7 does not have',
      'destinations: required to create service "new-bus", which config version 7 does not have',
    ]);
    expect(problems(() => define({ service: 'orders-bus', strategy: 'active-passive', detection: { failure_threshold: 0 } }))).toEqual([
      'detection.failure_threshold: Too small: expected number to be >=1 (got 0)',
    ]);
    expect(
      problems(() =>
        define({
          service: 'orders-bus',
          strategy: 'active-passive',
          destinations: [{ id: 'redis-a', zone: 'z1', region: 'r1', probe: { type: 'redis', host: '127.0.0.1', port: 'x' } }],
        }),
      ),
    ).toEqual(['destinations[0].probe.port: Invalid input: expected number, received string (got "x")']);
    // The maintenance window names a destination the new list no longer has: named by its own path.
    expect(
      problems(() =>
        define({ service: 'orders-bus', strategy: 'active-passive', destinations: [{ id: 'redis-a', zone: 'z1', region: 'r1', probe: redis(16391) }] }),
      ),
    ).toEqual([expect.stringMatching(/^config maintenance\[0\]\.destination: expected a destination of service orders-bus \(redis-a\)/)]);
    expect(() => defineInputSchema.parse({ service: 'x', strategy: 'active-passive', reason: 'r', execution: { failover_strategy: 'active-active' } })).toThrow(
      /Unrecognized key: \\"failover_strategy\\"/,
    );
    expect(live.services).toHaveLength(1);
  });
});

describe('failover.configure: backups of a service as a config change', () => {
  it('adds, changes and removes backups; the diff shows only those', () => {
    const r = configure({
      add: [{ id: 'redis-c', zone: 'z3', region: 'r2', tier: 1, probe: redis(16393), replication: { type: 'redis' } }],
      change: [{ id: 'redis-b', weight: 50, tier: 1 }],
    });
    expect(formatDiff(diffConfig(live, r.doc)).sort()).toEqual(
      [
        expect.stringMatching(/^\+ services\[orders-bus\]\.destinations\[redis-c\]: /),
        '+ services[orders-bus].destinations[redis-b].tier: 1',
        '+ services[orders-bus].destinations[redis-b].weight: 50',
      ].sort(),
    );
    const removed = configureBackups(r.doc, configureInputSchema.parse({ service: 'orders-bus', reason: 'r', remove: ['redis-c'] }));
    expect(formatDiff(diffConfig(r.doc, removed.doc))).toEqual(['- services[orders-bus].destinations[redis-c]']);
  });

  it('names the field of every problem', () => {
    expect(problems(() => configure({}))).toEqual(['add: expected at least one of "add", "remove" or "change"']);
    expect(problems(() => configure({ remove: ['redis-z'], change: [{ id: 'redis-a' }] }))).toEqual([
      'remove[0]: no destination "redis-z" in service orders-bus (has redis-a, redis-b)',
      'change[0]: expected a field to change besides "id" (probe, replication, weight, zone, region, tier, router_server)',
    ]);
    expect(problems(() => configure({ add: [{ id: 'redis-b', zone: 'z', region: 'r', probe: redis(1) }] }))).toEqual([
      'add[0].id: destination "redis-b" is already in service orders-bus; change it with "change"',
    ]);
    expect(problems(() => configure({ change: [{ id: 'redis-b', weight: 50, probe: { type: 'tcp', host: '127.0.0.1' } }] }))).toEqual([
      expect.stringMatching(/^change\[0\]\.probe\.port: Invalid input: expected number, received undefined/),
    ]);
    expect(problems(() => configure({ remove: ['redis-b'] }))).toEqual([
      expect.stringMatching(/^config maintenance\[0\]\.destination: expected a destination of service orders-bus \(redis-a\)/),
    ]);
    expect(problems(() => configureBackups(live, configureInputSchema.parse({ service: 'nope', reason: 'r', remove: ['x'] }), 3))).toEqual([
      'service: no service "nope" in config version 3 (has orders-bus); create it with failover.define',
    ]);
  });
});
