import net from 'node:net';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProbe, type ProbeResult } from '../../src/drivers/probes';
import { RabbitmqManagement } from '../../src/drivers/probes/rabbitmq';
import { replicatorFor } from '../../src/drivers';
import type { Replicator } from '../../src/drivers/replication/types';
import { freePort } from '../../dev/devserver/free-port';
import { startRabbitmq, type LocalRabbitmq } from '../../dev/devserver/local-rabbitmq';
import { rabbitmqProbeSchema, validateConfig, type RabbitmqProbeConfig, type ServiceConfig } from '../../src/domain/config';
import { ConfirmingProducer, connectAdmin, freshQueues } from '../support/rabbitmq';
import { until } from '../support/wait';

const USER_ENV = 'FM_IT_RABBITMQ_USER';
const PASS_ENV = 'FM_IT_RABBITMQ_PASSWORD';
const TIMEOUT = 3000;

let broker: LocalRabbitmq;
let conn: ChannelModel;
let producer: ConfirmingProducer;
let api: RabbitmqManagement;

function probeConfig(extra: Record<string, unknown> = {}): RabbitmqProbeConfig {
  return rabbitmqProbeSchema.parse({ type: 'rabbitmq', url: broker.amqpUrl, user_env: USER_ENV, password_env: PASS_ENV, ...extra });
}

/** A service whose source is the local broker; the target is an independent broker that is never read. */
async function serviceWith(queues: string[]): Promise<ServiceConfig> {
  const replication = { type: 'rabbitmq', url: broker.amqpUrl, management_url: broker.managementUrl, queues, user_env: USER_ENV, password_env: PASS_ENV };
  const closed = await freePort();
  return validateConfig({
    services: [
      {
        name: 'orders-bus',
        router: { type: 'haproxy', address: '127.0.0.1:1', backend: 'orders' },
        destinations: [
          { id: 'rabbit-a', zone: 'z1', region: 'r1', probe: probeConfig(), replication },
          {
            id: 'rabbit-b',
            zone: 'z2',
            region: 'r1',
            probe: { type: 'rabbitmq', url: `amqp://127.0.0.1:${closed}/` },
            replication: { ...replication, url: `amqp://127.0.0.1:${closed}/`, management_url: `http://127.0.0.1:${closed}` },
          },
        ],
      },
    ],
  }).services[0]!;
}

async function replicator(queues: string[]): Promise<Replicator> {
  const r = replicatorFor(await serviceWith(queues), TIMEOUT);
  if (!r) throw new Error('no replicator for a rabbitmq service');
  return r;
}

async function fencePolicies(): Promise<string[]> {
  return (await api.policies('/')).map((p) => p.name).filter((n) => n.startsWith('fm-fence:'));
}

/** Probes until `accept` holds (bounded); returns the last result. */
async function probeUntil(cfg: RabbitmqProbeConfig, accept: (r: ProbeResult) => boolean): Promise<ProbeResult> {
  let last = await runProbe(cfg, TIMEOUT);
  for (let i = 0; i < 80 && !accept(last); i++) {
    await new Promise((r) => setTimeout(r, 100));
    last = await runProbe(cfg, TIMEOUT);
  }
  return last;
}

beforeAll(async () => {
  broker = await startRabbitmq();
  process.env[USER_ENV] = broker.user;
  process.env[PASS_ENV] = broker.password;
  conn = await connectAdmin(broker);
  producer = await ConfirmingProducer.open(conn);
  api = new RabbitmqManagement(broker.managementUrl, { username: broker.user, password: broker.password }, TIMEOUT);
});

afterAll(async () => {
  await conn?.close().catch(() => {});
  await broker?.stop();
});

