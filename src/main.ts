import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile } from './config-file';
import { startDevServer, type DevServer } from './devserver/temporal-dev-server';
import { startRedisHaproxyTopology, type LocalTopology } from './devserver/redis-haproxy-topology';
import { freePort } from './devserver/free-port';
import { waitForPort } from './devserver/processes';
import { createLogger } from './logger';
import { supervisionReady } from './control-plane';
import { temporalEnv } from './temporal-settings';
import { runWorker } from './worker';

const USAGE = `usage: npm start -- [--config FILE] [--demo | --no-demo] [--metrics HOST:PORT | --no-metrics]
  --config FILE        runbook config (default: $FAILOVER_CONFIG or config/example.yaml)
  --demo               start the config's Redis + HAProxy topology locally (default with the example config)
  --metrics HOST:PORT  serve Prometheus /metrics there (default: $FAILOVER_METRICS_ADDRESS or 127.0.0.1:9464,
                       a free port when 9464 is taken); --no-metrics: none
Starts a local Temporal dev server unless TEMPORAL_ADDRESS is set, then the worker.`;

async function isListening(port: number): Promise<boolean> {
  return waitForPort(port, undefined, 200).then(() => true, () => false);
}

/** The embedded default: dev server + demo topology + worker, until Ctrl-C. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' }, demo: { type: 'boolean' }, 'no-demo': { type: 'boolean' },
      metrics: { type: 'string' }, 'no-metrics': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return void console.log(USAGE);
  const env = temporalEnv();
  const logger = createLogger();
  const configFile = values.config ?? env.FAILOVER_CONFIG;
  const config = loadConfigFile(configFile);
  const demo = values['no-demo'] ? false : (values.demo ?? path.resolve(configFile) === path.resolve('config/example.yaml'));

  if (values.metrics !== undefined && !/^\S+:\d+$/.test(values.metrics)) throw new Error(`--metrics: expected HOST:PORT, e.g. 127.0.0.1:9464 (got ${JSON.stringify(values.metrics)})`);
  const metricsAddress = values['no-metrics']
    ? undefined
    : (values.metrics ?? env.FAILOVER_METRICS_ADDRESS ?? `127.0.0.1:${(await isListening(9464)) ? await freePort() : 9464}`);

  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((e) => logger.warn({ err: e }, 'cleanup failed'));
  };
  try {
    let address = env.TEMPORAL_ADDRESS;
    let server: DevServer | undefined;
    if (!address) {
      const dataDir = path.join(os.homedir(), '.local', 'share', 'failover-manager');
      fs.mkdirSync(dataDir, { recursive: true });
      const port = (await isListening(7233)) ? await freePort() : 7233;
      const uiPort = (await isListening(8233)) ? await freePort() : 8233;
      logger.info('starting local Temporal dev server (first run builds the temporal CLI; takes minutes)');
      server = await startDevServer({ port, uiPort, dbFile: path.join(dataDir, 'temporal.sqlite') });
      cleanups.push(() => server!.stop());
      address = server.address;
    }
    if (demo) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'failover-demo-'));
      for (const service of config.services) {
        const topo: LocalTopology = await startRedisHaproxyTopology(service, dir);
        cleanups.push(() => topo.stop());
        logger.info({ service: service.name, logs: dir }, 'demo topology up: redis primary + replica behind HAProxy');
      }
    }

    await runWorker({
      address,
      configFile,
      logger,
      ...(metricsAddress ? { metricsAddress } : {}),
      // The file you edit is the config: every save is validated and applied as a new version.
      watchConfig: true,
      onReady: async ({ client, taskQueue, namespace, supervised }) => {
        const example = config.services[0]!;
        const primary = example.destinations[0]!.id;
        const primaryPort = example.destinations[0]!.probe.type === 'redis' ? example.destinations[0]!.probe.port : undefined;
        const to = example.destinations[1]?.id ?? primary;
        const cli = 'npm run -s cli --';
        const watched = supervised ? await supervisionReady(client, taskQueue).then(() => true, () => false) : false;
        console.log(
          [
            '',
            `Temporal:   ${address} (namespace ${namespace}, task queue ${taskQueue})`,
            ...(server?.uiUrl ? [`Web UI:     ${server.uiUrl}`] : []),
            `Config:     ${path.resolve(configFile)} (${config.services.map((s) => s.name).join(', ')}); edits are applied live`,
            `Metrics:    ${metricsAddress ? `http://${metricsAddress}/metrics (Prometheus; dashboard: deploy/grafana/failover.json)` : 'off (--no-metrics)'}`,
            `Detection:  ${watched ? `running for ${config.services.map((s) => s.name).join(', ')} (detection-<service>)` : supervised ? 'starting (see the supervisor in the Web UI)' : 'off (supervision.enabled: false)'}`,
            '',
            'From another terminal:',
            `  ${cli} status ${example.name}                      # detection health, the running runbook`,
            ...(demo && primaryPort ? [`  pkill -9 -f 'redis-server 127.0.0.1:${primaryPort}'   # kill the demo primary ${primary}: detection fails over by itself`] : []),
            `  ${cli} start switchover ${example.name} --to ${to} --wait   # a planned switchover`,
            `  ${cli} suspend --all --reason "…"                  # stop automatic runbooks at once (resume --all)`,
            'Ctrl-C stops everything.',
            '',
          ].join('\n'),
        );
      },
    });
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
