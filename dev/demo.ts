import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readConfigFile } from '../src/config-file';
import { DEMO_CONFIG_FILE, locateConfig } from '../src/config-location';
import type { Config, ServiceConfig } from '../src/domain/config';
import { redisEndpointOf } from '../src/domain/config';
import { InvalidInputError } from '../src/domain/validation';
import { startDemoControl, type DemoService } from './devserver/demo-control';
import { freePort } from './devserver/free-port';
import { describeHolders, fileHolders, portHolders } from './devserver/holders';
import { acquireInstanceLock, InstanceBusyError, type InstanceLock } from './devserver/instance';
import { DEFAULT_DATA_DIR } from '../src/local-instance';
import { startRedisHaproxyTopology } from './devserver/redis-haproxy-topology';
import { startDevServer, type DevServer } from './devserver/temporal-dev-server';
import { createLogger } from '../src/logger';
import { supervisionReady } from '../src/control-plane';
import { temporalEnv } from '../src/temporal-settings';
import { runWorker } from '../src/worker';
import { codecKeysFlagFor, startLocalCodec } from '../src/security/local-codec';

/** `timeout connect` of the demo's HAProxy: the docs' sample configs' value. */
const DEMO_HAPROXY_CONNECT_TIMEOUT_MS = 500;

const USAGE = `usage: npm start -- [options]
Starts a local Temporal dev server (unless TEMPORAL_ADDRESS is set), the demo Redis + HAProxy
topology of the config, and the worker, until Ctrl-C.
  --config FILE        the config (default: $FAILOVER_CONFIG, else the demo's ${DEMO_CONFIG_FILE})
  --demo, --no-demo    start the config's Redis + HAProxy topology locally (default: on for ${DEMO_CONFIG_FILE})
  --reset              delete the local state first: the dev server's database (workflows, their
                       histories, schedules, the live config versions) and the demo's files
  --data-dir DIR       where that state lives (default: $FAILOVER_DATA_DIR, else ${DEFAULT_DATA_DIR.replace(process.env.HOME ?? '~', '~')})
  --temporal-port N    dev server port (default: $FAILOVER_TEMPORAL_PORT, else 7233)
  --ui-port N          Web UI port (default: $FAILOVER_UI_PORT, else 8233)
  --metrics HOST:PORT  serve Prometheus /metrics there (default: $FAILOVER_METRICS_ADDRESS, else
                       127.0.0.1:9464, a free port when 9464 is taken); --no-metrics: none
One npm start per data directory: a second one is refused, naming the first; so is one whose
ports are taken (the message names the process holding them).`;

/** Exit codes, as the CLI's: bad arguments or config 2, refused because something is taken 3. */
class StartRefused extends Error {}

function portArg(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new InvalidInputError('npm start arguments', [`${name}: expected a port from 1 to 65535 (got ${JSON.stringify(value)})`]);
  return n;
}

/** Quotes a word for a POSIX shell when it needs it, so printed commands paste as they are. */
function sh(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The ports the demo of a service listens on, with what each is for. */
function demoPorts(service: ServiceConfig): { port: number; what: string }[] {
  const out: { port: number; what: string }[] = [];
  if (service.router.type === 'haproxy' && service.router.address)
    out.push({ port: Number(service.router.address.split(':').pop()), what: `${service.name} HAProxy runtime API` });
  if (service.entrypoint?.type === 'redis') out.push({ port: service.entrypoint.port, what: `${service.name} HAProxy frontend` });
  for (const d of service.destinations) {
    const port = d.probe.type === 'redis' ? d.probe.port : d.replication.type === 'redis' ? redisEndpointOf(d).port : undefined;
    if (port) out.push({ port, what: `${service.name} ${d.id}` });
  }
  return out;
}

function demoDescription(service: ServiceConfig): string {
  const ports = demoPorts(service);
  const dest = service.destinations.map(
    (d, i) => `${d.id} :${ports.find((p) => p.what === `${service.name} ${d.id}`)?.port} (${i === 0 ? 'primary' : 'replica'})`,
  );
  const front = ports.find((p) => p.what.endsWith('frontend'));
  const admin = ports.find((p) => p.what.endsWith('runtime API'));
  return `${service.name}: ${dest.join(', ')}; HAProxy :${front?.port} (producers connect here: redis-cli -p ${front?.port}), runtime API :${admin?.port}`;
}

function listening(port: number): Promise<boolean> {
  return import('node:net').then(
    (net) =>
      new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port });
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      }),
  );
}

