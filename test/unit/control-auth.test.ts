import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { controlRefusal, ed25519PublicKey, isReservedActor, type ControlPolicy } from '../../src/domain/control-auth';
import { ed25519Verify, sha512 } from '../../src/domain/ed25519';
import { signControl } from '../../src/security/control-signing';
import { configProblems } from '../support/config-problems';

describe('Ed25519 in plain TypeScript (for the workflow sandbox)', () => {
  it('computes SHA-512 as node:crypto does, across block boundaries', () => {
    for (const n of [0, 1, 111, 112, 127, 128, 129, 500]) {
      const m = randomBytes(n);
      expect(Buffer.from(sha512(m)).toString('hex')).toBe(createHash('sha512').update(m).digest('hex'));
    }
  });

  it('accepts what node:crypto signs and refuses any change to key, message or signature', () => {
    for (let i = 0; i < 4; i++) {
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      const pub = ed25519PublicKey(publicKey.export({ format: 'pem', type: 'spki' }).toString())!;
      const msg = randomBytes(40 + i * 50);
      const sig = sign(null, msg, privateKey);
      expect(ed25519Verify(pub, msg, sig)).toBe(true);
      const badMsg = Buffer.from(msg);
      badMsg[0]! ^= 1;
      expect(ed25519Verify(pub, badMsg, sig)).toBe(false);
      const badSig = Buffer.from(sig);
      badSig[63]! ^= 0x10;
      expect(ed25519Verify(pub, msg, badSig)).toBe(false);
      const other = ed25519PublicKey(generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).toString('base64'))!;
      expect(ed25519Verify(other, msg, sig)).toBe(false);
    }
  });
});

describe('control authorization', () => {
  const alice = generateKeyPairSync('ed25519');
  const pub = alice.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  const policy: ControlPolicy = { approvers: ['alice', 'bob'], keys: { alice: pub }, four_eyes: undefined };
  const ctx = { action: 'approve' as const, workflowId: 'runbook-x', runId: 'r1', starter: 'bob', used: new Set<string>() };

  it('reserves the names the system acts under', () => {
    for (const n of ['detection', 'Schedule maint-x', 'supervisor', 'redundancy']) expect(isReservedActor(n)).toBe(true);
    expect(isReservedActor('detective')).toBe(false);
    expect(controlRefusal(undefined, { by: 'detection' }, ctx)).toMatch(/^by: "detection" is a name the system acts under/);
  });

  it('takes a signed approval once, bound to its action and run', () => {
    const req = signControl('approve', 'runbook-x', 'r1', { by: 'alice' }, alice.privateKey);
    expect(controlRefusal(policy, req, ctx)).toBeUndefined();
    expect(controlRefusal(policy, req, { ...ctx, used: new Set([req.signature!]) })).toBe('this signed request was already used; sign a new one');
    expect(controlRefusal(policy, req, { ...ctx, runId: 'r2' })).toMatch(/does not verify/);
    expect(controlRefusal(policy, { ...req, reason: 'changed' }, ctx)).toMatch(/does not verify/);
  });

  it('four-eyes is on by default with approvers, and can be turned off', () => {
    const bobPolicy: ControlPolicy = { approvers: ['alice', 'bob'], keys: {} };
    expect(controlRefusal(bobPolicy, { by: 'bob' }, ctx)).toMatch(/four-eyes/);
    expect(controlRefusal({ ...bobPolicy, four_eyes: false }, { by: 'bob' }, ctx)).toBeUndefined();
    // Pause and abort are limited to approvers but not to someone else than the starter.
    expect(controlRefusal(bobPolicy, { by: 'bob' }, { ...ctx, action: 'abort' })).toBeUndefined();
    expect(controlRefusal(bobPolicy, { by: 'eve' }, { ...ctx, action: 'pause' })).toMatch(/^eve may not pause this runbook/);
    expect(controlRefusal({ approvers: [], keys: {} }, { by: 'anyone' }, ctx)).toBeUndefined();
  });
});

describe('approval policy in config', () => {
  const cfg = (approval: string) => `
failover_manager:
  failover_execution:
    approval: ${approval}
services:
  - name: bus
    router: { type: file, path: /tmp/r.json }
    destinations: [{ id: a, zone: z, region: r, probe: { type: tcp, host: h, port: 1 } }]
`;
  it('refuses a system name among approvers and a key that is not an Ed25519 public key, naming the field', () => {
    expect(configProblems(cfg('{ approvers: [alice, detection], keys: { alice: "bm90IGEga2V5" } }'))).toEqual([
      expect.stringMatching(/^failover_manager\.failover_execution\.approval\.approvers\[1\]: expected a person's name, not one the system acts under/),
      expect.stringMatching(/^failover_manager\.failover_execution\.approval\.keys\.alice: expected an Ed25519 public key/),
    ]);
  });
});
