import path from 'node:path';
import { startProcess, waitForPort, type LocalProcess } from './processes';

export interface LocalRedis extends LocalProcess {
  port: number;
}

/**
 * A throwaway redis-server on 127.0.0.1, optionally a replica of another. No persistence, unless
 * `appendonly`: then every write is fsynced to an AOF under `dir` named after `name`, so a restart
 * under the same name comes back with everything it acknowledged.
 */
export async function startRedis(opts: {
  port: number;
  dir: string;
  replicaOfPort?: number;
  name?: string;
  appendonly?: boolean;
  /** More config directives, as redis-server arguments (e.g. an ACL user). */
  args?: string[];
}): Promise<LocalRedis> {
  const name = opts.name ?? `redis-${opts.port}`;
  const args = [
    '--port',
    String(opts.port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    ...(opts.appendonly ? ['--appendonly', 'yes', '--appendfsync', 'always', '--appenddirname', `${name}-aof`] : ['--appendonly', 'no']),
    '--dir',
    opts.dir,
    '--dbfilename',
    `${name}.rdb`,
    // Initial sync without a disk round trip and without waiting for more replicas.
    '--repl-diskless-sync',
    'yes',
    '--repl-diskless-sync-delay',
    '0',
    ...(opts.replicaOfPort ? ['--replicaof', '127.0.0.1', String(opts.replicaOfPort)] : []),
    ...(opts.args ?? []),
  ];
  const proc = startProcess(name, 'redis-server', args, path.join(opts.dir, `${name}.log`));
  // Not listening on its own port: an error, and nothing left running.
  await waitForPort(opts.port, proc).catch(async (err: unknown) => {
    await proc.stop();
    throw err;
  });
  return { ...proc, port: opts.port };
}
