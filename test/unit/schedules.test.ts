import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config-file';
import { cronProblem } from '../../src/domain/config';
import { maintenanceInputSchema } from '../../src/domain/runbook-input';
import { InvalidInputError } from '../../src/domain/validation';
import { checkAgainstConfig, maintenanceScheduleId, maintenanceScheduleOptions, parseMaintenanceSchedule } from '../../src/triggers/schedules';
import { configProblems } from '../support/config-problems';

const base = { service: 'orders-bus', destination: 'redis-a', window: '30m', taskQueue: 'failover' };

function problems(input: Record<string, unknown>): string[] {
  try {
    parseMaintenanceSchedule(input);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as InvalidInputError).problems;
  }
  throw new Error('expected the schedule input to be rejected');
}

const services = `
services:
  - name: orders-bus
    router: { type: haproxy, socket: /run/haproxy/admin.sock, backend: orders }
    destinations:
      - { id: redis-a, zone: a, region: r, probe: { type: redis, host: 127.0.0.1, port: 6379 }, replication: { type: redis } }
      - { id: redis-b, zone: b, region: r, probe: { type: redis, host: 127.0.0.1, port: 6380 }, replication: { type: redis } }
`;

describe('cron expressions', () => {
  it.each([
    '0 3 * * SUN',
    '30 2 1 * *',
    '*/15 8-18 * * MON-FRI',
    '0 0 1 JAN,JUL *',
    '0 4 * * 0,7',
    '0 3 * * SUN 2030',
    '*/5 * * * * * *',
    '@daily',
    '@every 6h',
    '@every 1h/15m',
  ])('accepts %s', (cron) => {
    expect(cronProblem(cron)).toBeUndefined();
  });

  it.each([
    ['61 * * * *', /minute "61"/],
    ['0 24 * * *', /hour "24"/],
    ['0 3 0 * *', /day of month "0"/],
    ['0 3 * 13 *', /month "13"/],
    ['0 3 * * FUNDAY', /day of week "FUNDAY"/],
    ['0 3 * * 5-2', /day of week "5-2"/],
    ['*/0 * * * *', /minute "\*\/0"/],
    ['0 3 * *', /expected 5 fields .* got 4/],
    ['@sometimes', /expected one of @yearly/],
    ['CRON_TZ=UTC 0 3 * * *', /time zone in its own field/],
  ])('rejects %s', (cron, why) => {
    expect(cronProblem(cron)).toMatch(why);
  });
});

describe('maintenance schedule input', () => {
  it('derives one schedule id per service and destination', () => {
    expect(maintenanceScheduleId('orders-bus', 'redis-a')).toBe('maintenance:orders-bus:redis-a');
    expect(maintenanceScheduleId('a-b', 'c')).not.toBe(maintenanceScheduleId('a', 'b-c'));
  });

  it('fills defaults', () => {
    const r = parseMaintenanceSchedule({ ...base, cron: '0 3 * * SUN' });
    expect(r).toMatchObject({ timeZone: 'UTC', paused: false });
  });

  it('names each bad field, its value and what was expected', () => {
    expect(problems({ ...base, cron: '0 25 * * *' })).toEqual([
      expect.stringMatching(/^cron: invalid cron expression: hour "25": expected \*, a value 0-23.* \(got "0 25 \* \* \*"\)$/),
    ]);
    expect(problems({ ...base, every: '5s', timeZone: 'Europe/Nowhere' })).toEqual([
      expect.stringMatching(/^timeZone: expected an IANA time zone .*\(got "Europe\/Nowhere"\)$/),
    ]);
    expect(problems({ ...base, every: '5s', window: '0s' })).toEqual([expect.stringMatching(/^window: expected at least 1s/)]);
    expect(problems({ ...base, every: '5s', window: 'later' })).toEqual([expect.stringMatching(/^window: expected a duration/)]);
    expect(problems({ ...base, every: '500ms' })).toEqual([expect.stringMatching(/^every: expected at least 1s/)]);
    expect(problems({ ...base, service: 'Orders Bus', every: '1h' })).toEqual([expect.stringMatching(/^service: expected a lowercase name/)]);
    expect(problems({ ...base, every: '1h', taskQueue: '' })).toEqual([expect.stringMatching(/^taskQueue:/)]);
    expect(problems({ ...base, every: '1h', window: '1h', extra: 1 })).toEqual(['extra: unknown key']);
  });

  it('takes exactly one of cron, calendar or every', () => {
    expect(problems(base)).toEqual([expect.stringMatching(/^cron: expected exactly one of "cron", "calendar" or "every"/)]);
    expect(problems({ ...base, cron: '@daily', every: '1d' })).toEqual([expect.stringMatching(/^cron: expected exactly one of/)]);
  });

  it('validates calendar specs field by field', () => {
    expect(parseMaintenanceSchedule({ ...base, calendar: { hour: 3, minute: 30, dayOfWeek: ['SATURDAY', 'SUNDAY'] } }).calendar).toEqual({
      hour: 3,
      minute: 30,
      dayOfWeek: ['SATURDAY', 'SUNDAY'],
    });
    expect(parseMaintenanceSchedule({ ...base, calendar: { second: '*', hour: { start: 1, end: 5, step: 2 } } }).calendar).toBeDefined();
    expect(problems({ ...base, calendar: { hour: 24 } })[0]).toMatch(/^calendar\.hour:/);
    expect(problems({ ...base, calendar: { dayOfWeek: 'FUNDAY' } })[0]).toMatch(/^calendar\.dayOfWeek:/);
    expect(problems({ ...base, calendar: { hours: 3 } })[0]).toMatch(/hours/);
  });

  it('builds a schedule that never overlaps and starts the maintenance runbook under the service lock id', () => {
    const o = maintenanceScheduleOptions(
      parseMaintenanceSchedule({ ...base, cron: '0 3 * * SUN', timeZone: 'Europe/Berlin', note: 'CHG-1', reason: 'patching' }),
    );
    expect(o.scheduleId).toBe('maintenance:orders-bus:redis-a');
    expect(o.policies).toMatchObject({ overlap: 'SKIP', pauseOnFailure: true });
    expect(o.spec).toEqual({ cronExpressions: ['0 3 * * SUN'], timezone: 'Europe/Berlin' });
    expect(o.state).toEqual({ paused: false, note: 'CHG-1' });
    expect(o.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'maintenance',
      taskQueue: 'failover',
      workflowId: 'runbook-orders-bus',
      args: [
        {
          service: 'orders-bus',
          destination: 'redis-a',
          window: '30m',
          trigger: 'schedule',
          actor: 'schedule maintenance:orders-bus:redis-a',
          reason: 'patching',
        },
      ],
    });
    expect(o.action.staticSummary).toMatch(/maintenance of redis-a \(orders-bus\) for 30m/);
    // The args are valid runbook input.
    expect(maintenanceInputSchema.safeParse(o.action.args![0]).success).toBe(true);
    const every = maintenanceScheduleOptions(parseMaintenanceSchedule({ ...base, every: '6h' }));
    expect(every.spec).toEqual({ intervals: [{ every: '6h' }], timezone: 'UTC' });
  });

  it('checks the service and destination against a config', () => {
    const config = parseConfigText(services);
    expect(() => checkAgainstConfig({ service: 'orders-bus', destination: 'redis-b' }, config)).not.toThrow();
    expect(() => checkAgainstConfig({ service: 'billing', destination: 'redis-b' }, config)).toThrow(
      /service: expected a configured service \(orders-bus\) \(got "billing"\)/,
    );
    expect(() => checkAgainstConfig({ service: 'orders-bus', destination: 'redis-c' }, config)).toThrow(
      /destination: expected a destination of service orders-bus \(redis-a, redis-b\)/,
    );
  });
});

