import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { ConfigVersions } from '../../src/activities/config-versions';
import { isServiceRef, serviceArgOf, serviceNameOf } from '../../src/api/service-ref';
import { validateConfig, type Config } from '../../src/domain/config';
import { isConsistent, lagVerdict } from '../../src/domain/consistency';

/** Config version n: its max_latency says which version it is. */
const configAt = (n: number): Config =>
  validateConfig({
    failover_manager: { quality: { max_latency: `${n * 100}ms` } },
    services: [
      {
        name: 'orders',
        router: { type: 'file', path: '/tmp/routing.json' },
        destinations: [{ id: 'a', zone: 'z', region: 'r', probe: { type: 'http', url: 'http://127.0.0.1:1/health' } }],
      },
    ],
  });
const latency = (c: Config) => c.failover_manager.quality.max_latency;

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApplicationFailure)) throw new Error(`expected an ApplicationFailure, got ${String(err)}`);
  return err;
}

describe('config versions a worker resolves service references with', () => {
  it('answers the exact version asked for, not the newest live one', async () => {
    let live = 1;
    const asked: number[] = [];
    const versions = new ConfigVersions({ latest: async () => ({ version: live, config: configAt(live) }), older: async (v) => (asked.push(v), null) });
    expect(latency(await versions.at(1))).toBe('100ms');
    live = 2;
    expect(latency(await versions.at(1))).toBe('100ms');
    expect(latency(await versions.at(2))).toBe('200ms');
    expect(asked).toEqual([]);
  });

  it('asks the supervisor for a version it no longer (or never) held', async () => {
    const kept = new Map([[3, configAt(3)]]);
    const versions = new ConfigVersions({ latest: async () => ({ version: 5, config: configAt(5) }), older: async (v) => kept.get(v) ?? null });
    expect(latency(await versions.at(3))).toBe('300ms');
    expect(versions.versions()).toEqual([3, 5]);
  });

  it('a version nobody keeps is a non-retryable error that names it', async () => {
    const versions = new ConfigVersions({ latest: async () => ({ version: 9, config: configAt(9) }), older: async () => null });
    const err = await failureOf(versions.at(4));
    expect(err.type).toBe('ConfigVersionGone');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toMatch(/^config version 4 is no longer kept: this worker holds versions 9/);
  });

  it('a worker without a supervisor refuses a reference rather than guess', async () => {
    const err = await failureOf(new ConfigVersions({}).at(1));
    expect(err.type).toBe('ConfigVersionUnavailable');
    expect(err.message).toContain('config version 1 cannot be resolved');
  });

  it('keeps a bounded number of versions, dropping the oldest', async () => {
    const versions = new ConfigVersions({ keep: 3 });
    for (const v of [4, 1, 2, 3, 5]) versions.remember(v, configAt(v));
    expect(versions.versions()).toEqual([3, 4, 5]);
  });
});

describe('service references', () => {
  const service = configAt(1).services[0]!;
  it('a versioned snapshot is passed by reference, an unversioned one whole', () => {
    expect(serviceArgOf({ service, version: 7 })).toEqual({ service: 'orders', configVersion: 7 });
    expect(serviceArgOf({ service })).toBe(service);
    expect(isServiceRef(serviceArgOf({ service, version: 7 }))).toBe(true);
    expect(isServiceRef(service)).toBe(false);
    expect(serviceNameOf(service)).toBe('orders');
    expect(serviceNameOf({ service: 'orders', configVersion: 1 })).toBe('orders');
  });
});

describe('the consistency rule', () => {
  const reading = (lag: number, linked: boolean) => ({
    lag,
    linked,
    sourceOffset: 100 + lag,
    targetOffset: 100,
    ...(linked ? {} : { detail: 'master_link_status:down' }),
  });
  it('needs a live link and lag within the bound', () => {
    expect(isConsistent(reading(0, true), 0)).toBe(true);
    expect(isConsistent(reading(10, true), 10)).toBe(true);
    expect(isConsistent(reading(11, true), 10)).toBe(false);
    expect(isConsistent(reading(0, false), 1000)).toBe(false);
  });
  it('says which numbers decided', () => {
    expect(lagVerdict(reading(5, true), 10, 40, 'a', 'b')).toBe('lag 5 ≤ 10 after 40ms (source offset 105, target 100)');
    expect(lagVerdict(reading(50, true), 10, 40, 'a', 'b')).toBe('lag 50 still > 10 after 40ms (source offset 150, target 100)');
    expect(lagVerdict(reading(0, false), 10, 40, 'a', 'b')).toBe('b is not replicating from a: master_link_status:down');
  });
});
