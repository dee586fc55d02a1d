import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { AesGcmCodec, codecKeysFromEnv, ensureCodecKeyFile, missingKeyMessage } from '../../src/security/codec';

const key = () => randomBytes(32).toString('base64');

describe('AES-256-GCM payload codec', () => {
  it('round-trips payloads, and reads old keys after a rotation by id', async () => {
    const k1 = key();
    const old = new AesGcmCodec(codecKeysFromEnv({ FAILOVER_CODEC_KEY: k1, FAILOVER_CODEC_KEY_ID: 'k1' })!);
    const plain = [defaultPayloadConverter.toPayload({ service: 'orders-bus', password_env: 'X' })];
    const sealed = await old.encode(plain);
    expect(Buffer.from(sealed[0]!.data!).toString('latin1')).not.toContain('orders-bus');
    const rotated = new AesGcmCodec(codecKeysFromEnv({ FAILOVER_CODEC_KEY: key(), FAILOVER_CODEC_KEY_ID: 'k2', FAILOVER_CODEC_OLD_KEYS: `k1:${k1}` })!);
    expect(defaultPayloadConverter.fromPayload((await rotated.decode(sealed))[0]!)).toEqual({ service: 'orders-bus', password_env: 'X' });
    const resealed = await rotated.encode(plain);
    expect(Buffer.from(resealed[0]!.metadata!['encryption-key-id']!).toString()).toBe('k2');
    await expect(old.decode(resealed)).rejects.toThrow('payload encrypted with key id "k2", which this process does not have');
    // Unencrypted payloads (histories from before the codec) pass through.
    expect(await rotated.decode(plain)).toEqual(plain);
  });

  it('a client without the key is told which flag it lacks, not "Unknown encoding"', async () => {
    const codec = new AesGcmCodec(codecKeysFromEnv({ FAILOVER_CODEC_KEY: key() })!);
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload({ service: 'orders-bus' })]);
    let read: unknown;
    try {
      defaultPayloadConverter.fromPayload(sealed!);
    } catch (err) {
      read = err;
    }
    expect(missingKeyMessage(new Error('query failed', { cause: read }), 'the health query')).toMatch(
      /^the health query is encrypted and this client has no key for it: pass --codec-keys <file>/,
    );
    expect(missingKeyMessage(new Error('connection refused'))).toBeUndefined();
  });

  it('refuses a tampered payload', async () => {
    const c = new AesGcmCodec(codecKeysFromEnv({ FAILOVER_CODEC_KEY: key() })!);
    const [p] = await c.encode([defaultPayloadConverter.toPayload('x')]);
    p!.data![20]! ^= 1;
    await expect(c.decode([p!])).rejects.toThrow();
  });

  it('reads a key file, names what is wrong without showing a key, and generates a local one with mode 0600', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-codec-unit-'));
    const file = path.join(dir, 'keys.json');
    fs.writeFileSync(file, JSON.stringify({ current: 'a', keys: { a: 'c2hvcnQta2V5' } }));
    expect(() => codecKeysFromEnv({ FAILOVER_CODEC_KEYS_FILE: file })).toThrow(`${file}: keys.a: expected base64 of a 32-byte AES-256 key`);
    expect(() => codecKeysFromEnv({ FAILOVER_CODEC_KEY: 'c2hvcnQta2V5' })).toThrow(/^FAILOVER_CODEC_KEY: expected base64 of a 32-byte AES-256 key$/);
    const made = ensureCodecKeyFile(path.join(dir, 'local.json'));
    expect(fs.statSync(made).mode & 0o777).toBe(0o600);
    expect(codecKeysFromEnv({ FAILOVER_CODEC_KEYS_FILE: made })?.keys.size).toBe(1);
    expect(codecKeysFromEnv({})).toBeUndefined();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
