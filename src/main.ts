import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NativeConnection } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { loadConfigFile } from './config-file';
import { startDevServer, type DevServer } from './devserver/temporal-dev-server';
import { startRedisHaproxyTopology, type LocalTopology } from './devserver/redis-haproxy-topology';
import { freePort } from './devserver/free-port';
import { waitForPort } from './devserver/processes';
import { createLogger } from './logger';
import { syncSchedulesFromConfig } from './triggers/schedules';
import { connectionOptions, temporalEnv } from './temporal-settings';
import { createFailoverWorker, installRuntimeLogging } from './worker';

const USAGE = `usage: npm start -- [--config FILE] [--demo | --no-demo]
  --config FILE  runbook config (default: $FAILOVER_CONFIG or config/example.yaml)
  --demo         start the config's Redis + HAProxy topology locally (default with the example config)
Starts a local Temporal dev server unless TEMPORAL_ADDRESS is set, then the worker.`;

async function isListening(port: number): Promise<boolean> {
  return waitForPort(port, undefined, 200).then(() => true, () => false);
}

/** The embedded default: dev server + demo topology + worker, until Ctrl-C. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string' }, demo: { type: 'boolean' }, 'no-demo': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) return void console.log(USAGE);
  const env = temporalEnv();
  const logger = createLogger();
  const configFile = values.config ?? env.FAILOVER_CONFIG;
  const config = loadConfigFile(configFile);
  const demo = values['no-demo'] ? false : (values.demo ?? path.resolve(configFile) === path.resolve('config/example.yaml'));

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

    installRuntimeLogging(logger);
    const connection = await NativeConnection.connect(connectionOptions(env, address));
    cleanups.push(() => connection.close());
    const clientConnection = await Connection.connect(connectionOptions(env, address));
    cleanups.push(() => clientConnection.close());
    const client = new Client({ connection: clientConnection, namespace: env.TEMPORAL_NAMESPACE });
    const worker = await createFailoverWorker({
      connection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      config: () => config,
      logger,
      client,
    });
    await syncSchedulesFromConfig(client, config, env.TEMPORAL_TASK_QUEUE);
    const example = config.services[0]!;
    const to = example.destinations[1]?.id ?? example.destinations[0]!.id;
    console.log(
      [
        '',
        `Temporal:   ${address} (namespace ${env.TEMPORAL_NAMESPACE}, task queue ${env.TEMPORAL_TASK_QUEUE})`,
        ...(server?.uiUrl ? [`Web UI:     ${server.uiUrl}`] : []),
        `Config:     ${path.resolve(configFile)} (${config.services.map((s) => s.name).join(', ')})`,
        '',
        'Start a planned switchover from another terminal:',
        `  temporal workflow start --address ${address} --task-queue ${env.TEMPORAL_TASK_QUEUE} --type failover \\`,
        `    --workflow-id runbook-${example.name} --input '{"service":"${example.name}","to":"${to}","planned":true}'`,
        'or from the Web UI: Start Workflow → Workflow Type "failover", Task Queue as above, that input.',
        'Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
    await worker.run();
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
