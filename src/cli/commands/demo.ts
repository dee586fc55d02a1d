import path from 'node:path';
import type { Command } from 'commander';
import type { DemoDestinationState } from '../../local-instance';
import { DEFAULT_DATA_DIR, runningInstance } from '../../local-instance';
import { codecKeysFlagFor } from '../../security/local-codec';
import { CliError, EXIT, unreachableError } from '../errors';
import type { Cli, CommandContext } from '../session';
import { table } from '../format';

interface DemoFlags {
  service?: string;
  dataDir?: string;
}

/** The demo control endpoint of the `npm start` holding the data directory, and how to ask about that instance. */
function demoEndpoint(flags: DemoFlags): { url: string; token: string; pid: number; statusCommand: (service: string) => string } {
  const dataDir = path.resolve(flags.dataDir ?? process.env.FAILOVER_DATA_DIR ?? DEFAULT_DATA_DIR);
  const instance = runningInstance(dataDir);
  if (!instance)
    throw unreachableError(
      `no npm start runs with data directory ${dataDir}; start the demo with npm start${flags.dataDir ? ` -- --data-dir ${dataDir}` : ''}`,
    );
  if (!instance.demo)
    throw new CliError(
      `the npm start running with ${dataDir} (pid ${instance.pid}) runs without the demo topology (config ${instance.config})`,
      EXIT.failed,
      'no-demo',
    );
  const rel = path.relative(process.cwd(), instance.config);
  const config = rel.startsWith('..') || path.isAbsolute(rel) ? instance.config : rel;
  const address = instance.temporal && instance.temporal.address !== '127.0.0.1:7233' ? ` --address ${instance.temporal.address}` : '';
  const key = codecKeysFlagFor(dataDir);
  const keys = key ? ` --codec-keys ${key}` : '';
  const base = process.env.npm_lifecycle_event === 'cli' ? 'npm run -s cli --' : 'failover';
  return { ...instance.demo, pid: instance.pid, statusCommand: (service) => `${base} --config ${config}${address}${keys} status ${service}` };
}

type DemoAnswer = Record<string, unknown> & { statusCommand: (service: string) => string };

async function call(ctx: CommandContext, flags: DemoFlags, method: 'GET' | 'POST', route: string, body?: unknown): Promise<DemoAnswer> {
  const end = demoEndpoint(flags);
  let res: Response;
  try {
    res = await fetch(`${end.url}${route}`, {
      method,
      headers: { authorization: `Bearer ${end.token}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(20_000),
    });
  } catch (err) {
    throw unreachableError(`the demo control of npm start (pid ${end.pid}) at ${end.url} does not answer: ${(err as Error).message}`);
  }
  const doc = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) throw new CliError(String(doc.error ?? `HTTP ${res.status}`), res.status === 404 ? EXIT.usage : EXIT.failed, 'demo', doc);
  void ctx;
  return Object.assign(doc, { statusCommand: end.statusCommand });
}

/** `failover demo …`: cause an outage and a return in the topology `npm start` runs (the newcomer's path in the README). */
export function registerDemo(program: Command, cli: Cli): void {
  const demo = program
    .command('demo')
    .description('the demo topology npm start runs: list its Redis servers, kill one, bring one back (empty)')
    .option('--data-dir <dir>', 'data directory of that npm start (default: $FAILOVER_DATA_DIR or ~/.local/share/failover-manager)');

  demo
    .command('list')
    .description('the demo Redis servers: port, pid, running or not')
    .action((_f: unknown, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const flags = cmd.optsWithGlobals<DemoFlags>();
        const { statusCommand: _, ...doc } = (await call(ctx, flags, 'GET', '/demo')) as unknown as {
          destinations: DemoDestinationState[];
          statusCommand: unknown;
        };
        ctx.emit(doc, () =>
          table(
            ['SERVICE', 'DESTINATION', 'PORT', 'STATE'],
            doc.destinations.map((d) => [d.service, d.destination, String(d.port), d.running ? `running (pid ${d.pid})` : 'killed']),
          ).join('\n'),
        );
      }),
    );

  demo
    .command('kill')
    .description('SIGKILL a demo Redis server, as a crash would (detection notices within failure_threshold × detection_interval)')
    .argument('<destination>', 'destination id, e.g. redis-a')
    .option('--service <name>', 'when several demo services have that destination')
    .action((destination: string, _f: unknown, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const flags = cmd.optsWithGlobals<DemoFlags>();
        const doc = await call(ctx, flags, 'POST', '/demo/kill', { destination, ...(flags.service ? { service: flags.service } : {}) });
        const { statusCommand, ...result } = doc;
        const what = `${destination} of ${String(doc.service)} (pid ${String(doc.pid)}, port ${String(doc.port)})`;
        ctx.emit(result, () => `killed ${what}; watch detection fail over: ${statusCommand(String(doc.service))}`);
      }),
    );

  demo
    .command('start')
    .description('bring a killed demo Redis server back on its port, empty (as a restart without persistence would); detection resyncs it')
    .argument('<destination>', 'destination id, e.g. redis-a')
    .option('--service <name>', 'when several demo services have that destination')
    .action((destination: string, _f: unknown, cmd: Command) =>
      cli.run(cmd, async (ctx) => {
        const flags = cmd.optsWithGlobals<DemoFlags>();
        const doc = await call(ctx, flags, 'POST', '/demo/start', { destination, ...(flags.service ? { service: flags.service } : {}) });
        const { statusCommand, ...result } = doc;
        const what = `${destination} of ${String(doc.service)} again, empty (pid ${String(doc.pid)}, port ${String(doc.port)})`;
        ctx.emit(result, () => `started ${what}; detection resyncs it as a replica of the primary: ${statusCommand(String(doc.service))}`);
      }),
    );
}
