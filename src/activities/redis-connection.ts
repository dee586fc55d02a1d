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
  client.on('error', () => {}); // surfaced through the rejected command instead
  try {
    await client.connect();
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
}

export async function replicationInfo(r: Redis): Promise<RedisReplicationInfo> {
  const info = parseInfo(await r.info('replication'));
  const server = parseInfo(await r.info('server'));
  const role = info.role === 'slave' ? 'slave' : 'master';
  const offset = Number(role === 'slave' ? (info.slave_repl_offset ?? info.master_repl_offset) : info.master_repl_offset);
  return {
    role,
    offset: Number.isFinite(offset) ? offset : 0,
    ...(role === 'slave'
      ? { masterHost: info.master_host, masterPort: Number(info.master_port), linkUp: info.master_link_status === 'up' }
      : {}),
    connectedReplicas: Number(info.connected_slaves ?? 0),
    runId: server.run_id ?? '',
  };
}
