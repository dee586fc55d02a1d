import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import { routerFor } from '../../src/drivers';
import { supervisionQuery, supervisorWorkflowId } from '../../src/api/supervisor';
import { freePort } from '../../dev/devserver/free-port';
import { startRedisHaproxyTopology, type LocalTopology } from '../../dev/devserver/redis-haproxy-topology';
import { validateConfig, type ServiceConfig } from '../../src/domain/config';
import { primaryOf } from '../../src/domain/routing';
import { detectionWorkflowId, runbookWorkflowId } from '../../src/domain/workflow-ids';
import type { ServiceMonitor } from '../../src/client/monitor';
import type { TriggerOutcome } from '../../src/client/trigger';
import type { ConfigChangeOutcome } from '../../src/client/config-changes';
import { runEntry } from '../support/entry-process';
import { stopAndReplayTaskQueue } from '../support/histories';
import { startRedisService, type RedisServiceFixture } from '../support/redis-service';
import { until } from '../support/wait';

/**
 * The MCP API as an MCP client uses it: the SDK's own client against `failover mcp` (stdio, and
 * Streamable HTTP with bearer tokens), a real worker process that runs the supervisor, the dev
 * server, and real Redis + HAProxy. Define a service, configure a backup, trigger a switchover,
 * monitor it; bad input and bad tokens change nothing.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const taskQueue = `mcp-${randomUUID().slice(0, 8)}`;
const policy = {
  failover_detection: { detection_interval: '200ms', timeout: '500ms', failure_threshold: 3 },
  failover_execution: { consistency_check: { timeout: '10s' } },
  redundancy_management: { check_interval: '2s' },
  supervision: { reconcile_interval: '1s' },
};
const TOKEN = randomBytes(24).toString('hex');
const CLIENT = 'failover-test-client';

type ToolResult = { isError?: boolean; content: { type: string; text: string }[]; structuredContent?: Record<string, unknown> };

/** A service of three redis-servers (a primary and two replicas) behind HAProxy, on free ports. */
async function threeNodeService(name: string, dir: string): Promise<{ service: ServiceConfig; raw: Record<string, unknown>; topology: LocalTopology }> {
  const [admin, front, pa, pb, pc] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const dest = (id: string, zone: string, port: number) => ({
    id,
    zone,
    region: 'r1',
    probe: { type: 'redis', host: '127.0.0.1', port },
    replication: { type: 'redis' },
  });
  const raw = {
    name,
    router: { type: 'haproxy', address: `127.0.0.1:${admin}`, backend: name.replace(/[^a-z0-9]/g, '_') },
    entrypoint: { type: 'redis', host: '127.0.0.1', port: front },
    destinations: [dest('redis-a', 'z1', pa), dest('redis-b', 'z2', pb), dest('redis-c', 'z3', pc)],
  };
  const service = validateConfig({ services: [raw] }).services[0]!;
  return { service, raw, topology: await startRedisHaproxyTopology(service, dir) };
}

function spawnMcpHttp(port: number, env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'mcp', '--http', '--port', String(port), '--task-queue', taskQueue], {
    cwd: ROOT,
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => (clearTimeout(timer), resolve(code))));
  return { child, output: () => out, exited };
}

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('FAILOVER_') && !k.startsWith('TEMPORAL_')) env[k] = v;
  return { ...env, TEMPORAL_ADDRESS: inject('temporalAddress'), USER: 'tester', LOG_FORMAT: 'json' };
}

