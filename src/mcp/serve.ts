import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { REDACT } from '../security/redact';
import pino, { type Logger } from 'pino';
import type { FailoverManager } from '../client/manager';
import { startMcpHttpServer, tokensFromEnv, TOKEN_ENV, TOKENS_ENV, type NamedToken } from './http';
import { createFailoverMcpServer } from './server';

export interface ServeOptions {
  manager: FailoverManager;
  transport: 'stdio' | 'http';
  host?: string;
  port?: number;
  allowUnauthenticatedLoopback?: boolean;
  /** The OS user, recorded for stdio sessions. */
  osUser?: string;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** Resolves when the server should stop (default: SIGINT / SIGTERM, or stdin closing for stdio). */
  until?: Promise<unknown>;
}

/** Logs go to stderr: on stdio, stdout carries the protocol and nothing else. */
export function mcpLogger(): Logger {
  return pino({ name: 'failover-mcp', level: process.env.LOG_LEVEL ?? 'info', redact: REDACT }, pino.destination(2));
}

/** The HTTP server's tokens, or null when unauthenticated loopback use was asked for; a clear error when neither. */
export function httpTokens(env: NodeJS.ProcessEnv, allowUnauthenticatedLoopback: boolean): NamedToken[] | null {
  const tokens = tokensFromEnv(env);
  if (tokens.length > 0) return tokens;
  if (allowUnauthenticatedLoopback) return null;
  throw new Error(
    `${TOKEN_ENV}: the HTTP transport needs a bearer token: set ${TOKEN_ENV} (or ${TOKENS_ENV}="name:token,…"), or pass --allow-unauthenticated-loopback to serve a loopback address without one`,
  );
}

function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/** Serves the MCP API until stopped. */
export async function serveMcp(o: ServeOptions): Promise<void> {
  const logger = o.logger ?? mcpLogger();
  if (o.transport === 'stdio') {
    const server = createFailoverMcpServer(o.manager, { transport: 'stdio', ...(o.osUser ? { osUser: o.osUser } : {}) }, logger);
    const transport = new StdioServerTransport();
    const ended = new Promise((resolve) => {
      process.stdin.once('end', resolve);
      process.stdin.once('close', resolve);
    });
    await server.connect(transport);
    logger.info({ taskQueue: o.manager.taskQueue }, 'mcp server on stdio');
    await Promise.race([o.until ?? stopSignal(), ended]);
    await server.close().catch(() => undefined);
    return;
  }
  const tokens = httpTokens(o.env ?? process.env, o.allowUnauthenticatedLoopback === true);
  const http = await startMcpHttpServer({
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 9096,
    tokens,
    createServer: (who) => createFailoverMcpServer(o.manager, who, logger),
    logger,
  });
  logger.info(
    { url: http.url, tokens: tokens?.map((t) => t.name) ?? 'none (unauthenticated loopback)', taskQueue: o.manager.taskQueue },
    'mcp server listening',
  );
  const why = await (o.until ?? stopSignal());
  logger.info({ why }, 'mcp server stopping');
  await http.close();
}
