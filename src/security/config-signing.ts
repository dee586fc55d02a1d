import { sign, type KeyObject } from 'node:crypto';
import { configChangeMessage, documentDigest, type ConfigChangeStatement } from '../domain/config-auth';

/** The signature the supervisor checks for a config change by `s.by` (config-auth.ts). */
export function signConfigChange(s: ConfigChangeStatement, key: KeyObject): string {
  return sign(null, Buffer.from(configChangeMessage(s)), key).toString('base64');
}

/** The digest the supervisor computes of a document as it receives it (after the JSON round trip of the payload). */
export function signedDocumentDigest(doc: unknown): string {
  return documentDigest(JSON.parse(JSON.stringify(doc ?? null)));
}