describe('maintenance section of the config', () => {
  it('accepts windows with cron or every, defaulting the time zone to UTC', () => {
    const c = parseConfigText(`${services}
maintenance:
  - { service: orders-bus, destination: redis-a, window: 30m, cron: "0 3 * * SUN", time_zone: Europe/Berlin }
  - { service: orders-bus, destination: redis-b, window: 1h, every: 7d, paused: true }
`);
    expect(c.maintenance).toEqual([
      { service: 'orders-bus', destination: 'redis-a', window: '30m', cron: '0 3 * * SUN', time_zone: 'Europe/Berlin' },
      { service: 'orders-bus', destination: 'redis-b', window: '1h', every: '7d', time_zone: 'UTC', paused: true },
    ]);
  });

  it('is optional', () => {
    expect(parseConfigText(services).maintenance).toBeUndefined();
  });

  it('names unknown services and destinations, duplicates and bad fields', () => {
    expect(
      configProblems(`${services}
maintenance:
  - { service: billing, destination: redis-a, window: 30m, cron: "@daily" }
  - { service: orders-bus, destination: redis-z, window: 30m, cron: "@daily" }
  - { service: orders-bus, destination: redis-a, window: 30m, cron: "@daily" }
  - { service: orders-bus, destination: redis-a, window: 30m, cron: "@weekly" }
`),
    ).toEqual([
      'maintenance[0].service: expected a configured service (orders-bus) (got "billing")',
      'maintenance[1].destination: expected a destination of service orders-bus (redis-a, redis-b) (got "redis-z")',
      'maintenance[3].destination: duplicate maintenance of orders-bus/redis-a, already scheduled by maintenance[2] (got "redis-a")',
    ]);
    const bad = configProblems(`${services}
maintenance:
  - { service: orders-bus, destination: redis-a, window: 0s, cron: "0 3 * * XYZ", time_zone: Nowhere/City }
`);
    expect(bad).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^maintenance\[0\]\.window: expected at least 1s/),
        expect.stringMatching(/^maintenance\[0\]\.cron: invalid cron expression: day of week "XYZ"/),
        expect.stringMatching(/^maintenance\[0\]\.time_zone: expected an IANA time zone/),
      ]),
    );
    expect(
      configProblems(`${services}
maintenance:
  - { service: orders-bus, destination: redis-a, window: 30m }
`),
    ).toEqual([expect.stringMatching(/^maintenance\[0\]\.cron: expected exactly one of "cron" or "every"/)]);
  });
});
