import { Context, heartbeat, sleep } from '@temporalio/activity';
import type { ServiceConfig } from '../domain/config';
import { observe, type DestinationHealth, type HealthEvent, type HealthThresholds } from '../domain/health';
import { runProbe } from './probes';

export interface WatchInput {
  service: ServiceConfig;
  health: Record<string, DestinationHealth>;
  thresholds: HealthThresholds;
  intervalMs: number;
  probeTimeoutMs: number;
  /** Return with no change after this long, so the workflow can take stock (e.g. continue-as-new). */
  maxDurationMs: number;
}

export interface WatchResult {
  health: Record<string, DestinationHealth>;
  events: HealthEvent[];
  ticks: number;
  returned: 'change' | 'max-duration';
}

/**
 * Detection's hot path: probes every destination each interval inside the worker and returns only
 * on a state change, so an idle service writes no history however short the interval. The window
 * (consecutive counts, score) rides in heartbeat details: a retry on another worker resumes it.
 */
export async function watchDestinations(input: WatchInput): Promise<WatchResult> {
  const ctx = Context.current();
  const resumed = ctx.info.heartbeatDetails as { health: Record<string, DestinationHealth> } | undefined;
  let health = { ...input.health, ...(resumed?.health ?? {}) };
  const started = Date.now();
  let ticks = 0;
  for (;;) {
    const tickStart = Date.now();
    const results = await Promise.all(input.service.destinations.map(async (d) => [d.id, await runProbe(d.probe, input.probeTimeoutMs)] as const));
    const events: HealthEvent[] = [];
    const next = { ...health };
    for (const [id, r] of results) {
      const { health: h, event } = observe(id, next[id]!, r, input.thresholds);
      next[id] = h;
      if (event) events.push(event);
    }
    health = next;
    ticks++;
    heartbeat({ health });
    if (events.length > 0) return { health, events, ticks, returned: 'change' };
    if (Date.now() - started >= input.maxDurationMs) return { health, events, ticks, returned: 'max-duration' };
    await sleep(Math.max(0, input.intervalMs - (Date.now() - tickStart))); // throws when cancelled
  }
}
