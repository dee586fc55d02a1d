import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { configChangeRefusal, documentDigest } from '../../src/domain/config-auth';
import { validateConfig } from '../../src/domain/config';
import { controlRefusal, type ControlPolicy } from '../../src/domain/control-auth';
import { approvalsNeeded, startVerdict, type StartPolicy } from '../../src/domain/start-auth';
import { signConfigChange, signedDocumentDigest } from '../../src/security/config-signing';
import { signStart } from '../../src/security/start-signing';
import { configProblems } from '../support/config-problems';

const pair = () => {
  const k = generateKeyPairSync('ed25519');
  return { pub: k.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'), priv: k.privateKey };
};

describe('signed runbook starts', () => {
  const alice = pair();
  const bob = pair();
  const policy: StartPolicy = { approvers: ['alice', 'bob'], keys: { alice: alice.pub, bob: bob.pub } };
  const startMs = Date.parse('2026-12-01T10:00:00Z');
  const ctx = { kind: 'failover', service: 'bus', workflowIds: ['runbook-bus'], startMs };
  const signed = (by: string, key = alice.priv, over: { at?: Date; workflowId?: string; kind?: string; reason?: string } = {}) => ({
    actor: by,
    reason: 'drill',
    startSignature: signStart(
      { kind: over.kind ?? 'failover', service: 'bus', workflowId: over.workflowId ?? 'runbook-bus', starter: by, reason: over.reason ?? 'drill' },
      key,
      over.at ?? new Date(startMs - 2_000),
    ),
  });

  it('verifies a start signed by the starter, and only that exact start', () => {
    expect(startVerdict(policy, signed('alice'), ctx)).toEqual({
      identity: { name: 'alice', verified: true, how: 'signed start verified against approval.keys.alice' },
    });
    // Someone else's key, another runbook type, another workflow id, another reason: refused.
    expect(startVerdict(policy, signed('alice', bob.priv), ctx)).toEqual({ refusal: expect.stringMatching(/^startSignature of alice does not verify/) });
    expect(startVerdict(policy, signed('alice', alice.priv, { kind: 'rollback' }), ctx)).toEqual({ refusal: expect.stringMatching(/does not verify/) });
    expect(startVerdict(policy, signed('alice', alice.priv, { workflowId: 'runbook-other' }), ctx)).toEqual({
      refusal: expect.stringMatching(/does not verify/),
    });
    expect(startVerdict(policy, { ...signed('alice'), reason: 'changed' }, ctx)).toEqual({ refusal: expect.stringMatching(/does not verify/) });
    // Started under another id and run as the lock's child: the statement names the first id.
    expect(startVerdict(policy, signed('alice', alice.priv, { workflowId: 'by-hand-1' }), { ...ctx, workflowIds: ['runbook-bus', 'by-hand-1'] })).toMatchObject(
      { identity: { verified: true } },
    );
  });

  it('refuses a stale signed start and a signature from someone without a key', () => {
    expect(startVerdict(policy, signed('alice', alice.priv, { at: new Date(startMs - 6 * 60_000) }), ctx)).toEqual({
      refusal: expect.stringMatching(/^startSignature: signed at .*, more than 5 min from the start of this run/),
    });
    expect(startVerdict(policy, signed('carol', alice.priv), ctx)).toEqual({
      refusal: 'startSignature: carol has no key in approval.keys, so their signature cannot be checked',
    });
  });

  it('records an unsigned start as unverified, refuses it naming a key holder or where signed starts are required', () => {
    expect(startVerdict(policy, { actor: 'carol' }, ctx)).toEqual({
      identity: { name: 'carol', verified: false, how: 'unsigned start: the name is claimed, not proven' },
    });
    expect(startVerdict(policy, { actor: 'bob' }, ctx)).toEqual({
      refusal: expect.stringMatching(/^bob has a key in approval\.keys, so a start under their name must be signed/),
    });
    expect(startVerdict({ ...policy, signed_starts: 'required' }, { actor: 'carol' }, ctx)).toEqual({
      refusal: expect.stringMatching(/^carol: this service requires signed starts \(approval\.signed_starts: required\)/),
    });
    // The system's own starts (checked by refuseForgedActor for how they were started) are not people's.
    expect(startVerdict({ ...policy, signed_starts: 'required' }, { actor: 'detection' }, ctx)).toEqual({
      identity: { name: 'detection', verified: true, how: 'started by the system' },
    });
  });

  it('four-eyes on an unverified start needs two different approvers, neither the claimed starter', () => {
    const unverified = { name: 'carol', verified: false, how: '' };
    expect(approvalsNeeded(policy, unverified)).toBe(2);
    expect(approvalsNeeded(policy, { name: 'alice', verified: true, how: '' })).toBe(1);
    expect(approvalsNeeded({ ...policy, four_eyes: false }, unverified)).toBe(1);
    // Without keys nothing is proven on either side: one approval, as before.
    expect(approvalsNeeded({ approvers: ['alice', 'bob'], keys: {} }, unverified)).toBe(1);
    const noKeys: ControlPolicy = { approvers: ['alice', 'bob'], keys: {} };
    const c = { action: 'approve' as const, workflowId: 'runbook-bus', runId: 'r1', starter: 'carol', used: new Set<string>() };
    expect(controlRefusal(noKeys, { by: 'alice' }, { ...c, approvedBy: ['alice'] })).toBe(
      'alice already approved; the start is unverified, so a second, different approver is needed (four-eyes)',
    );
    expect(controlRefusal(noKeys, { by: 'bob' }, { ...c, approvedBy: ['alice'] })).toBeUndefined();
  });
});

describe('config changes limited to appliers', () => {
  const alice = pair();
  const mallory = pair();
  const text = (appliers: string) => `
failover_manager:
  config_changes: { appliers: ${appliers}, keys: { alice: "${alice.pub}" } }
services:
  - name: bus
    router: { type: file, path: /tmp/r.json }
    destinations: [{ id: a, zone: z, region: r, probe: { type: tcp, host: h, port: 1 } }]
`;
  const live = validateConfig({
    failover_manager: { config_changes: { appliers: ['alice'], keys: { alice: alice.pub } } },
    services: [
      {
        name: 'bus',
        router: { type: 'file', path: '/tmp/r.json' },
        destinations: [{ id: 'a', zone: 'z', region: 'r', probe: { type: 'tcp', host: 'h', port: 1 } }],
      },
    ],
  });
  const doc = { services: [] };
  const ctx = { action: 'apply' as const, supervisorId: 'supervisor-q', liveVersion: 3, target: documentDigest(doc) };
  const sign = (by: string, key = alice.priv, basedOn = 3) =>
    signConfigChange({ action: 'apply', supervisorId: 'supervisor-q', by, reason: 'why', basedOn, target: signedDocumentDigest(doc) }, key);

  it('refuses an unsigned, unlisted, wrongly signed or reserved-name change, naming who may apply; takes a signed one', () => {
    expect(configChangeRefusal(live, { by: 'alice', reason: 'why' }, ctx)).toMatch(
      /^config apply by alice must be signed with their key \(config_changes\.appliers of live version 3: alice\)/,
    );
    expect(configChangeRefusal(live, { by: 'mallory', reason: 'why', signature: sign('mallory', mallory.priv), expectVersion: 3 }, ctx)).toBe(
      'mallory may not apply the config: only the appliers may (config_changes.appliers of live version 3: alice), each request signed with their key (CLI --key)',
    );
    expect(configChangeRefusal(live, { by: 'alice', reason: 'why', signature: sign('alice', mallory.priv), expectVersion: 3 }, ctx)).toMatch(
      /^signature of alice does not verify/,
    );
    expect(configChangeRefusal(live, { by: 'supervisor', reason: 'why' }, ctx)).toMatch(/^by: "supervisor" is a name the system acts under/);
    expect(configChangeRefusal(live, { by: 'alice', reason: 'why', signature: sign('alice'), expectVersion: 3 }, ctx)).toBeUndefined();
    // Bound to the live version and the document: not good for another base or another document.
    // (The supervisor refuses an expectVersion other than the live one before this check.)
    expect(configChangeRefusal(live, { by: 'alice', reason: 'why', signature: sign('alice', alice.priv, 2), expectVersion: 3 }, ctx)).toMatch(
      /does not verify/,
    );
    expect(
      configChangeRefusal(
        live,
        { by: 'alice', reason: 'why', signature: sign('alice'), expectVersion: 3 },
        { ...ctx, target: documentDigest({ services: [1] }) },
      ),
    ).toMatch(/does not verify/);
    // A dry run changes nothing.
    expect(configChangeRefusal(live, { by: 'mallory', reason: 'why', dryRun: true }, ctx)).toBeUndefined();
  });

  it('an applier needs a key, or the config would lock everyone out', () => {
    expect(configProblems(text('[alice, bob]'))).toEqual([
      expect.stringMatching(/^failover_manager\.config_changes\.appliers\[1\]: bob has no key in config_changes\.keys/),
    ]);
    expect(configProblems(text('[alice, schedule]'))[0]).toMatch(/^failover_manager\.config_changes\.appliers\[1\]: expected a person's name/);
  });
});
