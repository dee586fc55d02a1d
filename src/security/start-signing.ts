import { sign, type KeyObject } from 'node:crypto';
import { startMessage, type StartSignature } from '../domain/start-auth';

/** A start of `kind` on `service` under `workflowId`, signed by `starter`: the runbook checks it against approval.keys.<starter>. */
export function signStart(
  s: { kind: string; service: string; workflowId: string; starter: string; reason?: string | undefined },
  key: KeyObject,
  now: Date = new Date(),
): StartSignature {
  const at = now.toISOString();
  const signature = sign(null, Buffer.from(startMessage({ ...s, at })), key).toString('base64');
  return { at, signature };
}
