import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMutatingRunbook } from '../../src/client/start-runbook';
import { freePort } from '../../dev/devserver/free-port';
import { startDevServer, type DevServer } from '../../dev/devserver/temporal-dev-server';
import { validateConfig, type Config } from '../../src/domain/config';
import { AesGcmCodec } from '../../src/security/codec';
import { startCodecServer } from '../../src/security/codec-server';
import { createFailoverWorker, installRuntimeLogging, type FailoverWorker } from '../../src/worker';
import { launchChromium, loopbackPage, screenshots, visibleWithReload } from '../support/browser';
import { workflowsPath } from '../support/histories';
import { testLogger } from '../support/temporal';

const SERVICE = 'sealed-ui-bus';
const TASK_QUEUE = 'failover-manager';
const MARKER = `ui-reason-${randomUUID().slice(0, 8)}`;

/** The Web UI of a dev server started with --ui-codec-endpoint shows encrypted payloads decoded, as npm start runs it. */
describe('Web UI with the codec endpoint: encrypted histories shown decoded', () => {
  const servers: net.Server[] = [];
  const decodes: number[] = [];
  let dir: string;
  let server: DevServer;
  let codecServer: Awaited<ReturnType<typeof startCodecServer>>;
  let connection: Connection;
  let nativeConnection: NativeConnection;
  let worker: FailoverWorker;
  let running: Promise<void>;
  let browser: Browser;
  let page: Page;
  let config: Config;
  let client: Client;
  let codec: AesGcmCodec;

  beforeAll(async () => {
    installRuntimeLogging(testLogger);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-ui-codec-'));
    codec = new AesGcmCodec({ current: 'k1', keys: new Map([['k1', randomBytes(32)]]) });
    // Counts the browser's decode calls, to show the page went through the endpoint.
    const counting = {
      encode: (p: Parameters<typeof codec.encode>[0]) => codec.encode(p),
      decode: (p: Parameters<typeof codec.decode>[0]) => (decodes.push(p.length), codec.decode(p)),
    };
    const [port, uiPort] = [await freePort(), await freePort()];
    codecServer = await startCodecServer({ codec: counting, origins: [`http://127.0.0.1:${uiPort}`] });
    [server, browser] = await Promise.all([startDevServer({ port, uiPort, codecEndpoint: codecServer.url }), launchChromium()]);
    const ports: number[] = [];
    for (let i = 0; i < 2; i++) {
      const p = await freePort();
      const s = net.createServer((c) => c.end());
      await new Promise<void>((resolve) => s.listen(p, '127.0.0.1', resolve));
      servers.push(s);
      ports.push(p);
    }
    config = validateConfig({
      failover_manager: { supervision: { enabled: false }, failover_execution: { gradual_failover: false } },
      services: [
        {
          name: SERVICE,
          router: { type: 'file', path: path.join(dir, 'routing.json') },
          destinations: ports.map((p, i) => ({ id: `dest-${'ab'[i]}`, zone: 'z', region: 'r', probe: { type: 'tcp', host: '127.0.0.1', port: p } })),
        },
      ],
    });
    const dataConverter = { payloadCodecs: [codec] };
    connection = await Connection.connect({ address: server.address });
    nativeConnection = await NativeConnection.connect({ address: server.address });
    client = new Client({ connection, namespace: 'default', dataConverter });
    worker = await createFailoverWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue: TASK_QUEUE,
      config: () => config,
      logger: testLogger,
      client,
      dataConverter,
    });
    running = worker.run();
    const h = await startMutatingRunbook(client, {
      taskQueue: TASK_QUEUE,
      type: 'failover',
      service: SERVICE,
      input: { to: 'dest-b', actor: 'erin', reason: MARKER },
    });
    await h.result();
    page = await loopbackPage(browser);
  });

  afterAll(async () => {
    try {
      // The run replays with the codec, as a worker reads it.
      const history = await client?.workflow.getHandle(`runbook-${SERVICE}`).fetchHistory();
      if (history) await Worker.runReplayHistory({ workflowsPath, dataConverter: { payloadCodecs: [codec] }, replayName: 'ui-codec' }, history);
    } finally {
      await browser?.close();
      if (worker?.getState() === 'RUNNING') worker.shutdown();
      await running;
      await nativeConnection?.close();
      await connection?.close();
      await server?.stop();
      await codecServer?.close();
      for (const s of servers) await new Promise((r) => s.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows the runbook input in plain text, decoded through the endpoint', async () => {
    const shot = screenshots(page, 'web-ui-codec');
    try {
      await page.goto(`${server.uiUrl!}/namespaces/default/workflows/runbook-${SERVICE}`);
      await visibleWithReload(page, page.getByText(MARKER), 20_000, 'decoded input');
      await shot('decoded-input');
    } catch (err) {
      await shot('FAILED-decoded-input').catch(() => undefined);
      throw err;
    }
    expect(decodes.length).toBeGreaterThan(0);
  });
});
