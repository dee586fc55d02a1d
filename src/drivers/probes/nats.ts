import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import { requireMs } from '../../domain/duration';
import type { NatsProbeConfig } from '../../domain/config';
import { classifyError, type ProbeResult } from './types';

/** How the NATS drivers reach a server (the connection fields shared by the probe, replication and router configs). */
export interface NatsConnectionConfig {
  url: string | string[];
  user?: string;
  password_env?: string;
  token_env?: string;
}

function secret(env: string): string {
  const v = process.env[env];
  if (v === undefined) throw new Error(`environment variable ${env} is not set`);
  return v;
}

/** One short-lived connection per call (no reconnects: a dead server must fail the call, not stall it). */
export async function withNats<T>(conn: NatsConnectionConfig, timeoutMs: number, use: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({
    servers: conn.url,
    name: 'failover-manager',
    timeout: timeoutMs,
    reconnect: false,
    ignoreClusterUpdates: true,
    ...(conn.user !== undefined ? { user: conn.user, pass: secret(conn.password_env!) } : {}),
    ...(conn.token_env !== undefined ? { token: secret(conn.token_env) } : {}),
  });
  try {
    return await use(nc);
  } finally {
    await nc.close().catch(() => {});
  }
}

export function natsManager(nc: NatsConnection, timeoutMs: number): Promise<JetStreamManager> {
  return jetstreamManager(nc, { timeout: timeoutMs });
}

export function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

/** Subject a fenced stream listens on instead of its own, so nothing producers publish lands in it. */
export function fencedSubject(stream: string): string {
  return `_FM.FENCED.${stream}`;
}

/** The upstream a standby stream copies from, as the server reports it. */
export interface UpstreamState {
  name: string;
  /** `external.api` of the mirror/source config: `$JS.<domain>.API` across JetStream domains. */
  api?: string;
  /** Messages behind, as last reported by the server: stale (often 0) once the link is down. */
  lag: number;
  /** Milliseconds since the server last heard from the upstream (message or heartbeat); -1 = never. */
  activeAgoMs: number;
  error?: string;
}

export interface StreamState {
  name: string;
  firstSeq: number;
  lastSeq: number;
  messages: number;
  subjects: string[];
  /** writable: takes published messages; fenced: its subjects swapped out by fence(); mirror/sources: a standby. */
  kind: 'writable' | 'fenced' | 'mirror' | 'sources';
  upstreams: UpstreamState[];
  /** For a standby: every upstream heard from within the stall bound and without error. */
  advancing?: boolean;
  info: StreamInfo;
}

/**
 * Reads one stream and classifies it.
 *
 * Whether a standby advances is judged from one reading of the server's own link state, not by
 * comparing sequences across two readings: the server asks its upstream for an idle heartbeat every
 * second, and `active` is the time since the last message or heartbeat. So a live link keeps `active`
 * near 1s even when nothing is published (an idle standby is not stalled), and a broken one lets it grow
 * while `lag` keeps its last value, usually 0. A standby reporting lag 0 with a stale `active` is stalled,
 * not in sync. The default bound, 3s, is the server's own stall threshold (3 missed heartbeats).
 */
export async function readStreamState(jsm: JetStreamManager, stream: string, stallAfterMs: number): Promise<StreamState> {
  const info = await jsm.streams.info(stream);
  const cfg = info.config;
  const sources = info.mirror ? [info.mirror] : (info.sources ?? []);
  const upstreams: UpstreamState[] = sources.map((s) => {
    const configured = cfg.mirror ?? cfg.sources?.find((c) => c.name === s.name);
    const api = configured?.external?.api;
    return {
      name: s.name,
      ...(api ? { api } : {}),
      lag: s.lag,
      activeAgoMs: s.active < 0 ? -1 : s.active / 1e6,
      ...(s.error ? { error: s.error.description } : {}),
    };
  });
  const subjects = cfg.subjects ?? [];
  const kind = cfg.mirror ? 'mirror' : cfg.sources?.length ? 'sources' : subjects.length === 1 && subjects[0] === fencedSubject(stream) ? 'fenced' : 'writable';
  const standby = kind === 'mirror' || kind === 'sources';
  return {
    name: stream,
    firstSeq: info.state.first_seq,
    lastSeq: info.state.last_seq,
    messages: info.state.messages,
    subjects,
    kind,
    upstreams,
    ...(standby ? { advancing: upstreams.length > 0 && upstreams.every((u) => u.activeAgoMs >= 0 && u.activeAgoMs <= stallAfterMs && !u.error) } : {}),
    info,
  };
}

/**
 * Connects and measures the round trip (latencyMs = RTT of a PING/PONG, not connection setup); with a
 * stream configured, also reads it: last sequence as `offset`; `primary` when it takes writes (or is
 * fenced), `replica` when it is a mirror or sourced standby, with its server-reported lag and whether it
 * advances (see readStreamState). A missing stream is "down": the destination cannot serve.
 */
export async function probeNats(config: NatsProbeConfig, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  try {
    return await withNats(config, timeoutMs, async (nc) => {
      // A flush is one PING/PONG; timed here because nc.rtt() rounds to whole milliseconds.
      const pinged = performance.now();
      await nc.flush();
      const latencyMs = performance.now() - pinged;
      if (!config.stream) return { up: true, latencyMs };
      const jsm = await natsManager(nc, timeoutMs);
      let state: StreamState;
      try {
        state = await readStreamState(jsm, config.stream, requireMs(config.stall_after));
      } catch (err) {
        if (isStreamNotFound(err)) return { up: false, latencyMs, error: `stream ${config.stream} not found`, failure: 'error' as const };
        throw err;
      }
      const replica = state.kind === 'mirror' || state.kind === 'sources';
      const lag = replica ? Math.max(0, ...state.upstreams.map((u) => u.lag)) : undefined;
      return {
        up: true,
        latencyMs,
        role: replica ? ('replica' as const) : ('primary' as const),
        offset: state.lastSeq,
        ...(replica ? { lag, advancing: state.advancing ?? false } : {}),
        replication: replica
          ? { role: 'replica' as const, offset: state.lastSeq, linkUp: state.advancing ?? false, ...(lag !== undefined ? { lag } : {}) }
          : { role: 'primary' as const, offset: state.lastSeq },
      };
    });
  } catch (err) {
    // The client wraps socket errors (ECONNREFUSED …) in its own; classify by the socket's.
    const cause = (err as { cause?: { code?: string } })?.cause;
    const classified = classifyError(cause?.code ? cause : err);
    return { up: false, latencyMs: performance.now() - started, ...classified, error: (err as Error)?.message ?? String(err) };
  }
}
