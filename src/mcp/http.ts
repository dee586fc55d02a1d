import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { SessionIdentity } from './server';

/** Environment variables holding the bearer tokens (see README, "MCP server"). */
export const TOKEN_ENV = 'FAILOVER_MCP_TOKEN';
export const TOKEN_NAME_ENV = 'FAILOVER_MCP_TOKEN_NAME';
export const TOKENS_ENV = 'FAILOVER_MCP_TOKENS';

export interface NamedToken {
  name: string;
  token: string;
}

/** A token too short to resist guessing is refused, as is a malformed list. */
const MIN_TOKEN_LENGTH = 16;

/**
 * The tokens HTTP clients may present: FAILOVER_MCP_TOKEN (named by FAILOVER_MCP_TOKEN_NAME,
 * default "default"), and/or FAILOVER_MCP_TOKENS as "name:token,name:token" (one per person or
 * program, so the actor recorded says whose token it was). Problems name the variable.
 */
export function tokensFromEnv(env: NodeJS.ProcessEnv): NamedToken[] {
  const out: NamedToken[] = [];
  const problems: string[] = [];
  const add = (name: string, token: string, where: string) => {
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name))
      problems.push(`${where}: token name ${JSON.stringify(name)}: expected 1-64 letters, digits, ".", "_", "@" or "-"`);
    else if (token.length < MIN_TOKEN_LENGTH) problems.push(`${where}: the token named ${name} is shorter than ${MIN_TOKEN_LENGTH} characters`);
    else if (out.some((t) => t.name === name)) problems.push(`${where}: token name ${name} is used twice`);
    else out.push({ name, token });
  };
  const single = env[TOKEN_ENV];
  if (single) add(env[TOKEN_NAME_ENV] || 'default', single, TOKEN_ENV);
  for (const [i, entry] of (env[TOKENS_ENV] ?? '')
    .split(',')
    .filter((e) => e.trim() !== '')
    .entries()) {
    const at = entry.indexOf(':');
    if (at <= 0) problems.push(`${TOKENS_ENV}: entry ${i + 1}: expected "name:token"`);
    else add(entry.slice(0, at).trim(), entry.slice(at + 1).trim(), TOKENS_ENV);
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
  return out;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** The name of the token a request presents, or undefined; constant time in the token's content. */
export function authenticate(header: string | undefined, tokens: readonly NamedToken[]): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const presented = digest(m[1]!);
  let found: string | undefined;
  for (const t of tokens) if (timingSafeEqual(presented, digest(t.token)) && found === undefined) found = t.name;
  return found;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export interface HttpServerOptions {
  host: string;
  port: number;
  /** null: no authentication (only allowed on a loopback address). */
  tokens: NamedToken[] | null;
  createServer: (who: SessionIdentity) => McpServer;
  logger: Logger;
  maxSessions?: number;
  /** A session unused this long is closed. */
  idleMs?: number;
  bodyLimit?: number;
}

export interface RunningHttpServer {
  url: string;
  close(): Promise<void>;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  tokenName: string;
  lastSeen: number;
}

function send(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

const rpcError = (code: number, message: string) => ({ jsonrpc: '2.0', error: { code, message }, id: null });

async function readBody(req: IncomingMessage, limit: number): Promise<{ ok: true; body: unknown } | { ok: false; status: number; message: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return { ok: false, status: 413, message: `request body larger than ${limit} bytes` };
    chunks.push(chunk as Buffer);
  }
  try {
    return { ok: true, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch {
    return { ok: false, status: 400, message: 'request body is not JSON' };
  }
}

/**
 * Streamable HTTP on `/mcp`: every request must carry a bearer token (401 otherwise, before
 * anything else is looked at); each session is bound to the token it started with. On a loopback
 * address the Host header must be a loopback name too (no DNS rebinding from a browser).
 */
export async function startMcpHttpServer(o: HttpServerOptions): Promise<RunningHttpServer> {
  if (o.tokens === null && !isLoopback(o.host))
    throw new Error(`refusing to serve MCP without a token on ${o.host}: unauthenticated use is allowed on a loopback address only`);
  if (o.tokens !== null && o.tokens.length === 0) throw new Error(`no token: set ${TOKEN_ENV} (or ${TOKENS_ENV})`);
  const sessions = new Map<string, Session>();
  const maxSessions = o.maxSessions ?? 64;
  const bodyLimit = o.bodyLimit ?? 1024 * 1024;
  let port = o.port;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/mcp') return send(res, 404, { error: 'not found: the MCP endpoint is /mcp' });
    if (isLoopback(o.host)) {
      const hostHeader = req.headers.host ?? '';
      const hostname = hostHeader.replace(/:\d+$/, '');
      if (!isLoopback(hostname) || (hostHeader !== hostname && hostHeader !== `${hostname}:${port}`)) {
        return send(res, 403, { error: `Host ${JSON.stringify(hostHeader)} is not this loopback server` });
      }
    }
    const tokenName = o.tokens === null ? 'unauthenticated-loopback' : authenticate(req.headers.authorization, o.tokens);
    if (!tokenName) {
      o.logger.warn(
        { remote: req.socket.remoteAddress, presented: req.headers.authorization !== undefined },
        'mcp request refused: missing or wrong bearer token',
      );
      return send(
        res,
        401,
        { error: 'unauthorized: send "Authorization: Bearer <token>" with a token the server was started with' },
        { 'www-authenticate': 'Bearer realm="failover-mcp"' },
      );
    }

    const sessionId = req.headers['mcp-session-id'];
    const id = Array.isArray(sessionId) ? sessionId[0] : sessionId;
    let body: unknown;
    if (req.method === 'POST') {
      const read = await readBody(req, bodyLimit);
      if (!read.ok) return send(res, read.status, rpcError(-32700, read.message));
      body = read.body;
    }
    if (id !== undefined) {
      const session = sessions.get(id);
      if (!session) return send(res, 404, rpcError(-32001, 'unknown or expired session; initialize a new one'));
      if (session.tokenName !== tokenName) return send(res, 403, rpcError(-32001, 'this session was started with another token'));
      session.lastSeen = Date.now();
      return session.transport.handleRequest(req, res, body);
    }
    if (req.method !== 'POST' || !isInitializeRequest(body))
      return send(res, 400, rpcError(-32000, 'expected an initialize request, or an mcp-session-id header'));
    if (sessions.size >= maxSessions) return send(res, 503, rpcError(-32000, `too many sessions (${maxSessions}); close one first`));

    const server = o.createServer({ transport: 'http', tokenName });
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => {
        sessions.set(sid, { transport, server, tokenName, lastSeen: Date.now() });
        o.logger.info({ session: sid, token: tokenName, client: server.server.getClientVersion() }, 'mcp session started');
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const httpServer = http.createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      o.logger.error({ err: err.message }, 'mcp http request failed');
      send(res, 500, rpcError(-32603, 'internal error'));
    });
  });
  const sweep = setInterval(() => {
    const idleMs = o.idleMs ?? 30 * 60_000;
    for (const [sid, s] of sessions) {
      if (Date.now() - s.lastSeen > idleMs) {
        sessions.delete(sid);
        void s.transport.close().catch(() => undefined);
      }
    }
  }, 60_000);
  sweep.unref();

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(o.port, o.host, () => resolve());
  });
  port = (httpServer.address() as AddressInfo).port;
  const hostForUrl = o.host.includes(':') && !o.host.startsWith('[') ? `[${o.host}]` : o.host;
  return {
    url: `http://${hostForUrl}:${port}/mcp`,
    async close() {
      clearInterval(sweep);
      await Promise.all([...sessions.values()].map((s) => s.transport.close().catch(() => undefined)));
      sessions.clear();
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeAllConnections();
      await closed;
    },
  };
}