/** Refuses when a port this instance needs answers already, naming who holds it. */
async function checkPortsFree(ports: readonly { port: number; what: string }[]): Promise<void> {
  const taken: string[] = [];
  for (const { port, what } of ports) {
    if (!(await listening(port))) continue;
    const holders = portHolders(port);
    taken.push(
      `port ${port} (${what}) is held by ${holders.length > 0 ? describeHolders(holders) : `another process (find it with: ss -ltnp 'sport = :${port}')`}`,
    );
  }
  if (taken.length > 0) {
    throw new StartRefused(
      `${taken.join('\n  ')}\nStop what holds them, or give this npm start other ports (--temporal-port, --ui-port, and a config with other demo ports).`,
    );
  }
}

function need(binary: string, pkg: string): void {
  const found = spawnSync('sh', ['-c', `command -v ${binary} || test -x /usr/sbin/${binary}`], { stdio: 'ignore' }).status === 0;
  if (!found) throw new StartRefused(`the demo needs ${binary}, which is not installed: sudo apt-get install -y ${pkg} (or npm start -- --no-demo)`);
}

/** Deletes the local state (under an acquired lock only): the dev server's database and log, the demo's files. */
function resetState(dataDir: string): string[] {
  const removed: string[] = [];
  for (const name of fs.readdirSync(dataDir)) {
    if (!/^temporal\.sqlite/.test(name) && name !== 'demo') continue;
    fs.rmSync(path.join(dataDir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** The embedded default: dev server + demo topology + worker, until Ctrl-C. */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      demo: { type: 'boolean' },
      'no-demo': { type: 'boolean' },
      reset: { type: 'boolean' },
      'data-dir': { type: 'string' },
      'temporal-port': { type: 'string' },
      'ui-port': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      metrics: { type: 'string' },
      'no-metrics': { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) return void console.log(USAGE);
  const env = temporalEnv();
  const logger = createLogger();
  const configFile = locateConfig(values.config, process.env, DEMO_CONFIG_FILE).file;
  const { config } = readConfigFile(configFile);
  const demo = values['no-demo'] ? false : (values.demo ?? path.resolve(configFile) === path.resolve(DEMO_CONFIG_FILE));
  const dataDir = path.resolve(values['data-dir'] ?? process.env.FAILOVER_DATA_DIR ?? DEFAULT_DATA_DIR);
  const temporalPort = portArg(values['temporal-port'] ?? process.env.FAILOVER_TEMPORAL_PORT, '--temporal-port', 7233);
  const uiPort = portArg(values['ui-port'] ?? process.env.FAILOVER_UI_PORT, '--ui-port', 8233);
  const demoServices = demo ? config.services : [];
  if (demoServices.length > 0) {
    need('redis-server', 'redis-server');
    need('haproxy', 'haproxy');
  }

  if (values.metrics !== undefined && !/^\S+:\d+$/.test(values.metrics)) {
    throw new InvalidInputError('npm start arguments', [`--metrics: expected HOST:PORT, e.g. 127.0.0.1:9464 (got ${JSON.stringify(values.metrics)})`]);
  }
  const metricsAddress = values['no-metrics']
    ? undefined
    : (values.metrics ?? process.env.FAILOVER_METRICS_ADDRESS ?? `127.0.0.1:${(await listening(9464)) ? await freePort() : 9464}`);

  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch((e) => logger.warn({ err: e }, 'cleanup failed'));
  };
  let lock: InstanceLock | undefined;
  try {
    // One instance per data directory, and nothing started until every port it needs is free.
    lock = acquireInstanceLock(dataDir, path.resolve(configFile));
    cleanups.push(() => lock!.release());
    const dbFile = path.join(dataDir, 'temporal.sqlite');
    const holders = fileHolders(dbFile).filter((h) => h.pid !== process.pid);
    if (holders.length > 0) throw new StartRefused(`${dbFile} is open in ${describeHolders(holders)}: a dev server left from an earlier run? Stop it first.`);
    await checkPortsFree([
      ...(env.TEMPORAL_ADDRESS
        ? []
        : [
            { port: temporalPort, what: 'Temporal dev server' },
            { port: uiPort, what: 'Temporal Web UI' },
          ]),
      ...demoServices.flatMap(demoPorts),
    ]);
    if (values.reset) {
      const removed = resetState(dataDir);
      console.log(`reset: removed ${removed.length > 0 ? removed.map((n) => path.join(dataDir, n)).join(', ') : 'nothing (no local state yet)'}`);
    }

    let address = env.TEMPORAL_ADDRESS;
    let server: DevServer | undefined;
    let codecKeys: string | undefined;
    if (!address) {
      logger.info({ dataDir }, 'starting local Temporal dev server (first run builds the temporal CLI; takes minutes)');
      // Payloads encrypted with a local key; the Web UI decodes them through a loopback codec endpoint.
      const codec = await startLocalCodec(dataDir, uiPort);
      cleanups.push(() => codec.close());
      codecKeys = codec.keysFile;
      server = await startDevServer({ port: temporalPort, uiPort, dbFile, codecEndpoint: codec.endpoint });
      cleanups.push(() => server!.stop());
      address = server.address;
    }
    lock.update({ temporal: { address, ...(server?.uiUrl ? { uiUrl: server.uiUrl } : {}) }, taskQueue: env.TEMPORAL_TASK_QUEUE });

    if (demoServices.length > 0) {
      const demoDir = path.join(dataDir, 'demo');
      fs.rmSync(demoDir, { recursive: true, force: true });
      const started: DemoService[] = [];
      for (const service of demoServices) {
        const dir = path.join(demoDir, service.name);
        fs.mkdirSync(dir, { recursive: true });
        // HAProxy as docs/haproxy.md recommends it: clients reconnecting during a failover are held less.
        const topology = await startRedisHaproxyTopology(service, dir, undefined, [], DEMO_HAPROXY_CONNECT_TIMEOUT_MS);
        cleanups.push(() => topology.stop());
        started.push({ service: service.name, dir, topology });
        logger.info({ service: service.name, logs: dir }, 'demo topology up: redis primary + replica behind HAProxy');
      }
      const control = await startDemoControl(started);
      cleanups.push(() => control.close());
      lock.update({ demo: { url: control.url, token: control.token } });
    }

    await runWorker({
      address,
      configFile,
      logger,
      ...(metricsAddress ? { metricsAddress } : {}),
      // The file you edit is the config: every save is validated and applied as a new version.
      watchConfig: true,
      onReady: async ({ client, taskQueue, namespace, supervised }) => {
        const watched =
          supervised && config.services.length > 0
            ? await supervisionReady(client, taskQueue).then(
                () => true,
                () => false,
              )
            : false;
        console.log(
          readyText({
            config,
            configFile,
            address: address!,
            namespace,
            taskQueue,
            uiUrl: server?.uiUrl,
            dataDir,
            demo: demoServices.length > 0,
            supervised,
            watched,
            metricsAddress,
            codecKeys,
          }),
        );
      },
    });
  } finally {
    await cleanup();
  }
}

/** What npm start prints once everything is up: where things are, and commands that work when pasted. */
export function readyText(o: {
  config: Config;
  configFile: string;
  address: string;
  namespace: string;
  taskQueue: string;
  uiUrl?: string | undefined;
  dataDir: string;
  demo: boolean;
  supervised: boolean;
  watched: boolean;
  metricsAddress?: string | undefined;
  /** The key file payloads are encrypted with, when npm start made one. */
  codecKeys?: string | undefined;
}): string {
  const rel = path.relative(process.cwd(), path.resolve(o.configFile));
  const configArg = rel.startsWith('..') || path.isAbsolute(rel) ? path.resolve(o.configFile) : rel;
  const keys = o.codecKeys ? codecKeysFlagFor(o.dataDir, o.codecKeys) : undefined;
  const cli = [
    'npm run -s cli --',
    '--config',
    sh(configArg),
    ...(o.address !== '127.0.0.1:7233' ? ['--address', o.address] : []),
    ...(o.taskQueue !== 'failover-manager' ? ['--task-queue', sh(o.taskQueue)] : []),
    ...(keys ? ['--codec-keys', sh(keys)] : []),
  ].join(' ');
  const dataDirArg = o.dataDir !== path.resolve(DEFAULT_DATA_DIR) ? ` --data-dir ${sh(o.dataDir)}` : '';
  const demoCli = (args: string) => `npm run -s cli -- demo ${args}${dataDirArg}`;
  const names = o.config.services.map((s) => s.name);
  const svc = o.config.services[0];
  const detection =
    names.length === 0
      ? `nothing to watch: ${o.configFile} has no services (add some and save the file: it is applied live)`
      : o.watched
        ? `running for ${names.join(', ')} (workflows detection-<service>)`
        : o.supervised
          ? 'starting (see the supervisor in the Web UI)'
          : 'off (supervision.enabled: false)';
  const lines = [
    '',
    `Temporal:   ${o.address} (namespace ${o.namespace}, task queue ${o.taskQueue})`,
    ...(o.uiUrl ? [`Web UI:     ${o.uiUrl}`] : []),
    `Config:     ${path.resolve(o.configFile)} (${names.join(', ') || 'no services'}); edits are applied live`,
    `Detection:  ${detection}`,
    `Metrics:    ${o.metricsAddress ? `http://${o.metricsAddress}/metrics (Prometheus; dashboard: deploy/grafana/failover.json)` : 'off (--no-metrics)'}`,
    ...(o.codecKeys ? [`Payloads:   encrypted (AES-256-GCM) with the key in ${o.codecKeys}; the Web UI decodes them through a loopback codec endpoint`] : []),
    `State:      ${o.dataDir}: workflows, histories, schedules, config versions (stop, then npm start -- --reset${dataDirArg} clears it)`,
    ...(o.demo ? o.config.services.map((s, i) => `${i === 0 ? 'Demo:      ' : '           '} ${demoDescription(s)}`) : []),
  ];
  const cmd = (text: string, why: string) => `  ${text.padEnd(72)}  # ${why}`;
  if (svc) {
    lines.push('', 'From another terminal, in this directory:');
    lines.push(cmd(`${cli} status ${svc.name}`, 'detection: health and sync of each destination'));
    lines.push(cmd(`${cli} status ${svc.name} --watch`, 'in a second terminal: decisions and runbooks, step by step'));
    const [primary, backup] = svc.destinations;
    if (o.demo && primary && backup) {
      lines.push(
        cmd(demoCli(`kill ${primary.id}`), `kill the demo primary; status shows the failover to ${backup.id}`),
        ...(o.metricsAddress ? [cmd(`curl -s ${o.metricsAddress}/metrics | grep '^failover_'`, 'RTO, outage, detection time, RPO of that failover')] : []),
        cmd(demoCli(`start ${primary.id}`), `bring it back, empty: detection resyncs it as a replica of ${backup.id}`),
        cmd(`${cli} start recovery ${svc.name} --destination ${primary.id} --wait`, `fail back to ${primary.id}`),
      );
    } else if (backup) {
      lines.push(cmd(`${cli} start switchover ${svc.name} --to ${backup.id} --wait`, 'a planned switchover'));
    }
    lines.push(cmd(`${cli} suspend --all --reason "<why>"`, 'stop automatic runbooks at once (resume --all)'));
  }
  lines.push('Ctrl-C stops everything.', '');
  return lines.join('\n');
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`npm start: ${err instanceof Error ? err.message : String(err)}`);
    const badInput = err instanceof InvalidInputError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.exit(badInput ? 2 : err instanceof StartRefused || err instanceof InstanceBusyError ? 3 : 1);
  });
}
