import { ed25519Verify } from './ed25519';

/**
 * Who may act on a running runbook. Pure and deterministic: it runs inside update validators.
 *
 * - `by` names a person. Names the system acts under (`detection`, `schedule`, `supervisor`, …) are
 *   refused from a person, so the audit trail cannot be forged.
 * - `approval.approvers` (per service, or fleet default): only they may approve, pause, resume or abort.
 * - four-eyes (default on when approvers are listed): the approver is not who started the runbook.
 * - `approval.keys` (name → Ed25519 public key): that person's requests must be signed over the
 *   exact action, runbook, run, name, reason and a nonce; a signature is good for one request.
 */
export const RESERVED_ACTORS = ['detection', 'schedule', 'supervisor', 'redundancy', 'timeout', 'system'] as const;

export function isReservedActor(name: string): boolean {
  const n = name.trim().toLowerCase();
  return RESERVED_ACTORS.some((r) => n === r || n.startsWith(`${r} `) || n.startsWith(`${r}:`));
}

export type ControlAction = 'approve' | 'pause' | 'resume' | 'abort';

export interface ControlPolicy {
  approvers: string[];
  four_eyes?: boolean | undefined;
  /** name → Ed25519 public key, base64 (32 raw bytes or the SPKI DER form `openssl pkey -pubout -outform DER` writes). */
  keys: Record<string, string>;
}

export interface SignedControl {
  by?: string | undefined;
  reason?: string | undefined;
  /** base64 Ed25519 signature of controlMessage(). */
  signature?: string | undefined;
  /** Any unique text (the CLI sends a random one): makes each signed request distinct. */
  nonce?: string | undefined;
}

/** The bytes a person signs: one action on one run of one runbook. */
export function controlMessage(action: ControlAction, workflowId: string, runId: string, req: SignedControl): string {
  return ['failover-manager control v1', action, workflowId, runId, req.by ?? '', req.reason ?? '', req.nonce ?? ''].join('\n');
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard or URL-safe base64, padded or not; undefined when it is not base64. */
export function base64Decode(text: string): Uint8Array | undefined {
  const s = text.trim().replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(s) || s.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const c of s) {
    value = (value << 6) | B64.indexOf(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  return out;
}

const SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/** The 32 raw bytes of an Ed25519 public key given as base64 raw bytes, SPKI DER, or a PEM block. */
export function ed25519PublicKey(text: string): Uint8Array | undefined {
  const body = text.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  const bytes = base64Decode(body);
  if (!bytes) return undefined;
  if (bytes.length === 32) return bytes;
  if (bytes.length === 44 && SPKI_PREFIX.every((b, i) => bytes[i] === b)) return bytes.subarray(12);
  return undefined;
}

export interface ControlContext {
  action: ControlAction;
  workflowId: string;
  runId: string;
  /** Who started the runbook (its `actor`, proven or claimed: see start-auth.ts), for four-eyes. */
  starter?: string | undefined;
  /** Approvers who already approved at this gate (an unverified start needs two). */
  approvedBy?: readonly string[] | undefined;
  /** Signatures already used in this run. */
  used: ReadonlySet<string>;
}

/** Why `req` may not do `ctx.action` under `policy`; undefined when it may. */
export function controlRefusal(policy: ControlPolicy | undefined, req: SignedControl, ctx: ControlContext): string | undefined {
  const by = req.by?.trim();
  if (by !== undefined && isReservedActor(by)) return `by: "${by}" is a name the system acts under (${RESERVED_ACTORS.join(', ')}); give your own name`;
  if (!policy) return undefined;
  const listed = policy.approvers.length > 0;
  if (listed) {
    if (by === undefined) return `by: expected your name; ${ctx.action} is limited to the approvers (approval.approvers)`;
    if (!policy.approvers.includes(by))
      return `${by} may not ${ctx.action} this runbook: not one of the approvers (approval.approvers: ${policy.approvers.join(', ')})`;
  }
  const fourEyes = policy.four_eyes ?? listed;
  if (ctx.action === 'approve' && fourEyes && by !== undefined && ctx.starter !== undefined && by === ctx.starter.trim()) {
    return `${by} started this runbook and may not approve it too (four-eyes: approval.four_eyes)`;
  }
  if (ctx.action === 'approve' && by !== undefined && ctx.approvedBy?.includes(by)) {
    return `${by} already approved; the start is unverified, so a second, different approver is needed (four-eyes)`;
  }
  const key = by !== undefined ? policy.keys[by] : undefined;
  if (key !== undefined) {
    if (!req.signature || !req.nonce) return `${ctx.action} by ${by} must be signed with their key (approval.keys.${by}): use the CLI with --key`;
    if (ctx.used.has(req.signature)) return 'this signed request was already used; sign a new one';
    const pub = ed25519PublicKey(key);
    const sig = base64Decode(req.signature);
    const message = new TextEncoder().encode(controlMessage(ctx.action, ctx.workflowId, ctx.runId, req));
    if (!pub || !sig || !ed25519Verify(pub, message, sig)) {
      return `signature of ${by} does not verify against approval.keys.${by} for ${ctx.action} of ${ctx.workflowId} run ${ctx.runId}`;
    }
  } else if (listed && Object.keys(policy.keys).length > 0) {
    // Keys are in use: a listed approver without one cannot prove who they are.
    return `${by} has no key in approval.keys; every approver needs one once keys are configured`;
  }
  return undefined;
}
