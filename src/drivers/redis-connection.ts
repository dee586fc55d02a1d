import Redis from 'ioredis';

export interface RedisEndpoint {
  host: string;
  port: number;
  password_env?: string;
}

/** A short-lived connection that fails fast instead of queueing or reconnecting: probes must see the truth. */
export async function withRedis<T>(endpoint: RedisEndpoint, timeoutMs: number, use: (r: Redis) => Promise<T>): Promise<T> {
  const password = endpoint.password_env ? process.env[endpoint.password_env] : undefined;
  const client = new Redis({
    host: endpoint.host,
    port: endpoint.port,
    ...(password ? { password } : {}),
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    enableReadyCheck: false,
  });
  // The socket's own error (ECONNREFUSED, ETIMEDOUT…) says more than ioredis' "Connection is closed":
  // detection tells a refused port (process gone) from a slow one by it.
  let socketError: Error | undefined;
  client.on('error', (err: Error) => void (socketError ??= err));
  try {
    await client.connect().catch((err: unknown) => Promise.reject(socketError ?? err));
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** Parses `INFO` output into key/value pairs. */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

export interface RedisReplicationInfo {
  role: 'master' | 'slave';
  /** master_repl_offset on a primary; slave_repl_offset (processed) on a replica. */
  offset: number;
  masterHost?: string;
  masterPort?: number;
  linkUp?: boolean;
  connectedReplicas: number;
  runId: string;
  /** The replication history this node is on, and the one before its last promotion (Redis PSYNC ids). */
  replId: string;
  replId2: string;
  /** Offset up to which replId2 is accepted (its promotion point + 1); -1 when there is none. */
  secondOffset: number;
  /** A replica whose link is down: for how long (master_link_down_since_seconds), in ms. */
  linkDownForMs?: number;
}

export async function replicationInfo(r: Redis): Promise<RedisReplicationInfo> {
  const info = parseInfo(await r.info('replication'));
  const server = parseInfo(await r.info('server'));
  const role = info.role === 'slave' ? 'slave' : 'master';
  const offset = Number(role === 'slave' ? (info.slave_repl_offset ?? info.master_repl_offset) : info.master_repl_offset);
  const linkUp = info.master_link_status === 'up';
  const downFor = Number(info.master_link_down_since_seconds);
  return {
    role,
    offset: Number.isFinite(offset) ? offset : 0,
    ...(role === 'slave'
      ? {
          masterHost: info.master_host,
          masterPort: Number(info.master_port),
          linkUp,
          // -1 (never connected since start) says nothing about how long: leave it out.
          ...(!linkUp && Number.isFinite(downFor) && downFor >= 0 ? { linkDownForMs: downFor * 1000 } : {}),
        }
      : {}),
    connectedReplicas: Number(info.connected_slaves ?? 0),
    runId: server.run_id ?? '',
    replId: info.master_replid ?? '',
    replId2: info.master_replid2 ?? '',
    secondOffset: Number(info.second_repl_offset ?? -1),
  };
}