describe('rabbitmq probe', () => {
  it('is up with the connect latency when the broker answers', async () => {
    const r = await runProbe(probeConfig(), TIMEOUT);
    expect(r).toMatchObject({ up: true });
    expect(r.error).toBeUndefined();
    expect(r.latencyMs).toBeGreaterThan(0);
    expect(r.queueDepth).toBeUndefined();
  });

  it('is down (refused) on a port nothing listens on', async () => {
    const port = await freePort();
    const r = await runProbe(rabbitmqProbeSchema.parse({ type: 'rabbitmq', url: `amqp://127.0.0.1:${port}/` }), TIMEOUT);
    expect(r).toMatchObject({ up: false, failure: 'refused' });
  });

  it('is down (timeout) when the port accepts but never speaks AMQP', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const r = await runProbe(rabbitmqProbeSchema.parse({ type: 'rabbitmq', url: `amqp://127.0.0.1:${port}/` }), 300);
      expect(r).toMatchObject({ up: false, failure: 'timeout' });
    } finally {
      silent.close();
    }
  });

  it('is down when the broker refuses the credentials', async () => {
    process.env.FM_IT_RABBITMQ_WRONG = 'not-the-password';
    const r = await runProbe(probeConfig({ password_env: 'FM_IT_RABBITMQ_WRONG' }), TIMEOUT);
    expect(r).toMatchObject({ up: false, failure: 'error' });
    expect(r.error).toMatch(/ACCESS.REFUSED|403/);
  });

  it('reads queue depth and consumers over AMQP', async () => {
    await freshQueues(conn, ['depth-amqp']);
    await producer.publishMany('depth-amqp', 7);
    expect(await runProbe(probeConfig({ queue: 'depth-amqp' }), TIMEOUT)).toMatchObject({ up: true, queueDepth: 7, consumers: 0 });

    // A consumer that holds one delivery unacknowledged: one fewer ready, one consumer.
    const ch = await conn.createChannel();
    await ch.prefetch(1);
    const { consumerTag } = await ch.consume('depth-amqp', () => {});
    const r = await probeUntil(probeConfig({ queue: 'depth-amqp' }), (p) => p.queueDepth === 6);
    expect(r).toMatchObject({ up: true, queueDepth: 6, consumers: 1 });
    await ch.cancel(consumerTag);
    await ch.close();
  });

  it('reads queue depth and consumers from the management API', async () => {
    await freshQueues(conn, ['depth-mgmt']);
    await producer.publishMany('depth-mgmt', 9);
    const cfg = probeConfig({ queue: 'depth-mgmt', management_url: broker.managementUrl });
    // Statistics arrive every collect_statistics_interval (until the first, the probe reads over AMQP
    // and notes it in `error`): poll until the management API itself shows the publishes.
    let r = await probeUntil(cfg, (p) => p.queueDepth === 9 && p.error === undefined);
    expect(r).toMatchObject({ up: true, queueDepth: 9, consumers: 0 });
    expect(r.error).toBeUndefined();

    const ch = await conn.createChannel();
    await ch.prefetch(2);
    await ch.consume('depth-mgmt', () => {});
    await ch.consume('depth-mgmt', () => {});
    r = await probeUntil(cfg, (p) => p.consumers === 2 && p.queueDepth === 5 && p.error === undefined);
    expect(r).toMatchObject({ up: true, queueDepth: 5, consumers: 2 });
    expect(r.error).toBeUndefined();
    await ch.close();
  });

  it('falls back to AMQP when the management API does not answer, and says so', async () => {
    await freshQueues(conn, ['depth-fallback']);
    await producer.publishMany('depth-fallback', 3);
    const r = await runProbe(probeConfig({ queue: 'depth-fallback', management_url: `http://127.0.0.1:${await freePort()}` }), TIMEOUT);
    expect(r).toMatchObject({ up: true, queueDepth: 3, consumers: 0 });
    expect(r.error).toMatch(/^management API: .*queue read over AMQP instead/);
  });

  it('is down when the configured queue does not exist, on both paths', async () => {
    expect(await runProbe(probeConfig({ queue: 'no-such-queue' }), TIMEOUT)).toMatchObject({
      up: false,
      failure: 'error',
      error: 'queue "no-such-queue" not found in vhost "/"',
    });
    expect(await runProbe(probeConfig({ queue: 'no-such-queue', management_url: broker.managementUrl }), TIMEOUT)).toMatchObject({
      up: false,
      error: 'queue "no-such-queue" not found in vhost "/"',
    });
  });
});

