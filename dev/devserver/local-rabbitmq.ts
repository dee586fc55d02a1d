import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port';
import { waitForPort } from './processes';

export interface LocalRabbitmqOptions {
  /** Working directory (data, logs, config, HOME); default: a fresh temp dir, removed on stop. */
  dir?: string;
  amqpPort?: number;
  managementPort?: number;
  /** Erlang distribution port (rabbitmqctl talks to the node through it). */
  distPort?: number;
  /** A private epmd on this port, so nodes never share or collide with a system epmd on 4369. */
  epmdPort?: number;
  user?: string;
  password?: string;
  /**
   * How often queue and connection statistics reach the management API (`collect_statistics_interval`).
   * RabbitMQ's default is 5000; shorter here so tests see management readings settle sooner.
   */
  statsIntervalMs?: number;
  startTimeoutMs?: number;
}

export interface LocalRabbitmq {
  nodename: string;
  dir: string;
  amqpPort: number;
  managementPort: number;
  distPort: number;
  epmdPort: number;
  user: string;
  password: string;
  /** `amqp://127.0.0.1:<port>/` without credentials (they are in `user` / `password`). */
  amqpUrl: string;
  managementUrl: string;
  /** The broker's own log file. */
  logFile: string;
  child: ChildProcess;
  /** Runs `rabbitmqctl -n <node> …` with this node's HOME (cookie) and epmd port. */
  rabbitmqctl(...args: string[]): Promise<string>;
  /** Graceful stop (SIGTERM, which the start script turns into a node shutdown), SIGKILL after a grace period. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * The Debian package's /usr/sbin/rabbitmq-server switches to the `rabbitmq` user when run as root,
 * which drops HOME (so the private cookie) and cannot write a root-owned temp dir; the script under
 * /usr/lib/rabbitmq/bin is the real one and runs as whoever calls it.
 */
function rabbitmqBin(name: string): string {
  const debian = path.join('/usr/lib/rabbitmq/bin', name);
  return fs.existsSync(debian) ? debian : name;
}

/**
 * A throwaway single RabbitMQ node on 127.0.0.1 with the management plugin, everything it writes
 * under one directory. Resolves once AMQP accepts connections and the management API answers.
 */
export async function startRabbitmq(opts: LocalRabbitmqOptions = {}): Promise<LocalRabbitmq> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fm-rabbitmq-'));
  const amqpPort = opts.amqpPort ?? (await freePort());
  const managementPort = opts.managementPort ?? (await freePort());
  const distPort = opts.distPort ?? (await freePort());
  const epmdPort = opts.epmdPort ?? (await freePort());
  const user = opts.user ?? 'fm-admin';
  const password = opts.password ?? randomBytes(12).toString('hex');
  const nodename = `fm-${amqpPort}@localhost`;
  const statsSeconds = Math.max(1, Math.round((opts.statsIntervalMs ?? 1000) / 1000));

  const home = path.join(dir, 'home');
  const logDir = path.join(dir, 'log');
  for (const d of [home, logDir, path.join(dir, 'mnesia')]) fs.mkdirSync(d, { recursive: true });
  const configFile = path.join(dir, 'rabbitmq.conf');
  fs.writeFileSync(
    configFile,
    [
      `management.tcp.ip = 127.0.0.1`,
      `management.tcp.port = ${managementPort}`,
      `default_user = ${user}`,
      `default_pass = ${password}`,
      `collect_statistics_interval = ${opts.statsIntervalMs ?? 1000}`,
      // The management API aggregates samples in buckets of this many seconds (default 5).
      `management.sample_retention_policies.global.minute = ${statsSeconds}`,
      `management.sample_retention_policies.basic.minute = ${statsSeconds}`,
      `management.sample_retention_policies.detailed.10 = ${statsSeconds}`,
      // The console copy goes to the start script's output file; the node's own log is under log/.
      `log.console.level = warning`,
      '',
    ].join('\n'),
  );
  const pluginsFile = path.join(dir, 'enabled_plugins');
  fs.writeFileSync(pluginsFile, '[rabbitmq_management].\n');
  // An empty env file, so /etc/rabbitmq/rabbitmq-env.conf cannot change this node.
  const envFile = path.join(dir, 'rabbitmq-env.conf');
  fs.writeFileSync(envFile, '');

  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(RABBITMQ_|ERL_)/.test(k) && k !== 'NOTIFY_SOCKET') env[k] = v;
  }
  Object.assign(env, {
    // Erlang writes the cookie to $HOME/.erlang.cookie on first start: private to this node.
    HOME: home,
    RABBITMQ_NODENAME: nodename,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: logDir,
    RABBITMQ_CONFIG_FILE: configFile,
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: pluginsFile,
    RABBITMQ_CONF_ENV_FILE: envFile,
    // The node starts its own epmd (`epmd -daemon`) on this port, listening on loopback only.
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    // Distribution listens on all interfaces unless told otherwise.
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  });

  const outFile = path.join(dir, 'rabbitmq-server.out');
  const out = fs.openSync(outFile, 'a');
  // Own process group: a SIGKILL fallback then reaches the Erlang VM the script started, too.
  const child = spawn(rabbitmqBin('rabbitmq-server'), [], { cwd: dir, env, stdio: ['ignore', out, out], detached: true });
  fs.closeSync(out);
  child.on('error', () => {}); // reported by the readiness wait naming the output file
  const killGroup = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killGroup);

  const killEpmd = () => {
    // Refused by epmd while any node is still registered with it, so it never takes a live node down.
    spawnSync('epmd', ['-kill'], { env: { ...env, ERL_EPMD_PORT: String(epmdPort) }, stdio: 'ignore', timeout: 5000 });
  };

  const stop = async (graceMs = 20_000): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(killGroup, graceMs);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      });
    }
    // The script waits for the VM, but a SIGKILL fallback may have left it orphaned: make sure.
    killGroup();
    process.removeListener('exit', killGroup);
    killEpmd();
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  };

  const logFile = path.join(logDir, `${nodename}.log`);
  const managementUrl = `http://127.0.0.1:${managementPort}`;
  const timeoutMs = opts.startTimeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  try {
    await waitForPort(amqpPort, { name: nodename, child, logFile: outFile, stop, kill: async () => killGroup() }, timeoutMs);
    const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${nodename} exited during start; see ${outFile}`);
      const status = await fetch(`${managementUrl}/api/overview`, { headers: { authorization: auth }, signal: AbortSignal.timeout(2000) })
        .then((r) => r.status)
        .catch(() => 0);
      if (status === 200) break;
      if (Date.now() > deadline)
        throw new Error(`${nodename}: management API on ${managementUrl} did not answer within ${timeoutMs}ms (last status ${status}); see ${logFile}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    // Keep the directory: its logs say why the node did not come up.
    killGroup();
    process.removeListener('exit', killGroup);
    killEpmd();
    throw err;
  }

  const rabbitmqctl = (...args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile(rabbitmqBin('rabbitmqctl'), ['-n', nodename, ...args], { env, cwd: dir, timeout: 60_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`rabbitmqctl ${args.join(' ')}: ${err.message.trim()} ${stderr.trim()}`));
        else resolve(stdout);
      });
    });

  return {
    nodename,
    dir,
    amqpPort,
    managementPort,
    distPort,
    epmdPort,
    user,
    password,
    amqpUrl: `amqp://127.0.0.1:${amqpPort}/`,
    managementUrl,
    logFile,
    child,
    rabbitmqctl,
    stop,
  };
}