describe('MCP API: failover.define, configure, trigger, monitor over stdio and Streamable HTTP', () => {
  let dir: string;
  let configFile: string;
  let bus: RedisServiceFixture;
  let fresh: { service: ServiceConfig; raw: Record<string, unknown>; topology: LocalTopology };
  let temporal: Client;
  let connection: Connection;
  let worker: { child?: ChildProcess; done: Promise<{ code: number | null; out: string }> };
  let mcp: McpClient;
  let stdioErr = '';
  let http: ReturnType<typeof spawnMcpHttp> | undefined;
  let httpUrl: string;

  const call = async (name: string, args: Record<string, unknown>, client: McpClient = mcp) => (await client.callTool({ name, arguments: args })) as ToolResult;
  const doc = <T>(r: ToolResult): T => {
    expect(r.isError, r.content[0]?.text).toBeFalsy();
    return r.structuredContent as T;
  };
  const liveVersion = async () => (await temporal.workflow.getHandle(supervisorWorkflowId(taskQueue)).query(supervisionQuery)).version;
  const running = async (id: string) =>
    (
      await temporal.workflow
        .getHandle(id)
        .describe()
        .catch(() => undefined)
    )?.status.name === 'RUNNING';
  const startInput = async (workflowId: string, runId: string) => {
    const events = (await temporal.workflow.getHandle(workflowId, runId).fetchHistory()).events!;
    return defaultPayloadConverter.fromPayload<Record<string, unknown>>(events[0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!);
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-mcp-'));
    bus = await startRedisService('mcp-bus', policy);
    fresh = await threeNodeService('mcp-new', dir);
    configFile = path.join(dir, 'failover.yaml');
    fs.writeFileSync(configFile, YAML.stringify({ failover_manager: policy, services: [bus.service] }));
    connection = await Connection.connect({ address: inject('temporalAddress') });
    temporal = new Client({ connection });

    // A worker as a user runs it: it starts the supervisor with this file as config version 1.
    let child: ChildProcess | undefined;
    const done = runEntry(
      'src/worker.ts',
      { FAILOVER_CONFIG: configFile, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: taskQueue },
      (_out, c) => (child = c),
      600_000,
    );
    worker = {
      get child() {
        return child;
      },
      done,
    };
    await until(
      async () =>
        (
          await temporal.workflow
            .getHandle(supervisorWorkflowId(taskQueue))
            .query(supervisionQuery)
            .catch(() => undefined)
        )?.services['mcp-bus']?.detection === 'running',
      90_000,
      'supervisor running with mcp-bus watched',
    );

    // What a desktop MCP client does: launch the server over stdio.
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: ['--import', 'tsx', 'src/cli/main.ts', 'mcp', '--config', configFile, '--task-queue', taskQueue, '--web-ui', 'http://127.0.0.1:8233'],
      cwd: ROOT,
      env: cleanEnv(),
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => (stdioErr += d.toString()));
    mcp = new McpClient({ name: CLIENT, version: '1.0.0' });
    await mcp.connect(transport);
  });

  afterAll(async () => {
    await mcp?.close().catch(() => undefined);
    http?.child.kill('SIGTERM');
    await http?.exited;
    worker?.child?.kill('SIGTERM');
    const ended = await worker?.done;
    if (ended && ended.code !== 0) console.log(`worker exited ${ended.code}:\n${ended.out.split('\n').slice(-30).join('\n')}`);
    try {
      expect(await stopAndReplayTaskQueue(temporal, taskQueue, 'mcp')).toBeGreaterThan(0);
    } finally {
      await connection?.close();
      await bus?.stop();
      await fresh?.topology.stop();
    }
  });

  it('lists the tools, resources and prompts', async () => {
    const tools = (await mcp.listTools()).tools;
    expect(tools.map((t) => t.name).sort()).toEqual([
      'failover.configure',
      'failover.define',
      'failover.monitor',
      'failover.plan',
      'failover.simulate',
      'failover.trigger',
    ]);
    const trigger = tools.find((t) => t.name === 'failover.trigger')!;
    expect(trigger.inputSchema.required).toEqual(expect.arrayContaining(['service', 'runbook', 'reason']));
    expect((trigger.inputSchema.properties as Record<string, { enum?: string[] }>).runbook!.enum).toEqual([
      'failover',
      'switchover',
      'recovery',
      'rollback',
      'maintenance',
    ]);
    expect(tools.find((t) => t.name === 'failover.monitor')!.annotations?.readOnlyHint).toBe(true);

    const resources = (await mcp.listResources()).resources.map((r) => r.uri);
    expect(resources).toEqual(
      expect.arrayContaining(['failover://config', 'failover://config/history', 'failover://services/mcp-bus/status', 'failover://services/mcp-bus/history']),
    );
    expect((await mcp.listPrompts()).prompts.map((p) => p.name).sort()).toEqual(['switchover-checklist', 'why-failover']);
  });

  it('failover.define: a dry run changes nothing; then a new service is created as a config version, its detection starts and monitor reports it', async () => {
    const before = await liveVersion();
    const input = {
      service: 'mcp-new',
      strategy: 'active-passive',
      router: fresh.raw.router,
      entrypoint: fresh.raw.entrypoint,
      destinations: (fresh.raw.destinations as unknown[]).slice(0, 2),
      detection: { failure_threshold: 2 },
      reason: 'new orders stream',
    };
    const dry = doc<ConfigChangeOutcome>(await call('failover.define', { ...input, dry_run: true }));
    expect(dry).toMatchObject({ dryRun: true, changed: false, version: before });
    expect(dry.diff).toEqual([expect.stringMatching(/^\+ services\[mcp-new\]: /)]);
    expect(await liveVersion()).toBe(before);
    expect(await running(detectionWorkflowId('mcp-new'))).toBe(false);

    const applied = doc<ConfigChangeOutcome>(await call('failover.define', input));
    expect(applied).toMatchObject({ changed: true, created: true, version: before + 1, basedOn: before, by: `mcp:${CLIENT} (stdio, user tester)` });
    await until(() => running(detectionWorkflowId('mcp-new')), 20_000, 'detection-mcp-new started by the supervisor');
    const history = JSON.parse(((await mcp.readResource({ uri: 'failover://config/history' })).contents[0] as { text: string }).text) as {
      version: number;
      by: string;
      reason: string;
    }[];
    expect(history[0]).toMatchObject({ version: before + 1, by: `mcp:${CLIENT} (stdio, user tester)`, reason: 'new orders stream' });

    let view: ServiceMonitor | undefined;
    await until(
      async () => {
        view = doc<ServiceMonitor>(await call('failover.monitor', { service: 'mcp-new' }));
        // A backup's sync state settles after recovery_threshold probes.
        return view.detection.state === 'running' && view.destinations.every((d) => d.health.source === 'detection' && d.sync.state !== 'unknown');
      },
      20_000,
      () => `monitor of mcp-new with detection (last: ${JSON.stringify(view)})`,
    );
    expect(view).toMatchObject({ service: 'mcp-new', configVersion: before + 1, strategy: 'active-passive', routing: { primary: 'redis-a' } });
    expect(view!.destinations.map((d) => [d.id, d.health.status, d.sync.state])).toEqual([
      ['redis-a', 'up', 'primary'],
      ['redis-b', 'up', 'in-sync'],
    ]);
  });

  it('failover.configure adds a backup as the next version; detection watches it', async () => {
    const before = await liveVersion();
    const r = doc<ConfigChangeOutcome>(
      await call('failover.configure', {
        service: 'mcp-new',
        add: [(fresh.raw.destinations as unknown[])[2]],
        change: [{ id: 'redis-b', tier: 1 }],
        reason: 'third copy in z3',
      }),
    );
    expect(r).toMatchObject({ changed: true, version: before + 1, added: ['redis-c'], changedDestinations: ['redis-b'] });
    expect(r.diff.sort()).toEqual(
      [expect.stringMatching(/^\+ services\[mcp-new\]\.destinations\[redis-c\]: /), '+ services[mcp-new].destinations[redis-b].tier: 1'].sort(),
    );
    let view: ServiceMonitor | undefined;
    await until(
      async () => {
        view = doc<ServiceMonitor>(await call('failover.monitor', { service: 'mcp-new' }));
        return view.configVersion === before + 1 && view.destinations.find((d) => d.id === 'redis-c')?.health.source === 'detection';
      },
      20_000,
      () => `redis-c watched (last: ${JSON.stringify(view?.destinations)})`,
    );
    expect(view!.destinations.find((d) => d.id === 'redis-b')).toMatchObject({ tier: 1 });
    expect(view!.destinations.find((d) => d.id === 'redis-c')).toMatchObject({ zone: 'z3', routed: 0, health: { status: 'up' } });
  });

  it('bad input is a tool error naming the field, and nothing changes', async () => {
    const version = await liveVersion();
    const lastRun = (
      await temporal.workflow
        .getHandle(runbookWorkflowId('mcp-bus'))
        .describe()
        .catch(() => undefined)
    )?.runId;

    const badPort = await call('failover.define', {
      service: 'mcp-new',
      strategy: 'active-passive',
      destinations: [{ id: 'redis-a', zone: 'z1', region: 'r1', probe: { type: 'redis', host: '127.0.0.1', port: 'x' } }],
      reason: 'typo',
    });
    expect(badPort.isError).toBe(true);
    expect(badPort.content[0]!.text).toContain('destinations[0].probe.port: Invalid input: expected number, received string (got "x")');

    const badStrategy = await call('failover.define', { service: 'mcp-new', strategy: 'round-robin', reason: 'x' });
    expect(badStrategy.isError).toBe(true);
    expect(badStrategy.content[0]!.text).toMatch(/Invalid option: expected one of "active-passive"\|"active-active" at strategy/);

    const unknownTarget = await call('failover.trigger', { service: 'mcp-bus', runbook: 'switchover', to: 'redis-z', reason: 'x' });
    expect(unknownTarget.isError).toBe(true);
    expect(unknownTarget.content[0]!.text).toContain('to: no destination "redis-z" in service mcp-bus (has redis-a, redis-b)');

    const wrongField = await call('failover.trigger', { service: 'mcp-bus', runbook: 'switchover', destination: 'redis-b', reason: 'x' });
    expect(wrongField.content[0]!.text).toContain('destination: not used by a switchover (it takes to)');

    const noReason = await call('failover.trigger', { service: 'mcp-bus', runbook: 'switchover' });
    expect(noReason.isError).toBe(true);
    expect(noReason.content[0]!.text).toMatch(/reason/);

    const carrying = await call('failover.configure', { service: 'mcp-bus', remove: ['redis-a'], reason: 'x' });
    expect(carrying.content[0]!.text).toMatch(/remove\[0\]: redis-a carries traffic \(weight 100/);

    const unknownService = await call('failover.monitor', { service: 'nope' });
    expect(unknownService.content[0]!.text).toContain('service: no service "nope" in live config version');

    const badScenario = await call('failover.simulate', { service: 'mcp-bus', scenario: [{ at: '1s', destination: 'redis-q', event: 'down' }] });
    expect(badScenario.content[0]!.text).toContain('scenario.events[0].destination: no destination "redis-q" in service mcp-bus');

    expect(await liveVersion()).toBe(version);
    expect(
      (
        await temporal.workflow
          .getHandle(runbookWorkflowId('mcp-bus'))
          .describe()
          .catch(() => undefined)
      )?.runId,
    ).toBe(lastRun);
  });

  it('failover.plan is a dry run; failover.trigger runs a switchover under the lock and waits for its result; monitor shows the run', async () => {
    const plan = doc<{ plan: { verdict: string; source: string; target: string }; dryRun: boolean }>(await call('failover.plan', { service: 'mcp-bus' }));
    expect(plan).toMatchObject({ dryRun: true, plan: { verdict: 'ok', source: 'redis-a', target: 'redis-b' } });
    expect(primaryOf((await routerFor(bus.service).read()).routing)).toBe('redis-a');

    const r = doc<TriggerOutcome>(
      await call('failover.trigger', {
        service: 'mcp-bus',
        runbook: 'switchover',
        to: 'redis-b',
        reason: 'kernel upgrade on redis-a',
        actor: 'alice',
        wait: true,
      }),
    );
    expect(r).toMatchObject({
      status: 'completed',
      type: 'failover',
      workflowId: 'runbook-mcp-bus',
      result: { outcome: 'switched', source: 'redis-a', target: 'redis-b', planned: true, rpo: { lag: 0 } },
    });
    expect(r.webUi).toBe(`http://127.0.0.1:8233/namespaces/default/workflows/runbook-mcp-bus/${r.runId}/history`);
    expect(r.actor).toBe(`alice (via mcp:${CLIENT} (stdio, user tester))`);
    expect(await startInput(r.workflowId, r.runId)).toMatchObject({ planned: true, to: 'redis-b', reason: 'kernel upgrade on redis-a', actor: r.actor });
    expect(primaryOf((await routerFor(bus.service).read()).routing)).toBe('redis-b');

    const view = doc<ServiceMonitor>(await call('failover.monitor', { service: 'mcp-bus', history: 3 }));
    expect(view.routing).toMatchObject({ primary: 'redis-b' });
    expect(view.runbook).toBeNull();
    expect(Array.isArray(view.lastRunbooks) && view.lastRunbooks[0]).toMatchObject({
      runId: r.runId,
      type: 'failover',
      status: 'COMPLETED',
      outcome: 'switched',
      planned: true,
      rpo: { lag: 0 },
    });
    expect((view.lastRunbooks as { rtoMs?: number }[])[0]!.rtoMs).toBeGreaterThan(0);
    expect(view.detection.state).toBe('running');
    await until(
      async () => {
        const v = doc<ServiceMonitor>(await call('failover.monitor', { service: 'mcp-bus' }));
        return 'verdict' in v.redundancy && v.destinations.find((d) => d.id === 'redis-a')?.sync.state === 'in-sync';
      },
      30_000,
      'redundancy verdict and redis-a back in sync as a replica',
    );

    const status = JSON.parse(((await mcp.readResource({ uri: 'failover://services/mcp-bus/status' })).contents[0] as { text: string }).text) as ServiceMonitor;
    expect(status.routing).toMatchObject({ primary: 'redis-b' });
    const prompt = await mcp.getPrompt({ name: 'why-failover', arguments: { service: 'mcp-bus' } });
    expect((prompt.messages[0]!.content as { text: string }).text).toContain(r.runId);
  });

  it('Streamable HTTP: refuses to start without a token; 401 without or with a wrong token; a token holder is recorded as the actor', async () => {
    const refused = spawnMcpHttp(await freePort(), {});
    expect(await refused.exited).toBe(2);
    expect(refused.output()).toContain('FAILOVER_MCP_TOKEN: the HTTP transport needs a bearer token');

    const port = await freePort();
    http = spawnMcpHttp(port, { FAILOVER_MCP_TOKENS: `ops-bot:${TOKEN}` });
    await until(
      () => /mcp server listening/.test(http!.output()) || http!.child.exitCode !== null,
      60_000,
      () => `mcp http server up: ${http!.output().slice(-500)}`,
    );
    httpUrl = `http://127.0.0.1:${port}/mcp`;
    const init = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } },
    });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const none = await fetch(httpUrl, { method: 'POST', headers, body: init });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await fetch(httpUrl, { method: 'POST', headers: { ...headers, authorization: `Bearer ${TOKEN}x` }, body: init });
    expect(wrong.status).toBe(401);
    // A browser page reaching the loopback server under another name (DNS rebinding) is refused.
    const rebound = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers: { ...headers, authorization: `Bearer ${TOKEN}`, host: `evil.example:${port}` } },
        (res) => (res.resume(), resolve(res.statusCode ?? 0)),
      );
      req.on('error', reject);
      req.end(init);
    });
    expect(rebound).toBe(403);

    const client = new McpClient({ name: 'ops-dashboard', version: '2.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(httpUrl), { requestInit: { headers: { authorization: `Bearer ${TOKEN}` } } }));
    try {
      expect((await client.listTools()).tools).toHaveLength(6);
      const back = doc<TriggerOutcome>(
        await call('failover.trigger', { service: 'mcp-bus', runbook: 'switchover', to: 'redis-a', reason: 'upgrade done', wait: true }, client),
      );
      expect(back).toMatchObject({ status: 'completed', actor: 'mcp:ops-dashboard (token ops-bot)', result: { outcome: 'switched', target: 'redis-a' } });
      expect(await startInput(back.workflowId, back.runId)).toMatchObject({ actor: 'mcp:ops-dashboard (token ops-bot)' });
      const dry = doc<ConfigChangeOutcome>(
        await call('failover.configure', { service: 'mcp-new', change: [{ id: 'redis-c', weight: 50 }], reason: 'try', dry_run: true }, client),
      );
      expect(dry).toMatchObject({ dryRun: true, by: 'mcp:ops-dashboard (token ops-bot)', diff: ['+ services[mcp-new].destinations[redis-c].weight: 50'] });
    } finally {
      await client.close();
    }
    expect(http.output()).toMatch(/mcp request refused: missing or wrong bearer token/);
  });
});
