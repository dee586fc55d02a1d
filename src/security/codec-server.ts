import http from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { timingSafeEqual, createHash } from 'node:crypto';

/**
 * Temporal's remote codec protocol (`POST /encode`, `POST /decode` with `{"payloads": [...]}`, metadata
 * and data base64), so the Web UI (`temporal server start-dev --ui-codec-endpoint`, or the UI's
 * TEMPORAL_CODEC_ENDPOINT) shows decoded payloads to the people who can reach this endpoint. It listens
 * on loopback by default; with a token, every request must carry it (the UI's "pass access token").
 */
export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Origins allowed by CORS: the Web UI's (http://127.0.0.1:8233). */
  origins: string[];
  /** Bearer token required on every request, when set. */
  token?: string | undefined;
  host?: string;
  port?: number;
  /** Largest request body (bytes). */
  bodyLimit?: number;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const toPayload = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

function sameToken(presented: string, expected: string): boolean {
  return timingSafeEqual(createHash('sha256').update(presented).digest(), createHash('sha256').update(expected).digest());
}

export async function startCodecServer(o: CodecServerOptions): Promise<{ url: string; close(): Promise<void> }> {
  const limit = o.bodyLimit ?? 4 * 1024 * 1024;
  const server = http.createServer((req, res) => {
    const origin = req.headers.origin;
    if (origin && o.origins.includes(origin)) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('access-control-allow-headers', 'content-type, x-namespace, authorization');
      res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
      res.setHeader('vary', 'origin');
    }
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    const action = req.url?.split('?')[0]?.replace(/\/+$/, '').split('/').pop();
    if (req.method !== 'POST' || (action !== 'encode' && action !== 'decode')) return send(404, { error: 'expected POST /encode or POST /decode' });
    if (o.token !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      if (!m || !sameToken(m[1]!, o.token)) return send(401, { error: 'unauthorized' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        send(413, { error: `body larger than ${limit} bytes` });
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      if (size > limit) return;
      void (async () => {
        let payloads: Payload[];
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { payloads?: JsonPayload[] };
          if (!Array.isArray(body.payloads)) throw new Error('expected {"payloads": [...]}');
          payloads = body.payloads.map(toPayload);
        } catch (err) {
          return send(400, { error: (err as Error).message });
        }
        try {
          const out = action === 'encode' ? await o.codec.encode(payloads) : await o.codec.decode(payloads);
          send(200, { payloads: out.map(toJson) });
        } catch (err) {
          // A payload for an unknown key or a tampered one: say so, without detail on the keys.
          send(400, { error: (err as Error).message });
        }
      })();
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(o.port ?? 0, o.host ?? '127.0.0.1', resolve));
  const addr = server.address() as { port: number };
  return {
    url: `http://${o.host ?? '127.0.0.1'}:${addr.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
