import type { Command } from 'commander';
import { z } from 'zod';
import { FailoverManager } from '../../client/manager';
import { serveMcp, httpTokens, mcpLogger } from '../../mcp/serve';
import { isLoopback } from '../../mcp/http';
import { parseArg } from '../args';
import { usageError } from '../errors';
import { defaultActor, type Cli } from '../session';
import { loadSigningKey, SIGNING_KEY_ENV } from '../../security/control-signing';

/** Where the stdio MCP server learns whose key it signs with: the person who launched it. */
export const SIGNER_ENV = 'FAILOVER_SIGNER';

export function registerMcp(program: Command, cli: Cli): void {
  program
    .command('mcp')
    .description(
      'serve the MCP API (failover.define, configure, trigger, monitor, plan, simulate; resources; prompts) on stdio, or Streamable HTTP with --http',
    )
    .option('--http', 'serve Streamable HTTP on /mcp instead of stdio (needs $FAILOVER_MCP_TOKEN or $FAILOVER_MCP_TOKENS)')
    .option('--host <address>', 'HTTP: address to bind', '127.0.0.1')
    .option('--port <n>', 'HTTP: port', '9096')
    .option('--allow-unauthenticated-loopback', 'HTTP: serve a loopback address without a bearer token')
    .option('--web-ui <url>', 'Temporal Web UI base URL for run links (default $FAILOVER_WEB_UI or http://127.0.0.1:8233)')
    .addHelpText(
      'after',
      '\nstdio is what a desktop MCP client launches (see README, "MCP server"); logs go to stderr.\n' +
        'Everything a session changes is recorded as done by "mcp:<client name> (token <name>)" (HTTP) or "mcp:<client name> (stdio, user <user>)".\n' +
        `stdio with $${SIGNING_KEY_ENV}: runbook starts and config changes are signed as $${SIGNER_ENV} (default $USER), the person who launched it.`,
    )
    .action((flags: { http?: boolean; host: string; port: string; allowUnauthenticatedLoopback?: boolean; webUi?: string }, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const port = parseArg(z.coerce.number().int().min(0).max(65535), flags.port, '--port');
        const webUi = parseArg(z.url({ protocol: /^https?$/ }).optional(), flags.webUi ?? process.env.FAILOVER_WEB_UI, '--web-ui');
        if (flags.http) {
          if (flags.allowUnauthenticatedLoopback && !isLoopback(flags.host))
            throw usageError(`--allow-unauthenticated-loopback: ${flags.host} is not a loopback address`);
          try {
            httpTokens(process.env, flags.allowUnauthenticatedLoopback === true);
          } catch (err) {
            throw usageError((err as Error).message);
          }
        }
        // Over HTTP several people share the server: one person's key would sign for all of them.
        const keyFile = process.env[SIGNING_KEY_ENV];
        if (keyFile && flags.http)
          throw usageError(`$${SIGNING_KEY_ENV} is for the stdio MCP server, which acts for the person who launched it; unset it for --http`);
        const signer = keyFile ? { name: process.env[SIGNER_ENV] || defaultActor(), key: loadSigningKey(keyFile) } : undefined;
        const client = await ctx.client();
        const manager = FailoverManager.fromClient({
          ...(signer ? { signer } : {}),
          client,
          taskQueue: ctx.settings.taskQueue,
          namespace: ctx.settings.namespace,
          ...(webUi ? { webUiUrl: webUi } : {}),
          actor: 'mcp',
          fallbackConfig: () => ctx.config(),
        });
        await serveMcp({
          manager,
          transport: flags.http ? 'http' : 'stdio',
          host: flags.host,
          port,
          allowUnauthenticatedLoopback: flags.allowUnauthenticatedLoopback === true,
          osUser: defaultActor(),
          logger: mcpLogger(),
        });
      }),
    );
}
