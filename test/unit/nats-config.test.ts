import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config-file';
import { configProblems } from '../support/config-problems';

const valid = `
services:
  - name: orders-stream
    router: { type: nats-kv, url: "nats://127.0.0.1:4222", bucket: routing, key: orders-stream }
    destinations:
      - id: nats-a
        zone: a
        region: r
        probe: { type: nats, url: "nats://127.0.0.1:4222", stream: ORDERS }
        replication: { type: nats-jetstream, url: "nats://127.0.0.1:4222", stream: ORDERS, subjects: ["orders.>"] }
      - id: nats-b
        zone: b
        region: r
        probe: { type: nats, url: ["nats://10.0.0.2:4222", "tls://10.0.0.3:4222", "10.0.0.4:4222"] }
        replication: { type: nats-jetstream, url: "10.0.0.2:4222", stream: ORDERS, subjects: ["orders.*.created", "audit.>"], follow: manual, user: fm, password_env: NATS_PASSWORD }
`;

const problems = configProblems;

describe('nats driver config', () => {
  it('accepts the nats probe, nats-jetstream replication and nats-kv router, filling defaults', () => {
    const svc = parseConfigText(valid).services[0]!;
    expect(svc.router).toEqual({ type: 'nats-kv', url: 'nats://127.0.0.1:4222', bucket: 'routing', key: 'orders-stream' });
    const [a, b] = svc.destinations;
    expect(a!.probe).toEqual({ type: 'nats', url: 'nats://127.0.0.1:4222', stream: 'ORDERS', stall_after: '3s' });
    expect(a!.replication).toEqual({
      type: 'nats-jetstream',
      url: 'nats://127.0.0.1:4222',
      stream: 'ORDERS',
      subjects: ['orders.>'],
      stall_after: '3s',
      follow: 'recreate',
    });
    expect(b!.probe).toMatchObject({ url: ['nats://10.0.0.2:4222', 'tls://10.0.0.3:4222', '10.0.0.4:4222'] });
    expect(b!.replication).toMatchObject({ follow: 'manual', user: 'fm', password_env: 'NATS_PASSWORD' });
  });

  it('names a bad server URL', () => {
    expect(problems(valid.replace('probe: { type: nats, url: "nats://127.0.0.1:4222"', 'probe: { type: nats, url: "http://127.0.0.1:4222"'))).toEqual([
      'services[0].destinations[0].probe.url: expected "nats://host:port", "tls://host:port" or "host:port" (got "http://127.0.0.1:4222")',
    ]);
    expect(problems(valid.replace('"tls://10.0.0.3:4222"', '"tls://10.0.0.3:42 22"'))).toEqual([
      'services[0].destinations[1].probe.url[1]: expected "nats://host:port", "tls://host:port" or "host:port" (got "tls://10.0.0.3:42 22")',
    ]);
  });

  it('requires the subjects a standby takes when promoted, and checks each', () => {
    expect(problems(valid.replace(', subjects: ["orders.>"] }', ' }'))).toEqual([
      'services[0].destinations[0].replication.subjects: Invalid input: expected array, received undefined',
    ]);
    expect(problems(valid.replace('subjects: ["orders.>"]', 'subjects: []'))[0]).toMatch(
      /^services\[0\]\.destinations\[0\]\.replication\.subjects: Too small: expected array to have >=1 items/,
    );
    expect(problems(valid.replace('"orders.*.created"', '"orders.>.created"'))).toEqual([
      'services[0].destinations[1].replication.subjects[0]: expected a subject such as "orders.>" (tokens separated by ".", wildcards as whole tokens) (got "orders.>.created")',
    ]);
    expect(problems(valid.replace('"audit.>"', '"audit..x"'))[0]).toMatch(/^services\[0\]\.destinations\[1\]\.replication\.subjects\[1\]: /);
  });

  it('names a bad stream name, stall bound and follow mode', () => {
    expect(
      problems(
        valid.replace(
          'probe: { type: nats, url: "nats://127.0.0.1:4222", stream: ORDERS }',
          'probe: { type: nats, url: "nats://127.0.0.1:4222", stream: ORD.ERS }',
        ),
      ),
    ).toEqual(['services[0].destinations[0].probe.stream: expected a stream name without whitespace, ".", "*", ">", "/" or "\\" (got "ORD.ERS")']);
    expect(problems(valid.replace('stream: ORDERS }', 'stream: ORDERS, stall_after: soon }'))).toEqual([
      'services[0].destinations[0].probe.stall_after: expected a duration with a unit, such as "500ms", "30s" or "5m" (got "soon")',
    ]);
    expect(problems(valid.replace('follow: manual', 'follow: delete'))).toEqual([
      'services[0].destinations[1].replication.follow: Invalid option: expected one of "recreate"|"manual" (got "delete")',
    ]);
  });

  it('names bad router bucket and key', () => {
    expect(problems(valid.replace('bucket: routing', 'bucket: "my routing"'))).toEqual([
      'services[0].router.bucket: expected a bucket name of letters, digits, "_" or "-" (got "my routing")',
    ]);
    expect(problems(valid.replace('key: orders-stream', 'key: ".orders"'))).toEqual([
      'services[0].router.key: expected a key of letters, digits, "-", "/", "_", "=" and "." (not at the ends) (got ".orders")',
    ]);
    expect(problems(valid.replace(', key: orders-stream', ''))).toEqual(['services[0].router.key: Invalid input: expected string, received undefined']);
  });

  it('wants a user with its password variable, or a token variable, not a mix', () => {
    expect(problems(valid.replace(', password_env: NATS_PASSWORD', ''))).toEqual([
      'services[0].destinations[1].replication.user: expected "user" with "password_env", or "token_env", or neither (got "fm")',
    ]);
    expect(problems(valid.replace('password_env: NATS_PASSWORD', 'password_env: NATS_PASSWORD, token_env: NATS_TOKEN'))[0]).toMatch(
      /^services\[0\]\.destinations\[1\]\.replication\.user: expected "user" with "password_env", or "token_env", or neither/,
    );
    expect(problems(valid.replace('password_env: NATS_PASSWORD', 'password_env: "nats password"'))).toEqual([
      'services[0].destinations[1].replication.password_env: expected the name of an environment variable (capitals, digits, "_", e.g. REDIS_PASSWORD), never the secret itself',
    ]);
  });

  it('rejects unknown keys in the nats drivers', () => {
    const p = problems(valid.replace('stream: ORDERS, subjects: ["orders.>"] }', 'stream: ORDERS, subject: ["orders.>"] }'));
    expect(p).toHaveLength(2);
    expect(p[0]).toBe('services[0].destinations[0].replication.subjects: Invalid input: expected array, received undefined');
    expect(p[1]).toMatch(/^services\[0\]\.destinations\[0\]\.replication\.subject: unknown key; did you mean "subjects"\?$/);
  });
});
