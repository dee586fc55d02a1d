import type { ReplicationObservation } from '../../domain/sync';

/** One measurement of one destination. */
export interface ProbeResult {
  up: boolean;
  latencyMs: number;
  error?: string;
  /** Classified failure, so detection can tell network trouble from an unhealthy service. */
  failure?: 'timeout' | 'refused' | 'reset' | 'dns' | 'error';
  role?: 'primary' | 'replica';
  offset?: number;
  connectedReplicas?: number;
  /** The measured value, for probes that read a number (a Prometheus query). */
  value?: number;
  /** A replica's lag as the destination itself reports it (driver units; JetStream: messages). */
  lag?: number;
  /** A replica's link to its upstream is live; false = stalled, and its reported lag is stale whatever it says. */
  advancing?: boolean;
  /** Messages ready for delivery in the probed queue (RabbitMQ); unacknowledged ones are not counted. */
  queueDepth?: number;
  /** Consumers attached to the probed queue (RabbitMQ). */
  consumers?: number;
  /** What the destination says of its own replication (role, upstream, link): whether it is a copy of the primary. */
  replication?: ReplicationObservation;
}

export function classifyError(err: unknown): { error: string; failure: NonNullable<ProbeResult['failure']> } {
  const e = err as { code?: string; message?: string };
  const message = e?.message ?? String(err);
  const code = e?.code ?? '';
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) return { error: message, failure: 'refused' };
  if (code === 'ECONNRESET' || code === 'EPIPE' || /ECONNRESET|Connection is closed/.test(message)) return { error: message, failure: 'reset' };
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(message)) return { error: message, failure: 'timeout' };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { error: message, failure: 'dns' };
  return { error: message, failure: 'error' };
}
