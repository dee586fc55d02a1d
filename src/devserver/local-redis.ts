import path from 'node:path';
import { startProcess, waitForPort, type LocalProcess } from './processes';

export interface LocalRedis extends LocalProcess {
  port: number;
}

/** A throwaway redis-server on 127.0.0.1 (no persistence), optionally a replica of another. */
export async function startRedis(opts: { port: number; dir: string; replicaOfPort?: number; name?: string }): Promise<LocalRedis> {
  const name = opts.name ?? `redis-${opts.port}`;
  const args = [
    '--port', String(opts.port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--dir', opts.dir,
    '--dbfilename', `${name}.rdb`,
    // Initial sync without a disk round trip and without waiting for more replicas.
    '--repl-diskless-sync', 'yes',
    '--repl-diskless-sync-delay', '0',
    ...(opts.replicaOfPort ? ['--replicaof', '127.0.0.1', String(opts.replicaOfPort)] : []),
  ];
  const proc = startProcess(name, 'redis-server', args, path.join(opts.dir, `${name}.log`));
  await waitForPort(opts.port, proc);
  return { ...proc, port: opts.port };
}
