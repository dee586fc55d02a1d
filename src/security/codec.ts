import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';

/**
 * AES-256-GCM payload codec: every payload (workflow inputs and results, activity arguments, signals,
 * updates, queries, memos) is encrypted before it leaves the process, so Temporal's database and
 * anyone reading histories without the key see only ciphertext. Each payload names the key id it
 * was encrypted with: keys rotate by adding a new current id and keeping the old ones for reading.
 * Payloads that are not encrypted (histories from before the codec) pass through unchanged.
 */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_META = 'encryption-key-id';
const IV_BYTES = 12;

/**
 * What to say instead of the SDK's "Unknown encoding: binary/encrypted" (a client without the key
 * read an encrypted payload); undefined for any other error.
 */
export function missingKeyMessage(err: unknown, what = 'an answer'): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && !e.message.includes(`Unknown encoding: ${ENCRYPTED_ENCODING}`) && depth < 5; depth++) e = e.cause;
  if (!(e instanceof Error)) return undefined;
  return `${what} is encrypted and this client has no key for it: pass --codec-keys <file> or set FAILOVER_CODEC_KEYS_FILE (npm start keeps its key in <data-dir>/codec-keys.json)`;
}
const TAG_BYTES = 16;

export interface CodecKeys {
  /** The id new payloads are encrypted with. */
  current: string;
  keys: Map<string, Buffer>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A payload as JSON bytes (metadata and data base64): what gets encrypted. */
function serialize(p: Payload): Uint8Array {
  const metadata = Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  return enc.encode(JSON.stringify({ metadata, data: Buffer.from(p.data ?? new Uint8Array()).toString('base64') }));
}

function deserialize(bytes: Uint8Array): Payload {
  const o = JSON.parse(dec.decode(bytes)) as { metadata: Record<string, string>; data: string };
  return {
    metadata: Object.fromEntries(Object.entries(o.metadata).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
    data: new Uint8Array(Buffer.from(o.data, 'base64')),
  };
}

export class AesGcmCodec implements PayloadCodec {
  constructor(private readonly keys: CodecKeys) {
    if (!keys.keys.has(keys.current)) throw new Error(`payload codec: no key with the current id "${keys.current}"`);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.keys.get(this.keys.current)!;
    return payloads.map((p) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(serialize(p)), cipher.final()]);
      return {
        metadata: { encoding: enc.encode(ENCRYPTED_ENCODING), [KEY_ID_META]: enc.encode(this.keys.current) },
        data: new Uint8Array(Buffer.concat([iv, body, cipher.getAuthTag()])),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (p.metadata?.encoding === undefined || dec.decode(p.metadata.encoding) !== ENCRYPTED_ENCODING) return p;
      const id = p.metadata[KEY_ID_META] ? dec.decode(p.metadata[KEY_ID_META]) : '';
      const key = this.keys.keys.get(id);
      if (!key) throw new Error(`payload encrypted with key id "${id}", which this process does not have (see FAILOVER_CODEC_KEYS_FILE)`);
      const data = Buffer.from(p.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new Error('encrypted payload too short');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return deserialize(plain);
    });
  }
}

/** Where the keys come from; a file is preferred (it can be rotated and permission-protected). */
export const CODEC_ENV = {
  /** JSON file: {"current": "<id>", "keys": {"<id>": "<base64 of 32 bytes>", …}} */
  file: 'FAILOVER_CODEC_KEYS_FILE',
  /** Or the current key (base64 of 32 bytes) … */
  key: 'FAILOVER_CODEC_KEY',
  /** … its id (default "default") … */
  keyId: 'FAILOVER_CODEC_KEY_ID',
  /** … and older keys still needed to read: "id:base64,id:base64". */
  oldKeys: 'FAILOVER_CODEC_OLD_KEYS',
} as const;

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

function keyBytes(text: unknown, where: string): Buffer {
  const b = typeof text === 'string' ? Buffer.from(text, 'base64') : Buffer.alloc(0);
  // The value is a secret: the message says what is wrong with it, never what it is.
  if (b.length !== 32) throw new Error(`${where}: expected base64 of a 32-byte AES-256 key`);
  return b;
}

/** The codec keys the environment names, or undefined when none are configured (payloads stay plain). */
export function codecKeysFromEnv(env: NodeJS.ProcessEnv = process.env): CodecKeys | undefined {
  const file = env[CODEC_ENV.file];
  if (file) {
    let doc: { current?: unknown; keys?: unknown };
    try {
      doc = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof doc;
    } catch (err) {
      throw new Error(`${CODEC_ENV.file}=${file}: cannot read a JSON key file (${(err as NodeJS.ErrnoException).code ?? 'invalid JSON'})`);
    }
    if (typeof doc.current !== 'string' || !KEY_ID.test(doc.current))
      throw new Error(`${file}: "current": expected a key id of letters, digits, ".", "_" or "-"`);
    if (!doc.keys || typeof doc.keys !== 'object') throw new Error(`${file}: "keys": expected an object of key id → base64 key`);
    const keys = new Map<string, Buffer>();
    for (const [id, v] of Object.entries(doc.keys as Record<string, unknown>)) {
      if (!KEY_ID.test(id)) throw new Error(`${file}: keys: "${id}" is not a valid key id`);
      keys.set(id, keyBytes(v, `${file}: keys.${id}`));
    }
    if (!keys.has(doc.current)) throw new Error(`${file}: "current" names "${doc.current}", which is not in "keys"`);
    return { current: doc.current, keys };
  }
  const key = env[CODEC_ENV.key];
  if (!key) return undefined;
  const current = env[CODEC_ENV.keyId] || 'default';
  if (!KEY_ID.test(current)) throw new Error(`${CODEC_ENV.keyId}: expected a key id of letters, digits, ".", "_" or "-"`);
  const keys = new Map<string, Buffer>([[current, keyBytes(key, CODEC_ENV.key)]]);
  for (const entry of (env[CODEC_ENV.oldKeys] ?? '').split(',').filter(Boolean)) {
    const i = entry.indexOf(':');
    const id = entry.slice(0, i);
    if (i < 1 || !KEY_ID.test(id)) throw new Error(`${CODEC_ENV.oldKeys}: expected "id:base64key" entries separated by ","`);
    keys.set(id, keyBytes(entry.slice(i + 1), `${CODEC_ENV.oldKeys} ${id}`));
  }
  return { current, keys };
}

/** The data converter every client and worker of this project uses: encrypting when keys are configured. */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter {
  const keys = codecKeysFromEnv(env);
  return keys ? { payloadCodecs: [new AesGcmCodec(keys)] } : {};
}

/** Writes a fresh key file (mode 0600) for a local setup; keeps an existing one. Returns its path. */
export function ensureCodecKeyFile(file: string): string {
  if (fs.existsSync(file)) return file;
  const id = `local-${new Date().toISOString().slice(0, 10)}`;
  const doc = { current: id, keys: { [id]: randomBytes(32).toString('base64') } };
  fs.writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return file;
}
