import { randomUUID } from 'node:crypto';
import type { ServiceConfig } from '../domain/config';
import { runProbe } from './probes';
import { replicationInfo, withRedis } from './redis-connection';

export interface EntrypointCheck {
  ok: boolean;
  detail: string;
  latencyMs: number;
}

/**
 * Does the service's entrypoint reach `expectedPrimary`? For Redis, a canary write through the
 * entrypoint must be read back from the server whose run_id is the expected primary's (tried for at
 * least 5 s: a router takes a moment to follow); other entrypoints only have to answer.
 * `onRetry` hears each failed try (an activity heartbeats with it).
 */
export async function checkEntrypoint(
  service: ServiceConfig,
  expectedPrimary: string,
  timeoutMs: number,
  onRetry?: (last: string) => void,
): Promise<EntrypointCheck> {
  const entry = service.entrypoint;
  if (!entry) return { ok: true, detail: 'no entrypoint configured; skipped', latencyMs: 0 };
  if (entry.type !== 'redis') {
    const r = await runProbe(entry, timeoutMs);
    return { ok: r.up, detail: r.up ? 'entrypoint answers' : `entrypoint down: ${r.error}`, latencyMs: r.latencyMs };
  }
  const dest = service.destinations.find((d) => d.id === expectedPrimary);
  if (!dest || dest.probe.type !== 'redis') return { ok: false, detail: `cannot identify ${expectedPrimary}`, latencyMs: 0 };
  const expectedRunId = await withRedis(dest.probe, timeoutMs, async (r) => (await replicationInfo(r)).runId);
  let last = 'not tried';
  const deadline = Date.now() + Math.max(timeoutMs, 5000);
  while (Date.now() < deadline) {
    const started = performance.now();
    try {
      const detail = await withRedis(entry, timeoutMs, async (r) => {
        const token = randomUUID();
        const key = `failover-manager:canary:${service.name}`;
        await r.set(key, token, 'PX', 60_000);
        const back = await r.get(key);
        const info = await replicationInfo(r);
        if (back !== token) throw new Error('canary read back differs');
        if (info.runId !== expectedRunId) throw new Error(`entrypoint reaches run_id ${info.runId}, not ${expectedPrimary}`);
        return `canary write acknowledged by ${expectedPrimary} through the entrypoint`;
      });
      return { ok: true, detail, latencyMs: performance.now() - started };
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
      onRetry?.(last);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return { ok: false, detail: last, latencyMs: 0 };
}
