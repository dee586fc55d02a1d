import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, GetPromptResult, ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ConfigChangeRefusedError } from '../client/config-changes';
import { NoSupervisorError } from '../client/core';
import type { FailoverManager } from '../client/manager';
import { NoWorkerError, RouterUnreadableError } from '../client/observe';
import { ServiceBusyError } from '../client/start-runbook';
import { triggerInputSchema } from '../client/trigger';
import { configureInputSchema, defineInputSchema } from '../domain/config-edit';
import { InvalidInputError } from '../domain/validation';

/** How a session reached the server: the client's own name (from initialize) is added to it. */
export interface SessionIdentity {
  transport: 'stdio' | 'http';
  /** The name of the bearer token the session authenticated with (HTTP). */
  tokenName?: string;
  /** The OS user running the server (stdio: the person whose desktop client launched it). */
  osUser?: string;
}

const VERSION = '0.1.0';

/** A client-chosen name, made safe to record: printable, short. */
function clientName(raw: string | undefined): string {
  const cleaned = (raw ?? '')
    .replace(/[^\w .@:/+-]/g, '')
    .trim()
    .slice(0, 64);
  return cleaned || 'unnamed-client';
}

export function actorOf(client: string | undefined, who: SessionIdentity): string {
  const via = who.transport === 'http' ? `token ${who.tokenName ?? 'none'}` : `stdio${who.osUser ? `, user ${who.osUser}` : ''}`;
  return `mcp:${clientName(client)} (${via})`;
}

