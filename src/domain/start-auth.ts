import { base64Decode, ed25519PublicKey, isReservedActor, type ControlPolicy } from './control-auth';
import { ed25519Verify } from './ed25519';

/**
 * Who started a runbook, proven or claimed. Pure and deterministic: it runs inside the workflow.
 *
 * A person with a key in `approval.keys` signs the start statement (runbook type, service, workflow
 * id, their name, the time, the reason) with Ed25519; the runbook checks it against the public key
 * in its config snapshot and records the starter as verified. An unsigned start is recorded as
 * unverified (or refused under `approval.signed_starts: required`); it may not name a person who
 * has a key, and under four-eyes it needs two approvers (see controlRefusal), so claiming another
 * name does not let anyone approve their own runbook.
 */

/** How far the signing time may be from the run's start: long enough for clock skew, short enough that a copied start goes stale. */
export const START_SIGNATURE_WINDOW_MS = 5 * 60_000;

export interface StartSignature {
  /** When it was signed (ISO 8601). */
  at: string;
  /** base64 Ed25519 signature of startMessage(). */
  signature: string;
}

export interface StartStatement {
  kind: string;
  service: string;
  workflowId: string;
  starter: string;
  at: string;
  reason?: string | undefined;
}

/** The bytes a person signs to start one runbook. */
export function startMessage(s: StartStatement): string {
  return ['failover-manager start v1', s.kind, s.service, s.workflowId, s.starter, s.at, s.reason ?? ''].join('\n');
}

export interface StartIdentity {
  /** The starter's name (absent: the start named nobody). */
  name?: string;
  /** True when proven: a signed start that verified, or a start by the system (another workflow, a Schedule). */
  verified: boolean;
  /** How it was established, for the record. */
  how: string;
}

export interface StartPolicy extends ControlPolicy {
  /** `required`: a person's start must be signed; `optional` (default): unsigned starts run, recorded as unverified. */
  signed_starts?: 'optional' | 'required' | undefined;
}

export interface StartContext {
  kind: string;
  service: string;
  /** The ids the statement may name: the run's own, and the workflow that started it under the lock. */
  workflowIds: string[];
  /** The run's start time (ms since epoch; deterministic). */
  startMs: number;
}

/** The starter's identity, or why the start is refused. */
export function startVerdict(
  policy: StartPolicy,
  req: { actor?: string | undefined; reason?: string | undefined; startSignature?: StartSignature | undefined },
  ctx: StartContext,
): { identity: StartIdentity } | { refusal: string } {
  const actor = req.actor?.trim();
  const signed = req.startSignature;
  // Only the system can start under these names (refuseForgedActor checked how this run was started).
  if (actor !== undefined && isReservedActor(actor) && !signed) return { identity: { name: actor, verified: true, how: 'started by the system' } };
  if (signed) {
    if (!actor) return { refusal: 'startSignature: a signed start names its starter (actor)' };
    const key = policy.keys[actor];
    if (key === undefined) return { refusal: `startSignature: ${actor} has no key in approval.keys, so their signature cannot be checked` };
    const atMs = Date.parse(signed.at);
    if (!Number.isFinite(atMs)) return { refusal: `startSignature.at: expected an ISO 8601 time (got ${JSON.stringify(signed.at)})` };
    if (Math.abs(ctx.startMs - atMs) > START_SIGNATURE_WINDOW_MS) {
      return {
        refusal: `startSignature: signed at ${signed.at}, more than ${START_SIGNATURE_WINDOW_MS / 60_000} min from the start of this run; sign the start again (a copied signed start goes stale)`,
      };
    }
    const pub = ed25519PublicKey(key);
    const sig = base64Decode(signed.signature);
    const ok = ctx.workflowIds.some((workflowId) => {
      const message = startMessage({ kind: ctx.kind, service: ctx.service, workflowId, starter: actor, at: signed.at, reason: req.reason });
      return !!pub && !!sig && ed25519Verify(pub, new TextEncoder().encode(message), sig);
    });
    if (!ok)
      return {
        refusal: `startSignature of ${actor} does not verify against approval.keys.${actor} for a ${ctx.kind} of ${ctx.service} (${ctx.workflowIds.join(' or ')})`,
      };
    return { identity: { name: actor, verified: true, how: `signed start verified against approval.keys.${actor}` } };
  }
  if (policy.signed_starts === 'required') {
    return {
      refusal: `${actor ?? 'an unnamed starter'}: this service requires signed starts (approval.signed_starts: required); start it with your key (CLI --key, or FAILOVER_SIGNING_KEY)`,
    };
  }
  if (actor !== undefined && policy.keys[actor] !== undefined) {
    return {
      refusal: `${actor} has a key in approval.keys, so a start under their name must be signed with it (CLI --key); an unsigned start cannot name them`,
    };
  }
  return { identity: { ...(actor ? { name: actor } : {}), verified: false, how: 'unsigned start: the name is claimed, not proven' } };
}

/** Four-eyes on an unverified start needs this many approvers: one of them may be the real starter under another name. */
export function approvalsNeeded(policy: ControlPolicy, starter: StartIdentity | undefined): number {
  if (!starter || starter.verified) return 1;
  const fourEyes = policy.four_eyes ?? policy.approvers.length > 0;
  return fourEyes && Object.keys(policy.keys).length > 0 ? 2 : 1;
}
