import amqp, { type ChannelModel } from 'amqplib';
import type { RabbitmqProbeConfig } from '../../domain/config';
import { classifyError, type ProbeResult } from './types';

/** How the RabbitMQ drivers reach a broker (the fields shared by the probe and replication configs). */
export interface RabbitmqConnectionConfig {
  url: string;
  user_env?: string;
  password_env?: string;
}

export interface RabbitmqCredentials {
  username: string;
  password: string;
}

function secret(env: string): string {
  const v = process.env[env];
  if (v === undefined) throw new Error(`environment variable ${env} is not set`);
  return v;
}

/** From the environment variables the config names; guest/guest (loopback-only on a stock broker) when it names none. */
export function rabbitmqCredentials(c: RabbitmqConnectionConfig): RabbitmqCredentials {
  if (c.user_env === undefined && c.password_env === undefined) return { username: 'guest', password: 'guest' };
  return { username: secret(c.user_env!), password: secret(c.password_env!) };
}

/** The vhost an `amqp://host[:port][/vhost]` URL names; no path or "/" is the default vhost "/". */
export function vhostOf(url: string): string {
  const path = new URL(url).pathname;
  return path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1));
}

/** One short-lived AMQP connection per call: a dead broker must fail the call within `timeoutMs`, not stall it. */
export async function withAmqp<T>(c: RabbitmqConnectionConfig, timeoutMs: number, use: (conn: ChannelModel) => Promise<T>): Promise<T> {
  const u = new URL(c.url);
  const { username, password } = rabbitmqCredentials(c);
  const secure = u.protocol === 'amqps:';
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new Error(`no answer from ${u.host} within ${timeoutMs}ms (timed out)`));
    }, timeoutMs);
  });
  const opening = amqp.connect(
    {
      protocol: secure ? 'amqps' : 'amqp',
      hostname: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port ? Number(u.port) : secure ? 5671 : 5672,
      username,
      password,
      vhost: vhostOf(c.url),
      heartbeat: 0,
    },
    { timeout: timeoutMs, clientProperties: { connection_name: 'failover-manager' } },
  );
  // A connection that opens after the deadline is closed instead of leaking.
  opening.then(
    (conn) => {
      if (timedOut) conn.close().catch(() => {});
    },
    () => {},
  );
  try {
    const conn = await Promise.race([opening, deadline]);
    conn.on('error', () => {}); // surfaced by the operation that hit it
    try {
      return await Promise.race([use(conn), deadline]);
    } finally {
      await conn.close().catch(() => {});
    }
  } finally {
    clearTimeout(timer);
  }
}

export interface QueueCounts {
  /** Messages ready for delivery. */
  ready: number;
  consumers: number;
  /** Delivered, not yet acknowledged; only the management API knows it. */
  unacked?: number;
}

/**
 * Real-time counts by passive declare (`queue.declare passive`), or null when the queue does not
 * exist. The broker closes the channel on a missing queue, so each read gets its own channel.
 */
export async function queueCountsOverAmqp(conn: ChannelModel, queue: string): Promise<QueueCounts | null> {
  const ch = await conn.createChannel();
  ch.on('error', () => {}); // a 404 closes the channel; reported through checkQueue's rejection
  try {
    const ok = await ch.checkQueue(queue);
    return { ready: ok.messageCount, consumers: ok.consumerCount };
  } catch (err) {
    if ((err as { code?: number }).code === 404) return null;
    throw err;
  } finally {
    await ch.close().catch(() => {});
  }
}

export interface ManagementPolicy {
  name: string;
  vhost: string;
  pattern: string;
  'apply-to': string;
  priority: number;
  definition: Record<string, unknown>;
}

export interface ManagementQueue {
  name: string;
  type?: string;
  arguments?: Record<string, unknown>;
  /** Statistics: absent until the queue first reports them, then up to `collect_statistics_interval` old. */
  messages_ready?: number;
  messages_unacknowledged?: number;
  consumers?: number;
}

/** The management HTTP API of one broker. */
export class RabbitmqManagement {
  private readonly auth: string;

  constructor(
    private readonly baseUrl: string,
    credentials: RabbitmqCredentials,
    private readonly timeoutMs: number,
  ) {
    this.auth = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  }

  /** Resolves to the parsed body, or undefined for 404; other statuses throw naming the call. */
  async request<T>(method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T | undefined> {
    const url = new URL(path.replace(/^\//, ''), this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`);
    const res = await fetch(url, {
      method,
      headers: { authorization: this.auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`management API ${method} ${url.pathname} answered ${res.status}: ${text.slice(0, 200)}`);
    return text ? (JSON.parse(text) as T) : (undefined as T);
  }

  queue(vhost: string, name: string): Promise<ManagementQueue | undefined> {
    return this.request<ManagementQueue>('GET', `api/queues/${enc(vhost)}/${enc(name)}`);
  }

  async policies(vhost: string): Promise<ManagementPolicy[]> {
    return (await this.request<ManagementPolicy[]>('GET', `api/policies/${enc(vhost)}`)) ?? [];
  }

  async putPolicy(vhost: string, name: string, policy: Pick<ManagementPolicy, 'pattern' | 'apply-to' | 'priority' | 'definition'>): Promise<void> {
    await this.request('PUT', `api/policies/${enc(vhost)}/${enc(name)}`, policy);
  }

  /** Idempotent: a policy already gone is not an error. */
  async deletePolicy(vhost: string, name: string): Promise<void> {
    await this.request('DELETE', `api/policies/${enc(vhost)}/${enc(name)}`);
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** Counts from the management API; null when the queue does not exist; throws when it has no statistics yet. */
async function queueCountsOverManagement(api: RabbitmqManagement, vhost: string, queue: string): Promise<QueueCounts | null> {
  const q = await api.queue(vhost, queue);
  if (!q) return null;
  if (q.messages_ready === undefined || q.consumers === undefined) throw new Error(`queue "${queue}" has no statistics yet`);
  return { ready: q.messages_ready, consumers: q.consumers, ...(q.messages_unacknowledged !== undefined ? { unacked: q.messages_unacknowledged } : {}) };
}

/**
 * AMQP 0-9-1 probe: up when a connection opens (latency = connect + handshake). With `queue`, also
 * its depth and consumers: from the management API when configured (readings up to the broker's
 * statistics interval old), falling back to a passive declare over AMQP (real time) if that fails.
 */
export async function probeRabbitmq(config: RabbitmqProbeConfig, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  try {
    return await withAmqp(config, timeoutMs, async (conn) => {
      const latencyMs = performance.now() - started;
      if (config.queue === undefined) return { up: true, latencyMs };
      const vhost = vhostOf(config.url);
      let counts: QueueCounts | null | undefined;
      let note: string | undefined;
      if (config.management_url !== undefined) {
        try {
          counts = await queueCountsOverManagement(new RabbitmqManagement(config.management_url, rabbitmqCredentials(config), timeoutMs), vhost, config.queue);
        } catch (err) {
          note = `management API: ${(err as Error).message}; queue read over AMQP instead`;
        }
      }
      if (counts === undefined) counts = await queueCountsOverAmqp(conn, config.queue);
      if (counts === null) {
        return { up: false, latencyMs, error: `queue "${config.queue}" not found in vhost "${vhost}"`, failure: 'error' as const };
      }
      return { up: true, latencyMs, queueDepth: counts.ready, consumers: counts.consumers, ...(note ? { error: note } : {}) };
    });
  } catch (err) {
    return { up: false, latencyMs: performance.now() - started, ...classifyError(err) };
  }
}