/** Every failure a caller can act on, as the tool error text: what is wrong, named by field where there is one. */
export function toolErrorText(tool: string, err: unknown): string {
  if (err instanceof InvalidInputError) return `${tool}: ${err.message}`;
  if (err instanceof ServiceBusyError) return `${tool}: service: ${err.message}`;
  if (err instanceof ConfigChangeRefusedError || err instanceof NoSupervisorError || err instanceof NoWorkerError || err instanceof RouterUnreadableError)
    return `${tool}: ${err.message}`;
  return `${tool} failed: ${err instanceof Error ? err.message : String(err)}`;
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** Text for every client, and the same document as structured content for clients that read it. */
function result(summary: string, doc: object): CallToolResult {
  return { content: [{ type: 'text', text: `${summary}\n\n${json(doc)}` }], structuredContent: doc as Record<string, unknown> };
}

const serviceName = z.string().min(1, 'expected a non-empty name').describe('service name from the live config');

/**
 * The MCP surface of the failover manager: tools failover.define / configure / trigger / monitor /
 * plan / simulate, resources for the config and each service's status, and operator prompts. One
 * server per session; everything it changes is recorded as done by the session's client.
 */
export function createFailoverMcpServer(base: FailoverManager, who: SessionIdentity, logger: Logger): McpServer {
  const server = new McpServer(
    { name: 'failover-manager', title: 'Failover manager', version: VERSION },
    {
      instructions:
        'Failover manager for message-delivery services (Redis, NATS, RabbitMQ, webhooks). Read a service with failover.monitor ' +
        'or the failover://services/{service}/status resource before acting; failover.plan is a dry run. failover.trigger starts ' +
        'durable runbooks (one per service at a time); failover.define and failover.configure change the live, versioned config ' +
        '(dry_run: true shows the diff only). Every change records who asked and why.',
    },
  );
  const actor = () => actorOf(server.server.getClientVersion()?.name, who);
  const manager = () => base.as(actor());

  const tool = <S extends z.ZodType>(
    name: string,
    meta: {
      title: string;
      description: string;
      annotations: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
    },
    schema: S,
    run: (input: z.output<S>, m: FailoverManager) => Promise<CallToolResult>,
  ) => {
    server.registerTool(name, { title: meta.title, description: meta.description, inputSchema: schema as never, annotations: meta.annotations }, (async (
      input: z.output<S>,
    ) => {
      const m = manager();
      try {
        const out = await run(input, m);
        logger.info({ tool: name, actor: m.actor, service: (input as { service?: string }).service }, 'mcp tool call');
        return out;
      } catch (err) {
        const text = toolErrorText(name, err);
        logger.warn({ tool: name, actor: m.actor, error: text }, 'mcp tool call refused or failed');
        return { isError: true, content: [{ type: 'text', text }] } satisfies CallToolResult;
      }
    }) as never);
  };

  tool(
    'failover.define',
    {
      title: 'Define a service strategy',
      description:
        "Create a service, or replace its strategy: active-passive or active-active, destinations with zone, region and tier, and its own detection / execution / recovery / redundancy policy (sections left out use the fleet's). " +
        'Applied to the live config as a new version (validated first; nothing changes on any problem); returns the version and the diff. dry_run: true returns the diff only.',
      annotations: { destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    defineInputSchema,
    async (input, m) => {
      const r = await m.define(input);
      return result(
        r.dryRun
          ? `dry run against config version ${r.version}: ${r.diff.length} change(s)`
          : r.changed
            ? `config version ${r.version}: ${r.created ? 'created' : 'redefined'} ${r.service} (${r.diff.length} change(s))`
            : `no change: config version ${r.version} already defines ${r.service} so`,
        r,
      );
    },
  );

  tool(
    'failover.configure',
    {
      title: 'Configure backups',
      description:
        'Add, remove or change backups (destinations: probe, replication, weight, zone, region, tier) of a service, as a new live config version with its diff. ' +
        'A destination carrying traffic is never removed. dry_run: true returns the diff only.',
      annotations: { destructiveHint: true, idempotentHint: false, openWorldHint: false },
    },
    configureInputSchema,
    async (input, m) => {
      const r = await m.configure(input);
      return result(
        r.dryRun
          ? `dry run against config version ${r.version}: ${r.diff.length} change(s)`
          : r.changed
            ? `config version ${r.version}: backups of ${r.service} changed (${r.diff.length} change(s))`
            : `no change to ${r.service}`,
        r,
      );
    },
  );

  tool(
    'failover.trigger',
    {
      title: 'Start a runbook',
      description:
        'Start a failover, switchover, recovery, rollback or maintenance runbook of a service, with the reason recorded in every step. One mutating runbook per service at a time: ' +
        'a second is refused naming the running one. Returns the workflow and run id and a Web UI link; wait: true waits for the result (RTO, RPO, steps).',
      annotations: { destructiveHint: true, idempotentHint: false, openWorldHint: true },
    },
    triggerInputSchema,
    async (input, m) => {
      const r = await m.trigger(input);
      const what = `${r.runbook} of ${r.service}`;
      const summary =
        r.status === 'completed'
          ? `${what} completed: ${String(r.result?.outcome ?? 'done')}${r.result?.source && r.result?.target ? ` ${r.result.source} → ${r.result.target}` : ''}${typeof r.result?.rtoMs === 'number' ? `, RTO ${r.result.rtoMs}ms` : ''}`
          : r.status === 'failed'
            ? `${what} failed${r.failure?.type ? ` (${r.failure.type})` : ''}: ${r.failure?.message}`
            : `${what} ${r.status === 'running' ? 'still running' : 'started'}: ${r.workflowId} run ${r.runId} — ${r.webUi}`;
      return result(summary, r);
    },
  );

  tool(
    'failover.monitor',
    {
      title: 'Monitor a service',
      description:
        'A service now: health and sync state of each destination, detection, current routing, the running runbook with its step, the last runbooks with RTO and RPO, and the redundancy verdict.',
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    z.strictObject({ service: serviceName, history: z.number().int().min(1).max(50).optional().describe('how many past runbooks (default 5)') }),
    async (input, m) => {
      const r = await m.monitor(input.service, input.history !== undefined ? { history: input.history } : {});
      const routing =
        'error' in r.routing ? `routing unreadable (${r.routing.error})` : `traffic on ${r.routing.primary ?? 'nothing'} (generation ${r.routing.generation})`;
      const redundancy =
        'verdict' in r.redundancy ? `redundancy ${r.redundancy.verdict}` : 'state' in r.redundancy ? 'no redundancy runbook' : 'redundancy unknown';
      const runbook = r.runbook
        ? `${r.runbook.type} running (phase ${r.runbook.phase}${r.runbook.step ? `, step ${r.runbook.step}` : ''})`
        : 'no runbook running';
      return result(`${r.service} (${r.strategy}): ${routing}; detection ${r.detection.state}; ${runbook}; ${redundancy}`, r);
    },
  );

  tool(
    'failover.plan',
    {
      title: 'Plan a failover (dry run)',
      description:
        'Probe the destinations, read the routing and return the steps, weights and expected load a failover would take now, with its verdict. Changes nothing.',
      annotations: { readOnlyHint: true, openWorldHint: true },
    },
    z.strictObject({ service: serviceName, to: z.string().min(1).optional().describe('plan a move to this destination (default: chosen by the rules)') }),
    async (input, m) => {
      const r = await m.plan(input.service, input.to);
      return result(r.summary, r);
    },
  );

  tool(
    'failover.simulate',
    {
      title: 'Simulate a scenario',
      description:
        'Run the detection, failover, redundancy and distribution logic of a service over a scripted scenario and return every decision. Touches nothing. ' +
        'scenario: a list of {at: "10s", destination, event: down|up|degrade, latencyMs?} or {events: [...], duration?, routing?}.',
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    z.strictObject({
      service: serviceName,
      scenario: z.unknown().describe('the scenario (list of events, or {events, duration?, baselineLatencyMs?, routing?})'),
    }),
    async (input, m) => {
      const r = await m.simulate(input.service, input.scenario);
      return result(`${r.service}: ${r.decisions.length} decision(s) over ${r.ticks} intervals, ${r.failovers} failover(s)`, r);
    },
  );

  const read = async (uri: URL, doc: () => Promise<unknown>): Promise<ReadResourceResult> => ({
    contents: [{ uri: uri.href, mimeType: 'application/json', text: json(await doc()) }],
  });
  const serviceNames = async () => (await manager().liveConfig()).config.services.map((s) => s.name);
  const serviceTemplate = (suffix: string) =>
    new ResourceTemplate(`failover://services/{service}/${suffix}`, {
      list: async () => ({
        resources: (await serviceNames()).map((s) => ({ uri: `failover://services/${s}/${suffix}`, name: `${s} ${suffix}`, mimeType: 'application/json' })),
      }),
      complete: { service: async (v) => (await serviceNames()).filter((s) => s.startsWith(v)) },
    });

  server.registerResource(
    'config',
    'failover://config',
    { title: 'Live config', description: "The live config document with its version (the supervisor's)", mimeType: 'application/json' },
    (uri) =>
      read(uri, async () => {
        const live = await manager().liveConfig();
        return { version: live.version, hash: live.hash, source: live.source, config: live.raw };
      }),
  );
  server.registerResource(
    'config-history',
    'failover://config/history',
    { title: 'Config history', description: 'Config versions, newest first: who, when, why, diff', mimeType: 'application/json' },
    (uri) => read(uri, () => manager().configHistory(50)),
  );
  server.registerResource(
    'service-status',
    serviceTemplate('status'),
    { title: 'Service status', description: 'What failover.monitor returns for the service', mimeType: 'application/json' },
    (uri, vars) => read(uri, () => manager().monitor(String(vars.service))),
  );
  server.registerResource(
    'service-history',
    serviceTemplate('history'),
    { title: 'Runbook history', description: 'The last 20 runbooks of the service with RTO, RPO and outcome', mimeType: 'application/json' },
    (uri, vars) =>
      read(uri, async () => {
        const r = await manager().monitor(String(vars.service), { history: 20 });
        return { service: r.service, runs: r.lastRunbooks };
      }),
  );

  server.registerPrompt(
    'why-failover',
    {
      title: 'Why did a service fail over?',
      description: 'Explain the last failover (or other runbook) of a service from its history, detection decisions and current state',
      argsSchema: { service: z.string().min(1).describe('service name') },
    },
    async ({ service }): Promise<GetPromptResult> => {
      const m = manager();
      const status = await m.monitor(service, { history: 10 });
      const detection = await m.detectionDecisions(service);
      return {
        description: `Why did ${service} fail over?`,
        messages: [
          {
            role: 'user',
            content: {
              type: 'text',
              text:
                `Why did ${service} fail over? Explain it to an on-call engineer: what failed, when, what detection decided and on which numbers ` +
                '(thresholds, probe errors, lag), which runbook ran, who or what started it, how it ended (RTO, RPO, rollback) and what state the service is in now ' +
                '(where traffic is, whether the old primary came back and is in sync, redundancy). Say what is unknown. If something needs doing, name the ' +
                'failover.trigger call, but do not run it without being asked.\n\n' +
                `Detection decisions, oldest first:\n${json(detection)}\n\nState and last runbooks:\n${json(status)}`,
            },
          },
        ],
      };
    },
  );

  server.registerPrompt(
    'switchover-checklist',
    {
      title: 'Planned switchover checklist',
      description: 'Check that a planned switchover of a service is safe now, and what it would do',
      argsSchema: {
        service: z.string().min(1).describe('service name'),
        to: z.string().optional().describe('target destination (default: chosen by the rules)'),
      },
    },
    async ({ service, to }): Promise<GetPromptResult> => {
      const m = manager();
      const [status, plan] = await Promise.all([m.monitor(service), m.plan(service, to || undefined)]);
      return {
        description: `Is a switchover of ${service} safe now?`,
        messages: [
          {
            role: 'user',
            content: {
              type: 'text',
              text:
                `I want a planned switchover of ${service}${to ? ` to ${to}` : ''}. Check, from the dry-run plan and the state below, that it is safe now: ` +
                'no runbook running, the target healthy and in sync (lag within bound), redundancy after the move, no suspension of the service. List every ' +
                'blocker. If it is safe, give the exact failover.trigger call (runbook "switchover", wait: true, a reason) and ask me to confirm before running it.\n\n' +
                `Dry-run plan:\n${plan.summary}\n\nState:\n${json(status)}`,
            },
          },
        ],
      };
    },
  );

  return server;
}
