import type { Logger } from 'pino';

/**
 * Alert events: something a person should know now (a runbook waits for approval, an automatic
 * repair keeps failing, redundancy dropped below its level, the brakes held a runbook). Each is an
 * audit record and an error log line, a JSON POST to the configured webhook, and an alert on every
 * configured Alertmanager (v2 API), so it reaches the team's existing paging.
 */
export interface AlertEvent {
  /** Alertmanager `alertname`, e.g. FailoverApprovalRequired. */
  name: string;
  severity: 'critical' | 'warning' | 'info';
  service: string;
  destination?: string;
  summary: string;
  /** Shown as annotations (Alertmanager) and sent as is (webhook). */
  details?: Record<string, unknown>;
  /** Set to end the alert (e.g. the approval was given). */
  resolved?: boolean;
  /** Until when the alert stands if nobody resolves it (ISO time); Alertmanager's default otherwise. */
  endsAt?: string;
  /** Where to send it: the runbook's config snapshot, never live config. */
  targets: { webhook?: string | undefined; alertmanager?: string[] | undefined };
}

function annotation(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The Alertmanager v2 form of an event (POST /api/v2/alerts takes a list of these). */
export function alertmanagerAlert(e: AlertEvent, nowMs = Date.now()) {
  return {
    labels: { alertname: e.name, severity: e.severity, service: e.service, ...(e.destination ? { destination: e.destination } : {}) },
    annotations: {
      summary: e.summary,
      ...Object.fromEntries(Object.entries(e.details ?? {}).map(([k, v]) => [k, annotation(v)])),
    },
    ...(e.resolved ? { endsAt: new Date(nowMs).toISOString() } : e.endsAt ? { endsAt: e.endsAt } : {}),
  };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
}

/** Sends one alert event everywhere it is configured to go; fails (so the activity retries) if any target refused it. */
export async function sendAlert(logger: Logger, e: AlertEvent, idempotencyKey: string): Promise<void> {
  const { targets, name: _, ...event } = e;
  // `alert`, not `name`: pino's own `name` field says which process logged it.
  logger[e.resolved ? 'info' : 'error']({ audit: true, alert: e.name, ...event }, `${e.summary}${e.resolved ? ' (resolved)' : ''}`);
  const sends: Promise<void>[] = [];
  if (targets.webhook) {
    const { details, ...rest } = event;
    sends.push(post(targets.webhook, { alert: e.name, ...rest, ...details }, { 'idempotency-key': idempotencyKey }));
  }
  for (const am of targets.alertmanager ?? []) sends.push(post(`${am.replace(/\/+$/, '')}/api/v2/alerts`, [alertmanagerAlert(e)]));
  const failed = (await Promise.allSettled(sends)).flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error)?.message ?? r.reason)] : []));
  if (failed.length > 0) throw new Error(`alert ${e.name} not delivered: ${failed.join('; ')}`);
}
