import { createLogger } from '../logger';
import { AesGcmCodec, CODEC_ENV, codecKeysFromEnv } from './codec';
import { startCodecServer } from './codec-server';

/**
 * The codec endpoint as its own process (docker compose profile `codec`): the Web UI's browser
 * calls it to show decoded payloads. CODEC_SERVER_LISTEN host:port (default 127.0.0.1:8888),
 * CODEC_SERVER_ORIGINS the Web UI origins (comma-separated), FAILOVER_CODEC_SERVER_TOKEN an optional
 * bearer token; keys as for the worker (FAILOVER_CODEC_KEYS_FILE …).
 */
async function main(): Promise<void> {
  const logger = createLogger('codec-server');
  const keys = codecKeysFromEnv();
  if (!keys) throw new Error(`no codec keys: set ${CODEC_ENV.file} (or ${CODEC_ENV.key})`);
  const listen = process.env.CODEC_SERVER_LISTEN ?? '127.0.0.1:8888';
  const m = /^(.+):(\d{1,5})$/.exec(listen);
  if (!m) throw new Error(`CODEC_SERVER_LISTEN: expected host:port (got ${JSON.stringify(listen)})`);
  const origins = (process.env.CODEC_SERVER_ORIGINS ?? 'http://localhost:8080')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const token = process.env.FAILOVER_CODEC_SERVER_TOKEN || undefined;
  const server = await startCodecServer({ codec: new AesGcmCodec(keys), origins, token, host: m[1]!, port: Number(m[2]) });
  logger.info({ url: server.url, origins, keyIds: [...keys.keys.keys()], current: keys.current, token: token ? 'required' : 'none' }, 'codec server listening');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
