import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { controlMessage, type ControlAction } from '../domain/control-auth';
import type { ControlRequest } from '../workflows/controls';

/** Where the CLI finds the operator's Ed25519 private key when --key is not given. */
export const SIGNING_KEY_ENV = 'FAILOVER_SIGNING_KEY';

/** Reads an Ed25519 private key (PEM, e.g. `openssl genpkey -algorithm ed25519`); the error names the file, never its content. */
export function loadSigningKey(file: string): KeyObject {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read signing key ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch {
    throw new Error(`signing key ${file}: expected an Ed25519 private key in PEM form`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`signing key ${file}: expected an Ed25519 key, got ${key.asymmetricKeyType}`);
  return key;
}

/** `req` signed for one action on one run: the workflow checks it against approval.keys.<by>. */
export function signControl(
  action: ControlAction,
  workflowId: string,
  runId: string,
  req: { by: string; reason?: string | undefined },
  key: KeyObject,
): ControlRequest {
  const signed = { by: req.by, ...(req.reason !== undefined ? { reason: req.reason } : {}), nonce: randomUUID() };
  const signature = sign(null, Buffer.from(controlMessage(action, workflowId, runId, signed)), key).toString('base64');
  return { ...signed, signature };
}
