import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config-file';
import { replicatorFor } from '../../src/drivers';
import { RabbitmqReplicator } from '../../src/drivers/replication/rabbitmq';
import { rabbitmqCredentials, vhostOf } from '../../src/drivers/probes/rabbitmq';
import { configProblems } from '../support/config-problems';

const probe =
  '{ type: rabbitmq, url: "amqp://10.0.0.5:5672/", queue: orders, management_url: "http://10.0.0.5:15672", user_env: RMQ_USER, password_env: RMQ_PASS }';
const replication =
  '{ type: rabbitmq, url: "amqp://10.0.0.5:5672/", management_url: "http://10.0.0.5:15672", queues: [orders, audit], user_env: RMQ_USER, password_env: RMQ_PASS }';

function config(probeText = probe, replicationText = replication): string {
  return `
services:
  - name: orders-bus
    router: { type: haproxy, socket: /run/haproxy/admin.sock, backend: orders }
    destinations:
      - id: rabbit-a
        zone: a
        region: r
        probe: ${probeText}
        replication: ${replicationText}
`;
}

const problems = configProblems;

const at = 'services[0].destinations[0]';

describe('rabbitmq driver config', () => {
  it('accepts a probe and a replication block', () => {
    const dest = parseConfigText(config()).services[0]!.destinations[0]!;
    expect(dest.probe).toEqual({
      type: 'rabbitmq',
      url: 'amqp://10.0.0.5:5672/',
      queue: 'orders',
      management_url: 'http://10.0.0.5:15672',
      user_env: 'RMQ_USER',
      password_env: 'RMQ_PASS',
    });
    expect(dest.replication).toMatchObject({ type: 'rabbitmq', queues: ['orders', 'audit'] });
  });

  it('accepts a bare probe: url only, guest credentials', () => {
    const dest = parseConfigText(config('{ type: rabbitmq, url: "amqps://broker.internal/orders" }')).services[0]!.destinations[0]!;
    expect(dest.probe).toEqual({ type: 'rabbitmq', url: 'amqps://broker.internal/orders' });
  });

  it('picks the rabbitmq replicator for the service', () => {
    const service = parseConfigText(config()).services[0]!;
    expect(replicatorFor(service, 1000)).toBeInstanceOf(RabbitmqReplicator);
  });

  it('rejects credentials in the url, naming the field', () => {
    const p = problems(config('{ type: rabbitmq, url: "amqp://guest:guest@10.0.0.5:5672/" }'));
    // The credentials are not repeated in the message.
    expect(p).toEqual([expect.stringMatching(new RegExp(`^${escape(at)}\\.probe\\.url: expected no credentials in the URL.*\\(got "amqp://\\*\\*\\*@10`))]);
  });

  it('rejects a url that is not amqp', () => {
    const p = problems(config('{ type: rabbitmq, url: "http://10.0.0.5:5672/" }'));
    expect(p).toEqual([`${at}.probe.url: expected an amqp:// or amqps:// URL (got "http://10.0.0.5:5672/")`]);
  });

  it('rejects a url with a query or a nested path', () => {
    expect(problems(config('{ type: rabbitmq, url: "amqp://h:5672/a/b" }'))[0]).toMatch(
      /^services\[0\]\.destinations\[0\]\.probe\.url: expected amqp:\/\/host\[:port\]\[\/vhost\]/,
    );
    expect(problems(config('{ type: rabbitmq, url: "amqp://h:5672/?heartbeat=5" }'))[0]).toMatch(/probe\.url: expected amqp:\/\/host/);
  });

  it('rejects a bad management url and an unknown key', () => {
    const p = problems(config('{ type: rabbitmq, url: "amqp://h/", management_url: "ftp://h:15672", queues: [x] }'));
    expect(p).toContain(`${at}.probe.management_url: expected an http:// or https:// URL (got "ftp://h:15672")`);
    expect(p.some((l) => l.startsWith(`${at}.probe.queues: unknown key; did you mean "queue"?`))).toBe(true);
  });

  it('needs user_env and password_env together, as environment variable names', () => {
    expect(problems(config('{ type: rabbitmq, url: "amqp://h/", user_env: RMQ_USER }'))).toEqual([
      expect.stringMatching(/^services\[0\]\.destinations\[0\]\.probe\.user_env: expected both "user_env" and "password_env", or neither/),
    ]);
    expect(problems(config('{ type: rabbitmq, url: "amqp://h/", user_env: "RMQ USER", password_env: P }'))).toEqual([
      `${at}.probe.user_env: expected the name of an environment variable (capitals, digits, "_", e.g. REDIS_PASSWORD), never the secret itself (got "RMQ USER")`,
    ]);
  });

  it('requires management_url and at least one queue for replication', () => {
    const p = problems(config(probe, '{ type: rabbitmq, url: "amqp://h/", queues: [] }'));
    expect(p).toContain(`${at}.replication.management_url: expected an http:// or https:// URL`);
    expect(p.some((l) => l.startsWith(`${at}.replication.queues: Too small: expected array to have >=1 items`))).toBe(true);
  });

  it('reads the vhost from the url and credentials from the environment', () => {
    expect(vhostOf('amqp://h:5672')).toBe('/');
    expect(vhostOf('amqp://h:5672/')).toBe('/');
    expect(vhostOf('amqp://h:5672/%2F')).toBe('/');
    expect(vhostOf('amqp://h:5672/orders')).toBe('orders');
    expect(rabbitmqCredentials({ url: 'amqp://h/' })).toEqual({ username: 'guest', password: 'guest' });
    process.env.FM_TEST_RMQ_USER = 'u';
    process.env.FM_TEST_RMQ_PASS = 'p';
    expect(rabbitmqCredentials({ url: 'amqp://h/', user_env: 'FM_TEST_RMQ_USER', password_env: 'FM_TEST_RMQ_PASS' })).toEqual({ username: 'u', password: 'p' });
    expect(() => rabbitmqCredentials({ url: 'amqp://h/', user_env: 'FM_TEST_RMQ_UNSET', password_env: 'FM_TEST_RMQ_PASS' })).toThrow(
      'environment variable FM_TEST_RMQ_UNSET is not set',
    );
  });
});

function escape(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
