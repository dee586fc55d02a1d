import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import {
  applyConfigUpdate,
  configHistoryQuery,
  liveConfigQuery,
  supervisionQuery,
  supervisorWorkflowId,
  type ConfigChangeRequest,
} from '../../src/api/supervisor';
import { dataConverterFromEnv } from '../../src/security/codec';
import { signConfigChange, signedDocumentDigest } from '../../src/security/config-signing';
import { runCliProcess } from '../support/cli-process';
import { runEntry } from '../support/entry-process';
import { replayAndRecord } from '../support/histories';
import { rejectionOf } from '../support/runbooks';
import { until } from '../support/wait';

/** A fleet with no services: what is under test is who may change the config, not what it supervises. */
describe("who may change the live config: signed appliers, the worker's own file, reserved names in the brakes", () => {
  const alice = generateKeyPairSync('ed25519');
  const mallory = generateKeyPairSync('ed25519');
  const alicePub = alice.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  let dir: string;
  let workerFile: string;
  let alicePem: string;
  const taskQueue = `test-config-access-${randomUUID()}`;
  let connection: Connection;
  let client: Client;
  let worker: { child?: ChildProcess; done: Promise<{ code: number | null; out: string }> };
  const doc = (interval: string) => ({
    failover_manager: {
      supervision: { reconcile_interval: interval, redundancy: false },
      config_changes: { appliers: ['alice'], keys: { alice: alicePub } },
    },
    services: [],
  });
  const write = (file: string, d: unknown) => (fs.writeFileSync(file, YAML.stringify(d)), file);
  const cli = (...args: string[]) => runCliProcess(['--task-queue', taskQueue, ...args]);
  const supervisor = () => client.workflow.getHandle(supervisorWorkflowId(taskQueue));
  const liveVersion = async () => (await supervisor().query(liveConfigQuery)).version;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-config-access-'));
    workerFile = write(path.join(dir, 'failover.yaml'), doc('30s'));
    alicePem = path.join(dir, 'alice.pem');
    fs.writeFileSync(alicePem, alice.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection, dataConverter: dataConverterFromEnv() });
    // A real worker process: it starts the supervisor from its file and applies the file again on SIGHUP.
    let child: ChildProcess | undefined;
    const done = runEntry(
      'src/worker.ts',
      { FAILOVER_CONFIG: workerFile, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: taskQueue },
      (_out, c) => (child = c),
      300_000,
    );
    worker = {
      get child() {
        return child;
      },
      done,
    };
    await until(async () => (await liveVersion().catch(() => 0)) === 1, 60_000, 'supervisor started with the worker file');
  });
  afterAll(async () => {
    worker?.child?.kill('SIGTERM');
    const ended = await worker?.done;
    if (ended && ended.code !== 0) console.log(`worker exited ${ended.code}:\n${ended.out.split('\n').slice(-30).join('\n')}`);
    await supervisor()
      .terminate('test over')
      .catch(() => undefined);
    try {
      expect(await replayAndRecord(client, [supervisorWorkflowId(taskQueue)], 'config-access')).toBeGreaterThan(0);
    } finally {
      await connection?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an unsigned or unlisted apply naming who may apply, changes nothing; takes alice's signed one once", async () => {
    const next = write(path.join(dir, 'next.yaml'), doc('20s'));
    const byMallory = await cli('config', 'apply', next, '--by', 'mallory', '--reason', 'mine now');
    expect(byMallory.code).toBe(2);
    expect(byMallory.stderr).toContain(
      'config apply refused: mallory may not apply the config: only the appliers may (config_changes.appliers of live version 1: alice)',
    );
    const unsigned = await cli('config', 'apply', next, '--by', 'alice', '--reason', 'no key');
    expect(unsigned.code).toBe(2);
    expect(unsigned.stderr).toContain('config apply by alice must be signed with their key');
    // Mallory signing as alice with her own key gets no further.
    const malloryPem = path.join(dir, 'mallory.pem');
    fs.writeFileSync(malloryPem, mallory.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const forged = await cli('config', 'apply', next, '--by', 'alice', '--reason', 'forged', '--key', malloryPem);
    expect(forged.stderr).toContain('signature of alice does not verify');
    expect(await liveVersion()).toBe(1);

    const signed = await cli('config', 'apply', next, '--by', 'alice', '--reason', 'shorter reconcile', '--key', alicePem);
    expect(signed.code, signed.stderr).toBe(0);
    expect(await liveVersion()).toBe(2);
    const history = await supervisor().query(configHistoryQuery);
    expect(history.at(-1)).toMatchObject({ version: 2, by: 'alice', reason: 'shorter reconcile' });

    // A signature covers one document and one base version: alice's, sent with another document, does not verify.
    const raw = YAML.parse(fs.readFileSync(next, 'utf8'));
    const statement = {
      action: 'apply' as const,
      supervisorId: supervisor().workflowId,
      by: 'alice',
      reason: 'again',
      basedOn: 2,
      target: signedDocumentDigest(raw),
    };
    const other: ConfigChangeRequest = {
      config: doc('10s'),
      by: 'alice',
      reason: 'again',
      expectVersion: 2,
      signature: signConfigChange(statement, alice.privateKey),
    };
    expect(await rejectionOf(supervisor().executeUpdate(applyConfigUpdate, { args: [other] }))).toMatch(/^signature of alice does not verify/);
  });

  it('rollback too needs a signed applier', async () => {
    const v = await liveVersion();
    const unsigned = await cli('config', 'rollback', '1', '--by', 'alice', '--reason', 'back');
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain('config rollback by alice must be signed with their key');
    expect(await liveVersion()).toBe(v);
    const signed = await cli('config', 'rollback', '1', '--by', 'alice', '--reason', 'back', '--key', alicePem);
    expect({ code: signed.code, stderr: signed.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await liveVersion()).toBe(v + 1);
  });

  it('the worker applies the file it was started with (read by the supervisor itself); a request claiming to be it gets nothing', async () => {
    const v = await liveVersion();
    write(workerFile, doc('45s'));
    worker.child!.kill('SIGHUP');
    await until(async () => (await liveVersion()) === v + 1, 20_000, 'the worker file applied on SIGHUP');
    const last = (await supervisor().query(configHistoryQuery)).at(-1)!;
    expect(last).toMatchObject({ reason: expect.stringContaining('re-read on SIGHUP'), source: workerFile });
    expect(last.by).toMatch(/^worker@/);
    // Anyone can say they are the worker; the update that takes a document still wants a signed applier.
    const claim = await rejectionOf(
      supervisor().executeUpdate(applyConfigUpdate, { args: [{ config: doc('5s'), by: last.by, reason: 'i am the worker', source: workerFile }] }),
    );
    expect(claim).toMatch(/^worker@.* may not apply the config: only the appliers may/);
    expect(await liveVersion()).toBe(v + 1);
  });

  it('a person cannot suspend or resume under a name the system acts under', async () => {
    for (const [verb, by] of [
      ['suspend', 'supervisor'],
      ['suspend', 'detection'],
      ['resume', 'schedule'],
    ] as const) {
      const r = await cli(verb, '--all', '--by', by, '--reason', 'pretending');
      expect(r.code, `${verb} --by ${by}`).not.toBe(0);
      expect(r.stderr).toContain(`by: "${by}" is a name the system acts under`);
    }
    expect((await supervisor().query(supervisionQuery)).brakes.all).toBeUndefined();
    const ok = await cli('suspend', '--all', '--by', 'carol', '--reason', 'network work');
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
    expect((await supervisor().query(supervisionQuery)).brakes.all).toMatchObject({ by: 'carol' });
  });
});
