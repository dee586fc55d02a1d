import fs from 'node:fs';
import path from 'node:path';
import { startProcess, waitForPort, type LocalProcess } from './processes';

export interface HaproxyServerSpec {
  name: string;
  port: number;
  weight: number;
}

export interface LocalHaproxy extends LocalProcess {
  frontendPort: number;
  adminAddress: string;
  backend: string;
  configFile: string;
  /**
   * What `systemctl reload haproxy` does: a new process from the config file takes over the ports
   * (`-sf`: the old one stops listening and finishes its open connections). Runtime changes are gone.
   */
  reload(): Promise<LocalHaproxy>;
}

/** A TCP-mode HAProxy on 127.0.0.1 in front of local servers, runtime API on TCP at admin level. */
export async function startHaproxy(opts: {
  dir: string;
  frontendPort: number;
  adminPort: number;
  backend: string;
  servers: HaproxyServerSpec[];
  /**
   * A client reconnecting while the primary is down is held retries (3) × min(timeout connect, 1 s)
   * before HAProxy closes it (docs/haproxy.md). Default 1000: the tests' timings were set with it.
   */
  connectTimeoutMs?: number;
}): Promise<LocalHaproxy> {
  const configFile = path.join(opts.dir, `haproxy-${opts.backend}.cfg`);
  const servers = opts.servers.map(
    // A weight-0 server starts in maint: active-passive standbys take no traffic until a runbook says so.
    (s) => `  server ${s.name} 127.0.0.1:${s.port} check inter 500ms fall 2 rise 2 weight ${s.weight || 1}${s.weight === 0 ? ' disabled' : ''}`,
  );
  fs.writeFileSync(
    configFile,
    [
      'global',
      `  stats socket ipv4@127.0.0.1:${opts.adminPort} level admin`,
      '  maxconn 2000',
      'defaults',
      '  mode tcp',
      `  timeout connect ${opts.connectTimeoutMs ?? 1000}ms`,
      '  timeout client 5m',
      '  timeout server 5m',
      `frontend fe_${opts.backend}`,
      `  bind 127.0.0.1:${opts.frontendPort}`,
      `  default_backend ${opts.backend}`,
      `backend ${opts.backend}`,
      ...servers,
      '',
    ].join('\n'),
  );
  return launch(configFile, opts, []);
}

async function launch(
  configFile: string,
  opts: { dir: string; frontendPort: number; adminPort: number; backend: string },
  extra: string[],
): Promise<LocalHaproxy> {
  const proc = startProcess(`haproxy-${opts.backend}`, 'haproxy', ['-db', '-f', configFile, ...extra], path.join(opts.dir, `haproxy-${opts.backend}.log`));
  try {
    await waitForPort(opts.adminPort, proc);
    await waitForPort(opts.frontendPort, proc);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return {
    ...proc,
    frontendPort: opts.frontendPort,
    adminAddress: `127.0.0.1:${opts.adminPort}`,
    backend: opts.backend,
    configFile,
    reload: async () => {
      const next = await launch(configFile, opts, ['-sf', String(proc.child.pid)]);
      // The old process ends on its own once its connections close; a test does not wait for clients.
      setTimeout(() => void proc.stop(), 10_000).unref();
      return next;
    },
  };
}
