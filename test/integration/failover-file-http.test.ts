import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMutatingRunbook } from '../../src/client/start-runbook';
import { freePort } from '../../dev/devserver/free-port';
import { validateConfig, type Config } from '../../src/domain/config';
import { pickWeighted, watchRouting, type RoutingTable } from '../../src/routing-client/file-routing';
import type { FailoverResult } from '../../src/workflows/failover';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { until } from '../support/wait';

/** A webhook endpoint: answers /health, records every message it accepts. */
async function webhookEndpoint() {
  const port = await freePort();
  const received = new Set<number>();
  const server = http.createServer((req, res) => {
    if (req.url === '/health') return void res.end('ok');
    const seq = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('seq'));
    received.add(seq);
    res.statusCode = 202;
    res.end();
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { port, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('failover of webhook destinations routed by the file routing table', () => {
  let a: Awaited<ReturnType<typeof webhookEndpoint>>;
  let b: Awaited<ReturnType<typeof webhookEndpoint>>;
  let config: Config;
  let table: string;
  let t: TemporalHarness;

  beforeAll(async () => {
    [a, b] = [await webhookEndpoint(), await webhookEndpoint()];
    table = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'routing-')), 'hooks.json');
    config = validateConfig({
      failover_manager: { failover_execution: { gradual_failover: { steps: [25, 50, 100], soak: '400ms' } } },
      services: [
        {
          name: 'hooks',
          router: { type: 'file', path: table },
          destinations: [
            { id: 'hooks-a', zone: 'z1', region: 'r1', probe: { type: 'http', url: `http://127.0.0.1:${a.port}/health` } },
            { id: 'hooks-b', zone: 'z2', region: 'r1', probe: { type: 'http', url: `http://127.0.0.1:${b.port}/health` } },
          ],
        },
      ],
    });
    t = await temporalHarness(() => config);
  });
  afterAll(async () => {
    await t?.close();
    await a?.close();
    await b?.close();
  });

  it('moves a live producer (following the table) 25/50/100 % to the other endpoint, losing no accepted message', async () => {
    const ports: Record<string, number> = { 'hooks-a': a.port, 'hooks-b': b.port };
    let current: RoutingTable | undefined;
    const generations = new Set<number>();
    const watch = watchRouting(
      table,
      (tbl) => {
        current = tbl;
        generations.add(tbl.generation);
      },
      { pollMs: 200 },
    );
    await watch.ready;
    const acked: number[] = [];
    let producing = true;
    const producer = (async () => {
      // Before the first write there is no file: the first destination is the active one.
      for (let seq = 1; producing && seq <= 50_000;) {
        const to = current ? pickWeighted(current) : 'hooks-a';
        const res = await fetch(`http://127.0.0.1:${ports[to!]}/msg?seq=${seq}`, { method: 'POST' }).catch(() => undefined);
        if (res?.status === 202) {
          acked.push(seq);
          seq++;
        }
      }
    })();
    await until(() => acked.length > 100);
    const h = await startMutatingRunbook(t.client, { taskQueue: t.taskQueue, type: 'failover', service: 'hooks', input: { to: 'hooks-b', actor: 'test' } });
    const result = (await h.result()) as FailoverResult;
    const n = acked.length;
    await until(() => acked.length > n + 100);
    producing = false;
    await producer;
    watch.close();

    expect(result.outcome).toBe('switched');
    expect(result.routingAfter.weights).toEqual({ 'hooks-a': 0, 'hooks-b': 100 });
    expect(JSON.parse(fs.readFileSync(table, 'utf8')).weights).toEqual({ 'hooks-a': 0, 'hooks-b': 100 });
    expect([...generations].sort()).toEqual([1, 2, 3]); // the producer saw every step
    const lost = acked.filter((s) => !a.received.has(s) && !b.received.has(s));
    expect(lost).toEqual([]);
    expect(b.received.size).toBeGreaterThan(100);
    // After the switch nothing goes to hooks-a any more.
    const lastOnA = Math.max(...a.received);
    expect(acked.slice(-50).every((s) => s > lastOnA)).toBe(true);
    console.log(`file routing + webhooks: ${acked.length} accepted messages (${a.received.size} on a, ${b.received.size} on b), 0 lost, RTO ${result.rtoMs}ms`);
  });
});
