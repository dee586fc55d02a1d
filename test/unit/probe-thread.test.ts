import net from 'node:net';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { serviceSchema } from '../../src/domain/config';
import { initialHealth } from '../../src/domain/health';
import { createWatch, type WatchInput, type WatchResult } from '../../src/activities/watch';
import { until } from '../support/wait';

/**
 * The watch activity runs its loop on the probe thread: heartbeats and the result come back to
 * the activity, and a cancelled activity stops the loop there (it probes no more).
 */
describe('watch on the probe thread', () => {
  const servers: net.Server[] = [];
  afterEach(() => servers.splice(0).forEach((s) => s.close()));

  /** A TCP destination that counts the probes reaching it. */
  const listener = async () => {
    const dest = { connections: 0, port: 0, server: net.createServer((c) => (dest.connections++, c.destroy())) };
    await new Promise<void>((r) => dest.server.listen(0, '127.0.0.1', r));
    servers.push(dest.server);
    dest.port = (dest.server.address() as net.AddressInfo).port;
    return dest;
  };
  const input = (port: number): WatchInput => ({
    service: serviceSchema.parse({
      name: 'thread-test',
      router: { type: 'file', path: '/nonexistent' },
      destinations: [{ id: 'd0', zone: 'z', region: 'r', probe: { type: 'tcp', host: '127.0.0.1', port } }],
    }),
    health: { d0: initialHealth() },
    thresholds: { failureThreshold: 2, recoveryThreshold: 2, healthThreshold: 0, maxLatencyMs: 1000, windowSize: 5 },
    intervalMs: 100,
    probeTimeoutMs: 500,
    maxDurationMs: 60_000,
  });

  it('passes heartbeats on and stops probing once cancelled', async () => {
    const dest = await listener();
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const running = env.run(createWatch(), input(dest.port));
    await until(async () => beats.length > 0 && dest.connections >= 3, 10_000, 'probes and a heartbeat');
    expect(beats[0]).toMatchObject({ health: { d0: { status: 'up' } } });
    env.cancel();
    await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    await new Promise((r) => setTimeout(r, 300)); // a probe already in flight may still land
    const after = dest.connections;
    await new Promise((r) => setTimeout(r, 700));
    expect(dest.connections, 'probes after the watch was cancelled').toBe(after);
  });

  it('returns the change the thread saw', async () => {
    const dest = await listener();
    const env = new MockActivityEnvironment();
    const running = env.run(createWatch(), input(dest.port));
    await until(async () => dest.connections >= 3, 10_000, 'probes');
    dest.server.close();
    const result = (await running) as WatchResult;
    expect(result.returned).toBe('change');
    expect(result.events).toMatchObject([{ destination: 'd0', kind: 'down' }]);
  });
});
