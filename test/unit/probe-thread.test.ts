import net from 'node:net';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { serviceSchema } from '../../src/domain/config';
import { initialHealth } from '../../src/domain/health';
import { createWatchActivities, type WatchInput, type WatchResult } from '../../src/activities/watch';
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
    const running = env.run(createWatchActivities().watchDestinations, input(dest.port));
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
    const running = env.run(createWatchActivities().watchDestinations, input(dest.port));
    await until(async () => dest.connections >= 3, 10_000, 'probes');
    dest.server.close();
    const result = (await running) as WatchResult;
    expect(result.returned).toBe('change');
    expect(result.events).toMatchObject([{ destination: 'd0', kind: 'down' }]);
  });

  /** A watch of run `runId` (scheduled at `at`) for workflow w on queue q. */
  const watchEnv = (runId: string, at: number) =>
    new MockActivityEnvironment({
      workflowExecution: { workflowId: 'w', runId },
      activityId: '7',
      taskQueue: 'q',
      currentAttemptScheduledTimestampMs: at,
    });

  it('a newer watch of the same workflow stops an older one on this process, whichever arrives first', async () => {
    const dest = await listener();
    const activities = createWatchActivities();
    const older = watchEnv('r1', 1000);
    const first = older.run(activities.watchDestinations, input(dest.port));
    const newer = watchEnv('r2', 2000);
    const second = newer.run(activities.watchDestinations, input(dest.port));
    await expect(first).rejects.toThrow(/superseded by watch 7 of run r2/);
    // An older watch that arrives late (a dispatch delayed) ends at once.
    const late = watchEnv('r0', 500).run(activities.watchDestinations, input(dest.port));
    await expect(late).rejects.toThrow(/superseded by watch 7 of run r2/);
    newer.cancel();
    await expect(second).rejects.toBeInstanceOf(CancelledFailure);
  });

  it('presence heartbeats the watches this process holds', async () => {
    const dest = await listener();
    const activities = createWatchActivities();
    const presence = new MockActivityEnvironment();
    const beats: { watches: string[][] }[] = [];
    presence.on('heartbeat', (d: { watches: string[][] }) => beats.push(d));
    const holding = presence.run(activities.holdPresence);
    await until(async () => beats.length > 0, 5_000, 'a first presence beat');
    expect(beats.at(-1)!.watches).toEqual([]);
    const watch = watchEnv('r1', 1000);
    const running = watch.run(activities.watchDestinations, input(dest.port));
    await until(async () => beats.at(-1)!.watches.length === 1, 5_000, 'the watch listed');
    expect(beats.at(-1)!.watches).toEqual([['w', 'r1', '7']]);
    watch.cancel();
    await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    await until(async () => beats.at(-1)!.watches.length === 0, 5_000, 'the ended watch no longer listed');
    presence.cancel();
    await expect(holding).rejects.toBeInstanceOf(CancelledFailure);
  });
});
