import { replicationInfo, withRedis, type RedisEndpoint } from '../redis-connection';
import { classifyError, type ProbeResult } from './types';

export async function probeRedis(endpoint: RedisEndpoint, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  try {
    return await withRedis(endpoint, timeoutMs, async (r) => {
      const pong = await r.ping();
      const latencyMs = performance.now() - started;
      if (pong !== 'PONG') return { up: false, latencyMs, error: `PING answered ${pong}`, failure: 'error' as const };
      const repl = await replicationInfo(r);
      return {
        up: true,
        latencyMs,
        role: repl.role === 'master' ? ('primary' as const) : ('replica' as const),
        offset: repl.offset,
        connectedReplicas: repl.connectedReplicas,
        replication: {
          role: repl.role === 'master' ? ('primary' as const) : ('replica' as const),
          offset: repl.offset,
          ...(repl.role === 'slave'
            ? {
                upstream: `${repl.masterHost}:${repl.masterPort}`,
                linkUp: repl.linkUp === true,
                ...(repl.linkDownForMs !== undefined ? { linkDownForMs: repl.linkDownForMs } : {}),
              }
            : {}),
        },
      };
    });
  } catch (err) {
    return { up: false, latencyMs: performance.now() - started, ...classifyError(err) };
  }
}
