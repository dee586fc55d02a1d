import net from 'node:net';
import { classifyError, type ProbeResult } from './types';

export function probeTcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (result: ProbeResult) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () =>
      done({ up: false, latencyMs: performance.now() - started, error: `no connection within ${timeoutMs}ms`, failure: 'timeout' }),
    );
    socket.once('connect', () => done({ up: true, latencyMs: performance.now() - started }));
    socket.once('error', (err) => done({ up: false, latencyMs: performance.now() - started, ...classifyError(err) }));
  });
}
