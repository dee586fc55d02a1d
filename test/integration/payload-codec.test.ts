import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startMutatingRunbook } from '../../src/client/start-runbook';
import { freePort } from '../../dev/devserver/free-port';
import { validateConfig, type Config } from '../../src/domain/config';
import { AesGcmCodec, codecKeysFromEnv, ENCRYPTED_ENCODING } from '../../src/security/codec';
import { startCodecServer } from '../../src/security/codec-server';
import type { FailoverResult } from '../../src/workflows/failover';
import { runCliProcess } from '../support/cli-process';
import { workflowsPath } from '../support/histories';
import { temporalHarness, type TemporalHarness } from '../support/temporal';

const SERVICE = `sealed-${randomUUID().slice(0, 6)}`;
const MARKER = `reason-${randomUUID()}`;

/** Every payload anywhere in a history (inputs, results, signals, markers, …). */
function payloadsIn(node: unknown, out: Payload[] = [], where = ''): Payload[] {
  if (Array.isArray(node)) node.forEach((n, i) => payloadsIn(n, out, `${where}[${i}]`));
  else if (node && typeof node === 'object' && !(node instanceof Uint8Array)) {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'payloads' && Array.isArray(v)) out.push(...(v as Payload[]).map((p) => Object.assign(p, { where })));
      else payloadsIn(v, out, `${where}.${k}`);
    }
  }
  return out;
}
const text = (p: Payload) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8');
const encodingOf = (p: Payload) => Buffer.from(p.metadata?.encoding ?? new Uint8Array()).toString();

describe('payload codec: histories hold ciphertext, the CLI and the Web UI codec endpoint show plain values', () => {
  const servers: net.Server[] = [];
  let dir: string;
  let keysFile: string;
  let configFile: string;
  let config: Config;
  let codec: AesGcmCodec;
  let t: TemporalHarness;
  let raw: Client;
  let rawConnection: Connection;
  let workflowId: string;
  let runId: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-codec-'));
    keysFile = path.join(dir, 'keys.json');
    // Two keys: payloads are written with the current one, the old one still reads.
    fs.writeFileSync(keysFile, JSON.stringify({ current: 'k2', keys: { k1: randomBytes(32).toString('base64'), k2: randomBytes(32).toString('base64') } }), {
      mode: 0o600,
    });
    codec = new AesGcmCodec(codecKeysFromEnv({ FAILOVER_CODEC_KEYS_FILE: keysFile })!);
    const ports: number[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const server = net.createServer((s) => s.end());
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      servers.push(server);
      ports.push(port);
    }
    const doc = {
      failover_manager: { supervision: { enabled: false }, failover_execution: { gradual_failover: false } },
      services: [
        {
          name: SERVICE,
          router: { type: 'file', path: path.join(dir, 'routing.json') },
          destinations: ports.map((port, i) => ({ id: `dest-${'ab'[i]}`, zone: 'z', region: 'r', probe: { type: 'tcp', host: '127.0.0.1', port } })),
        },
      ],
    };
    configFile = path.join(dir, 'failover.yaml');
    fs.writeFileSync(configFile, JSON.stringify(doc));
    config = validateConfig(doc);
    t = await temporalHarness(() => config, { dataConverter: { payloadCodecs: [codec] } });
    rawConnection = await Connection.connect({ address: inject('temporalAddress') });
    raw = new Client({ connection: rawConnection, namespace: 'default' });

    const h = await startMutatingRunbook(t.client, {
      taskQueue: t.taskQueue,
      type: 'failover',
      service: SERVICE,
      input: { to: 'dest-b', actor: 'carol', reason: MARKER },
    });
    workflowId = h.workflowId;
    runId = h.firstExecutionRunId;
    const result = (await h.result()) as FailoverResult;
    expect(result.routingAfter.weights['dest-b']).toBe(100);
  });
  afterAll(async () => {
    try {
      // The histories replay with the codec, as a worker would read them.
      const history = await t.client.workflow.getHandle(workflowId, runId).fetchHistory();
      await Worker.runReplayHistory({ workflowsPath, dataConverter: { payloadCodecs: [codec] }, replayName: 'codec' }, history, workflowId);
    } finally {
      await t?.close();
      await rawConnection?.close();
      for (const s of servers) await new Promise((r) => s.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a history read without the key shows only ciphertext', async () => {
    const history = await raw.workflow.getHandle(workflowId, runId).fetchHistory();
    const payloads = payloadsIn(history.events);
    // Input, config snapshot, activity inputs and results, the runbook's result.
    expect(payloads.length).toBeGreaterThan(5);
    // Left plain: the SDK's own marker bookkeeping (patch ids, local activity sequence numbers), no values of ours.
    const sdkMeta = (p: Payload) => /markerRecordedEventAttributes\.details\.(patch-data|data)$/.test((p as { where?: string }).where ?? '');
    expect(
      payloads.filter((p) => !sdkMeta(p) && encodingOf(p) !== ENCRYPTED_ENCODING).map((p) => `${(p as { where?: string }).where} ${encodingOf(p)}`),
    ).toEqual([]);
    expect(payloads.some((p) => text(p).includes(MARKER) || text(p).includes('127.0.0.1'))).toBe(false);
    // Without the key the result cannot be read as JSON.
    await expect(raw.workflow.getHandle(workflowId, runId).result()).rejects.toThrow();
  });

  it('the CLI with the key file shows plain values; without it, it cannot read them', async () => {
    const args = ['--config', configFile, '--task-queue', t.taskQueue, 'history', SERVICE, '--json'];
    const withKey = await runCliProcess(args, { FAILOVER_CODEC_KEYS_FILE: keysFile });
    expect(withKey.code).toBe(0);
    const runs = (JSON.parse(withKey.stdout) as { runs: Array<Record<string, unknown>> }).runs;
    expect(JSON.stringify(runs[0])).toContain('dest-b');
    const without = await runCliProcess(args);
    expect(without.stdout).not.toContain('"dest-b"');
  });

  it('the codec endpoint decodes for the Web UI origin, and refuses without its token when one is set', async () => {
    const history = await raw.workflow.getHandle(workflowId, runId).fetchHistory();
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    const asJson = (p: Payload) => ({
      metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      data: Buffer.from(p.data!).toString('base64'),
    });
    const origin = 'http://127.0.0.1:8233';
    const server = await startCodecServer({ codec, origins: [origin] });
    const guarded = await startCodecServer({ codec, origins: [origin], token: 'ui-token' });
    try {
      const pre = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      expect(pre.headers.get('access-control-allow-origin')).toBe(origin);
      const res = await fetch(`${server.url}/decode`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/json', 'x-namespace': 'default' },
        body: JSON.stringify({ payloads: [asJson(input)] }),
      });
      expect(res.status).toBe(200);
      const [decoded] = ((await res.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> }).payloads;
      expect(Buffer.from(decoded!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
      expect(JSON.parse(Buffer.from(decoded!.data, 'base64').toString())).toMatchObject({ service: SERVICE, reason: MARKER, actor: 'carol' });
      const denied = await fetch(`${guarded.url}/decode`, { method: 'POST', body: JSON.stringify({ payloads: [asJson(input)] }) });
      expect(denied.status).toBe(401);
      const allowed = await fetch(`${guarded.url}/decode`, {
        method: 'POST',
        headers: { authorization: 'Bearer ui-token' },
        body: JSON.stringify({ payloads: [asJson(input)] }),
      });
      expect(allowed.status).toBe(200);
    } finally {
      await server.close();
      await guarded.close();
    }
  });
});