describe('rabbitmq drain check (replicator)', () => {
  it('counts down the lag as consumers drain, with publishes refused while fenced', async () => {
    await freshQueues(conn, ['drain-a', 'drain-b', 'unfenced']);
    // The queue's own policy: merged into the fence while it holds, in force again afterwards.
    await api.putPolicy('/', 'keep-ttl', { pattern: '^drain-a$', 'apply-to': 'queues', priority: 5, definition: { 'message-ttl': 600_000 } });
    await producer.publishMany('drain-a', 10);
    await producer.publishMany('drain-b', 5);
    const repl = await replicator(['drain-a', 'drain-b']);

    let reading = await repl.lag('rabbit-a', 'rabbit-b');
    expect(reading).toMatchObject({ lag: 15, sourceOffset: 15, targetOffset: 0, linked: true });
    expect(reading.detail).toContain('drain-a 10 ready + 0 unacked');

    const fenced = await repl.fence('rabbit-a', 60_000);
    expect(fenced.fenced).toBe(true);
    expect(fenced.detail).toMatch(/reject-publish.*drain-a, drain-b/);
    expect(await producer.outcome('drain-a')).toBe('nacked');
    expect(await producer.outcome('drain-b')).toBe('nacked');
    expect(await producer.outcome('unfenced')).toBe('acked');
    // Nothing queued was dropped by the fence.
    expect((await repl.lag('rabbit-a', 'rabbit-b')).lag).toBe(15);
    const policies = await api.policies('/');
    const fence = policies.find((p) => p.name.startsWith('fm-fence:drain-a:'));
    expect(fence).toMatchObject({ priority: 6, definition: { 'message-ttl': 600_000, 'max-length': 0, overflow: 'reject-publish' } });

    // A consumer holding 4 unacknowledged deliveries: they still count (they return to the queue if it dies).
    const ch = await conn.createChannel();
    await ch.prefetch(4);
    const held: ConsumeMessage[] = [];
    const { consumerTag } = await ch.consume('drain-a', (m) => m && held.push(m));
    await until(async () => held.length === 4, 10_000, '4 deliveries');
    await until(async () => (await repl.lag('rabbit-a', 'rabbit-b')).detail?.includes('drain-a 6 ready + 4 unacked') ?? false, 15_000, 'unacked counted');
    expect((await repl.lag('rabbit-a', 'rabbit-b')).lag).toBe(15);

    // Drain drain-a: ack everything as it arrives.
    await ch.cancel(consumerTag);
    ch.ackAll();
    await ch.consume('drain-a', (m) => m && ch.ack(m));
    const seen: number[] = [];
    await until(
      async () => {
        reading = await repl.lag('rabbit-a', 'rabbit-b');
        seen.push(reading.lag);
        return reading.lag === 5;
      },
      20_000,
      'drain-a drained',
    );

    // Drain drain-b one message at a time: the lag follows exactly.
    const getter = await conn.createChannel();
    for (let left = 4; left >= 0; left--) {
      expect(await getter.get('drain-b', { noAck: true })).not.toBe(false);
      expect(await repl.lag('rabbit-a', 'rabbit-b')).toMatchObject({ lag: left, linked: true });
    }
    expect(await producer.outcome('drain-a')).toBe('nacked');

    await repl.unfence('rabbit-a');
    expect(await fencePolicies()).toEqual([]);
    expect(await producer.outcome('drain-b')).toBe('acked');
    expect((await repl.lag('rabbit-a', 'rabbit-b')).lag).toBe(1);
    expect((await api.policies('/')).map((p) => p.name)).toEqual(['keep-ttl']);
    await repl.unfence('rabbit-a'); // idempotent
    await ch.close();
    await getter.close();
    await api.deletePolicy('/', 'keep-ttl');
  });

  it('renews a fence without a gap when fenced again', async () => {
    await freshQueues(conn, ['refence']);
    await producer.publishMany('refence', 2);
    const repl = await replicator(['refence']);
    await repl.fence('rabbit-a', 60_000);
    const first = await fencePolicies();
    await new Promise((r) => setTimeout(r, 5));
    await repl.fence('rabbit-a', 90_000);
    const second = await fencePolicies();
    expect(first).toHaveLength(1);
    expect(second).toHaveLength(1);
    expect(second[0]).not.toBe(first[0]);
    expect(await producer.outcome('refence')).toBe('nacked');
    expect((await repl.lag('rabbit-a', 'rabbit-b')).lag).toBe(2);
    await repl.unfence('rabbit-a');
    expect(await producer.outcome('refence')).toBe('acked');
  });

  it('lifts a fence by itself when its hold expires', async () => {
    await freshQueues(conn, ['held']);
    const repl = await replicator(['held']);
    await repl.fence('rabbit-a', 1500);
    expect(await producer.outcome('held')).toBe('nacked');
    await until(async () => (await producer.outcome('held')) === 'acked', 15_000, 'fence lifted after its hold');
    expect(await fencePolicies()).toEqual([]);
  });

  it('lifts an expired fence left by a worker that is gone at the next call', async () => {
    await freshQueues(conn, ['orphaned']);
    // Deadline 1 ms after the epoch: long past.
    await api.putPolicy('/', 'fm-fence:orphaned:1', {
      pattern: '^orphaned$',
      'apply-to': 'queues',
      priority: 1,
      definition: { overflow: 'reject-publish', 'max-length': 0 },
    });
    await until(async () => (await producer.outcome('orphaned')) === 'nacked', 10_000, 'hand-made fence in force');
    const repl = await replicator(['orphaned']);
    await repl.lag('rabbit-a', 'rabbit-b');
    expect(await fencePolicies()).toEqual([]);
    expect(await producer.outcome('orphaned')).toBe('acked');
  });

  it('refuses to fence a queue whose x-overflow argument would make the fence drop messages', async () => {
    await freshQueues(conn, ['drop-head-q'], { 'x-overflow': 'drop-head' });
    await freshQueues(conn, ['fine-q']);
    await producer.publishMany('drop-head-q', 4);
    const repl = await replicator(['fine-q', 'drop-head-q']);
    await expect(repl.fence('rabbit-a', 60_000)).rejects.toThrow(/drop-head-q" is declared with x-overflow=drop-head/);
    expect(await fencePolicies()).toEqual([]);
    expect((await repl.lag('rabbit-a', 'rabbit-b')).lag).toBe(4);
    expect(await producer.outcome('fine-q')).toBe('acked');
  });

  it('reports a missing source queue as not linked', async () => {
    await freshQueues(conn, ['present']);
    await producer.publishMany('present', 2);
    const reading = await (await replicator(['present', 'absent'])).lag('rabbit-a', 'rabbit-b');
    expect(reading).toMatchObject({ lag: 2, linked: false });
    expect(reading.detail).toMatch(/queue\(s\) absent not found on rabbit-a/);
  });

  it('has nothing to promote or resync, and says why', async () => {
    const repl = await replicator(['present']);
    expect((await repl.promote('rabbit-b')).detail).toMatch(/^nothing to promote: rabbit-b is an independent broker/);
    expect((await repl.follow('rabbit-a', 'rabbit-b')).detail).toMatch(/^nothing to resync: brokers do not replicate/);
  });
});

describe('rabbitmq broker stopped', () => {
  it('probes down and the drain check fails once the broker is gone', async () => {
    const repl = await replicator(['present']);
    await conn.close();
    await broker.stop();
    const r = await runProbe(probeConfig(), TIMEOUT);
    expect(r).toMatchObject({ up: false, failure: 'refused' });
    await expect(repl.lag('rabbit-a', 'rabbit-b')).rejects.toThrow(/ECONNREFUSED|fetch failed/);
  });
});
