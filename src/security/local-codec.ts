import fs from 'node:fs';
import path from 'node:path';
import type { DataConverter } from '@temporalio/common';
import { DEFAULT_DATA_DIR, runningInstance } from '../local-instance';
import { AesGcmCodec, CODEC_ENV, codecKeysFromEnv, dataConverterFromEnv, ensureCodecKeyFile } from './codec';
import { startCodecServer } from './codec-server';

/** The key file npm start keeps in its data directory. */
export const LOCAL_KEY_FILE = 'codec-keys.json';

/**
 * For npm start with its own dev server: payloads are encrypted with a key generated once in the
 * data directory (unless FAILOVER_CODEC_* already names keys), and a codec endpoint on loopback lets
 * the dev server's Web UI show them decoded. Sets FAILOVER_CODEC_KEYS_FILE for this process.
 */
export async function startLocalCodec(dataDir: string, uiPort: number): Promise<{ keysFile?: string; endpoint: string; close(): Promise<void> }> {
  let keysFile: string | undefined;
  if (!process.env[CODEC_ENV.file] && !process.env[CODEC_ENV.key]) {
    keysFile = ensureCodecKeyFile(path.join(dataDir, LOCAL_KEY_FILE));
    process.env[CODEC_ENV.file] = keysFile;
  }
  const codec = new AesGcmCodec(codecKeysFromEnv()!);
  const server = await startCodecServer({ codec, origins: [`http://127.0.0.1:${uiPort}`, `http://localhost:${uiPort}`] });
  return { ...(keysFile ? { keysFile } : {}), endpoint: server.url, close: () => server.close() };
}

/**
 * The key file a CLI command for the npm start of `dataDir` must name (--codec-keys): none for the
 * default data directory, whose key the CLI finds by itself (see cliDataConverter).
 */
export function codecKeysFlagFor(dataDir: string, keysFile = path.join(dataDir, LOCAL_KEY_FILE)): string | undefined {
  return path.resolve(dataDir) !== path.resolve(DEFAULT_DATA_DIR) && fs.existsSync(keysFile) ? keysFile : undefined;
}

/**
 * The CLI's data converter: the key file given (--codec-keys), or the keys the environment names; else, when the CLI talks to the dev
 * server of a running npm start (FAILOVER_DATA_DIR or the default data directory), that npm start's
 * key file, so the commands it prints work as pasted.
 */
export function cliDataConverter(address: string, keysFile?: string, env: NodeJS.ProcessEnv = process.env): DataConverter {
  if (keysFile !== undefined) return dataConverterFromEnv({ [CODEC_ENV.file]: keysFile });
  if (env[CODEC_ENV.file] || env[CODEC_ENV.key]) return dataConverterFromEnv(env);
  const dataDir = path.resolve(env.FAILOVER_DATA_DIR ?? DEFAULT_DATA_DIR);
  const local = path.join(dataDir, LOCAL_KEY_FILE);
  if (runningInstance(dataDir)?.temporal?.address !== address || !fs.existsSync(local)) return {};
  return dataConverterFromEnv({ [CODEC_ENV.file]: local });
}
