import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandleWithFirstExecutionRunId as WorkflowHandle } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { statusQuery } from '../../src/api/queries';
import { routerFor } from '../../src/drivers';
import { FailoverManager } from '../../src/client/manager';
import { startMutatingRunbook } from '../../src/client/start-runbook';
import { freePort } from '../../dev/devserver/free-port';
import { validateConfig, type Config } from '../../src/domain/config';
import { signControl } from '../../src/security/control-signing';
import { signStart } from '../../src/security/start-signing';
import { approveUpdate, type ControlRequest } from '../../src/workflows/controls';
import type { FailoverResult } from '../../src/workflows/failover';
import { runCliProcess } from '../support/cli-process';
import { replayThenCleanUp } from '../support/histories';
import { failureOf, rejectionOf } from '../support/runbooks';
import { temporalHarness, type TemporalHarness } from '../support/temporal';
import { statusUntil } from '../support/wait';

const SERVICE = 'guarded-bus';

function keyPair(): { pub: string; priv: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { pub: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'), priv: privateKey };
}

describe('who may act on a runbook: approvers, four-eyes, signed approvals, reserved actors', () => {
  const alice = keyPair();
  const bob = keyPair();
  const mallory = keyPair();
  const servers: net.Server[] = [];
  let dir: string;
  let config: Config;
  let t: TemporalHarness;
  const ran: string[] = [];

  const start = async (type: 'failover' | 'rollback', input: Record<string, unknown>, signingKey?: KeyObject): Promise<WorkflowHandle> => {
    const h = await startMutatingRunbook(t.client, { taskQueue: t.taskQueue, type, service: SERVICE, input, signingKey });
    ran.push(h.workflowId);
    return h;
  };
  const approve = (h: WorkflowHandle, req: ControlRequest) => h.executeUpdate(approveUpdate, { args: [req] });
  const routing = async () => (await routerFor(config.services[0]!).read()).routing;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-access-'));
    const ports: number[] = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const server = net.createServer((s) => s.end());
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      servers.push(server);
      ports.push(port);
    }
    config = validateConfig({
      failover_manager: {
        supervision: { enabled: false },
        failover_execution: {
          gradual_failover: false,
          approval: { required: true, timeout: '2m', approvers: ['alice', 'bob'], keys: { alice: alice.pub, bob: bob.pub } },
        },
      },
      services: [
        {
          name: SERVICE,
          router: { type: 'file', path: path.join(dir, 'routing.json') },
          destinations: ports.map((port, i) => ({ id: `dest-${'ab'[i]}`, zone: `z${i}`, region: `r${i}`, probe: { type: 'tcp', host: '127.0.0.1', port } })),
        },
      ],
    });
    t = await temporalHarness(() => config);
  });
  afterEach(async () => {
    const h = t.client.workflow.getHandle(`runbook-${SERVICE}`);
    if (
      await h.describe().then(
        (d) => d.status.name === 'RUNNING',
        () => false,
      )
    )
      await h.terminate('test cleanup');
  });
  afterAll(async () => {
    await replayThenCleanUp(t, ran, 'access', async () => {
      for (const s of servers) await new Promise((r) => s.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });

  it('rejects an unlisted approver, self-approval, a reserved name, an unsigned or wrongly signed approval; takes a signed one', async () => {
    const h = await start('failover', { to: 'dest-b', actor: 'alice', reason: 'drill' }, alice.priv);
    const waiting = await statusUntil(h, (s) => s.phase === 'awaiting-approval');
    const runId = h.firstExecutionRunId;
    const signedBy = (by: string, key: KeyObject) => signControl('approve', h.workflowId, runId, { by, reason: 'ok' }, key);

    expect(await rejectionOf(approve(h, signedBy('mallory', mallory.priv)))).toBe(
      'mallory may not approve this runbook: not one of the approvers (approval.approvers: alice, bob)',
    );
    expect(await rejectionOf(approve(h, signedBy('alice', alice.priv)))).toBe(
      'alice started this runbook and may not approve it too (four-eyes: approval.four_eyes)',
    );
    expect(await rejectionOf(approve(h, { by: 'detection' }))).toMatch(/^by: "detection" is a name the system acts under/);
    expect(await rejectionOf(approve(h, { by: 'bob', reason: 'ok' }))).toBe(
      'approve by bob must be signed with their key (approval.keys.bob): use the CLI with --key',
    );
    expect(await rejectionOf(approve(h, signedBy('bob', mallory.priv)))).toMatch(/^signature of bob does not verify against approval\.keys\.bob/);
    // A signature for another action (or run) does not carry over.
    const forPause = signControl('pause', h.workflowId, runId, { by: 'bob', reason: 'ok' }, bob.priv);
    expect(await rejectionOf(approve(h, forPause))).toMatch(/^signature of bob does not verify/);
    expect((await h.query(statusQuery)).phase).toBe('awaiting-approval');
    expect(waiting.controls.awaitingApproval).toBeDefined();

    const good = signedBy('bob', bob.priv);
    expect(await approve(h, good)).toBe('approved by bob');
    const result = (await h.result()) as FailoverResult;
    expect(result.routingAfter.weights).toMatchObject({ 'dest-b': 100, 'dest-a': 0 });
    const approval = result.steps.find((s) => s.name === 'approval');
    expect(approval?.detail).toMatch(/^approved by bob: ok/);
  });

  it('the CLI signs with --key; without the key the same approval is refused', async () => {
    const pem = path.join(dir, 'bob.pem');
    fs.writeFileSync(pem, bob.priv.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const configFile = path.join(dir, 'failover.yaml');
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        services: [{ name: SERVICE, router: { type: 'file', path: path.join(dir, 'routing.json') }, destinations: config.services[0]!.destinations }],
      }),
    );
    const to = (await routing()).weights['dest-a'] === 100 ? 'dest-b' : 'dest-a';
    const h = await start('failover', { to, actor: 'alice', reason: 'cli drill' }, alice.priv);
    await statusUntil(h, (s) => s.phase === 'awaiting-approval');
    const cli = (...args: string[]) => runCliProcess(['--config', configFile, '--task-queue', t.taskQueue, ...args]);
    const unsigned = await cli('approve', SERVICE, '--by', 'bob');
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain('approve by bob must be signed with their key (approval.keys.bob)');
    const signed = await cli('approve', SERVICE, '--by', 'bob', '--reason', 'looked at it', '--key', pem);
    expect({ code: signed.code, stderr: signed.stderr }).toEqual({ code: 0, stderr: '' });
    expect(signed.stdout).toContain('approved by bob');
    await h.result();
    expect((await routing()).weights[to]).toBe(100);
  });

  it('refuses a runbook started by hand under a name the system acts under', async () => {
    const h = await start('failover', { to: 'dest-a', actor: 'detection', trigger: 'detection', reason: 'forged' });
    const failure = await failureOf(h.result());
    expect(failure.type).toBe('InvalidInput');
    expect(failure.message).toMatch(/input\.actor: "detection" is a name the system acts under/);
  });

  it('sends a rollback to weights given by hand through the approval gate, and moves nothing before it', async () => {
    const before = await routing();
    const target = before.weights['dest-a'] === 100 ? { 'dest-a': 0, 'dest-b': 100 } : { 'dest-a': 100, 'dest-b': 0 };
    const h = await start('rollback', { weights: target, actor: 'bob', reason: 'by hand' }, bob.priv);
    const s = await statusUntil(h, (st) => st.phase === 'awaiting-approval');
    expect(s.controls.awaitingApproval?.reason).toMatch(/^weights given by hand by bob: /);
    expect(s.controls.awaitingApproval?.reason).toMatch(/sends traffic into region r/);
    expect((await routing()).weights).toEqual(before.weights);
    // Bob started it: he cannot approve it; Alice can.
    expect(await rejectionOf(approve(h, signControl('approve', h.workflowId, h.firstExecutionRunId, { by: 'bob' }, bob.priv)))).toMatch(/four-eyes/);
    await approve(h, signControl('approve', h.workflowId, h.firstExecutionRunId, { by: 'alice' }, alice.priv));
    await h.result();
    expect((await routing()).weights).toEqual(target);
  });

  it('records a signed start as verified: its starter may not approve; the CLI signs starts with --key', async () => {
    const pem = path.join(dir, 'alice.pem');
    fs.writeFileSync(pem, alice.priv.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const configFile = path.join(dir, 'failover.yaml');
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        services: [{ name: SERVICE, router: { type: 'file', path: path.join(dir, 'routing.json') }, destinations: config.services[0]!.destinations }],
      }),
    );
    const to = (await routing()).weights['dest-a'] === 100 ? 'dest-b' : 'dest-a';
    const cli = (...args: string[]) => runCliProcess(['--config', configFile, '--task-queue', t.taskQueue, ...args]);
    const started = await cli('start', 'failover', SERVICE, '--to', to, '--by', 'alice', '--reason', 'signed drill', '--key', pem);
    expect({ code: started.code, stderr: started.stderr }).toEqual({ code: 0, stderr: '' });
    const h = t.client.workflow.getHandle(`runbook-${SERVICE}`);
    ran.push(h.workflowId);
    const s = await statusUntil(h, (st) => st.phase === 'awaiting-approval');
    expect(s.starter).toEqual({ name: 'alice', verified: true, how: 'signed start verified against approval.keys.alice' });
    expect((await h.describe()).memo?.starter).toMatchObject({ name: 'alice', verified: true });
    const runId = (await h.describe()).runId;
    expect(await rejectionOf(approve(h as WorkflowHandle, signControl('approve', h.workflowId, runId, { by: 'alice' }, alice.priv)))).toMatch(
      /^alice started this runbook/,
    );
    expect(await approve(h as WorkflowHandle, signControl('approve', h.workflowId, runId, { by: 'bob' }, bob.priv))).toBe('approved by bob');
    await h.result();
    expect((await routing()).weights[to]).toBe(100);
  });

  it('an unsigned start claiming another name cannot dodge four-eyes: it takes two different approvers', async () => {
    const to = (await routing()).weights['dest-a'] === 100 ? 'dest-b' : 'dest-a';
    // Alice starts it without signing, as "carol" (who has no key), and would like to approve it herself.
    const h = await start('failover', { to, actor: 'carol', reason: 'claimed name' });
    const s = await statusUntil(h, (st) => st.phase === 'awaiting-approval');
    expect(s.starter).toEqual({ name: 'carol', verified: false, how: 'unsigned start: the name is claimed, not proven' });
    const signedBy = (by: string, key: KeyObject) => signControl('approve', h.workflowId, h.firstExecutionRunId, { by, reason: 'ok' }, key);
    expect(await approve(h, signedBy('alice', alice.priv))).toMatch(/^approval 1 of 2 by alice; the start is unverified \(claimed by carol\)/);
    expect((await h.query(statusQuery)).phase).toBe('awaiting-approval');
    expect((await routing()).weights[to]).toBe(0);
    expect(await rejectionOf(approve(h, signedBy('alice', alice.priv)))).toBe(
      'alice already approved; the start is unverified, so a second, different approver is needed (four-eyes)',
    );
    expect(await approve(h, signedBy('bob', bob.priv))).toBe('approved by alice and bob');
    const result = (await h.result()) as FailoverResult;
    expect(result.steps.find((x) => x.name === 'approval')?.detail).toMatch(/^approved by alice and bob/);
    expect((await routing()).weights[to]).toBe(100);
  });

  it("refuses an unsigned start under a key holder's name, and a start signed with someone else's key, before any step", async () => {
    const before = await routing();
    const to = before.weights['dest-a'] === 100 ? 'dest-b' : 'dest-a';
    const unsigned = await start('failover', { to, actor: 'bob', reason: 'as bob' });
    expect(await failureOf(unsigned.result())).toEqual({
      type: 'Unauthorized',
      message: expect.stringMatching(/^start of failover refused: bob has a key in approval\.keys, so a start under their name must be signed/),
    });
    const input = { to, actor: 'alice', reason: 'forged' };
    const forged = await start('failover', {
      ...input,
      startSignature: signStart({ kind: 'failover', service: SERVICE, workflowId: `runbook-${SERVICE}`, starter: 'alice', reason: 'forged' }, mallory.priv),
    });
    expect(await failureOf(forged.result())).toEqual({
      type: 'Unauthorized',
      message: expect.stringMatching(/^start of failover refused: startSignature of alice does not verify/),
    });
    expect((await routing()).weights).toEqual(before.weights);
  });

  it('the typed API (and the MCP server, which uses it) signs starts as its signer', async () => {
    const to = (await routing()).weights['dest-a'] === 100 ? 'dest-b' : 'dest-a';
    const fm = FailoverManager.fromClient({
      client: t.client,
      taskQueue: t.taskQueue,
      fallbackConfig: () => config,
      actor: 'deploy-bot',
      signer: { name: 'bob', key: bob.priv },
    });
    const started = await fm.trigger({ service: SERVICE, runbook: 'failover', to, reason: 'typed api' });
    expect(started.actor).toBe('bob');
    const h = t.client.workflow.getHandle(started.workflowId, started.runId);
    ran.push(h.workflowId);
    const s = await statusUntil(h, (st) => st.phase === 'awaiting-approval');
    expect(s.starter).toEqual({ name: 'bob', verified: true, how: 'signed start verified against approval.keys.bob' });
    expect(await rejectionOf(approve(h as WorkflowHandle, signControl('approve', h.workflowId, started.runId, { by: 'bob' }, bob.priv)))).toMatch(
      /^bob started this runbook/,
    );
    await approve(h as WorkflowHandle, signControl('approve', h.workflowId, started.runId, { by: 'alice' }, alice.priv));
    await h.result();
    expect((await routing()).weights[to]).toBe(100);
  });
});
