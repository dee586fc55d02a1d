import { Counter, Gauge, Registry } from 'prom-client';

/** Outcome of one alert in a delivery. */
export type AlertOutcome = 'signalled' | 'duplicate' | 'unmatched' | 'ignored' | 'failed';

export interface ReceiverStats {
  /** Requests answered, by endpoint and status code ("alertmanager 200"). */
  requests: Record<string, number>;
  /** Alerts by outcome, over both sources. */
  alerts: Record<AlertOutcome, number>;
  /** Alerts by source and outcome ("grafana signalled"). */
  bySource: Record<string, number>;
}

/**
 * Counters of the receiver: a plain summary for logs and tests (`stats()`), and the same counts as
 * Prometheus metrics (prom-client) for `/metrics`.
 */
export class ReceiverMetrics {
  readonly registry = new Registry();
  private readonly requests = new Map<string, number>();
  private readonly alerts = new Map<string, number>();
  private readonly requestsTotal = new Counter({
    name: 'failover_alert_receiver_requests_total',
    help: 'Webhook requests answered, by endpoint and HTTP status.',
    labelNames: ['endpoint', 'code'],
    registers: [this.registry],
  });
  private readonly alertsTotal = new Counter({
    name: 'failover_alert_receiver_alerts_total',
    help: 'Alerts received, by source and outcome (signalled, duplicate, unmatched, ignored, failed).',
    labelNames: ['source', 'outcome'],
    registers: [this.registry],
  });
  private readonly signalsPending = new Gauge({
    name: 'failover_alert_receiver_signals_pending',
    help: 'Signals to Temporal under way or waiting for a slot.',
    registers: [this.registry],
  });
  private readonly dedupeEntries = new Gauge({
    name: 'failover_alert_receiver_dedupe_entries',
    help: 'Alert states remembered for deduplication.',
    registers: [this.registry],
  });

  countRequest(endpoint: string, code: number): void {
    const key = `${endpoint}\u0000${code}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    this.requestsTotal.inc({ endpoint, code: String(code) });
  }

  countAlert(source: string, outcome: AlertOutcome): void {
    const key = `${source}\u0000${outcome}`;
    this.alerts.set(key, (this.alerts.get(key) ?? 0) + 1);
    this.alertsTotal.inc({ source, outcome });
  }

  stats(): ReceiverStats {
    const alerts: Record<AlertOutcome, number> = { signalled: 0, duplicate: 0, unmatched: 0, ignored: 0, failed: 0 };
    const bySource: Record<string, number> = {};
    for (const [key, n] of this.alerts) {
      const [source, outcome] = key.split('\u0000') as [string, AlertOutcome];
      alerts[outcome] += n;
      bySource[`${source} ${outcome}`] = n;
    }
    const requests = Object.fromEntries([...this.requests].map(([k, n]) => [k.replace('\u0000', ' '), n]));
    return { requests, alerts, bySource };
  }

  /** The Prometheus exposition of all of it, with the gauges read now. */
  async render(gauges: { inFlight: number; dedupeEntries: number }): Promise<string> {
    this.signalsPending.set(gauges.inFlight);
    this.dedupeEntries.set(gauges.dedupeEntries);
    return this.registry.metrics();
  }
}
