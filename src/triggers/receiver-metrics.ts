/** Outcome of one alert in a delivery. */
export type AlertOutcome = 'signalled' | 'duplicate' | 'unmatched' | 'failed';

export interface ReceiverStats {
  /** Requests answered, by endpoint and status code ("alertmanager 200"). */
  requests: Record<string, number>;
  /** Alerts by outcome, over both sources. */
  alerts: Record<AlertOutcome, number>;
  /** Alerts by source and outcome ("grafana signalled"). */
  bySource: Record<string, number>;
}

/**
 * Counters of the receiver, readable as an object and in the Prometheus text format. Hand-written:
 * a few counters do not justify a metrics library in the production image.
 */
export class ReceiverMetrics {
  private readonly requests = new Map<string, number>();
  private readonly alerts = new Map<string, number>();

  countRequest(endpoint: string, code: number): void {
    const key = `${endpoint}\u0000${code}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  countAlert(source: string, outcome: AlertOutcome): void {
    const key = `${source}\u0000${outcome}`;
    this.alerts.set(key, (this.alerts.get(key) ?? 0) + 1);
  }

  stats(): ReceiverStats {
    const alerts: Record<AlertOutcome, number> = { signalled: 0, duplicate: 0, unmatched: 0, failed: 0 };
    const bySource: Record<string, number> = {};
    for (const [key, n] of this.alerts) {
      const [source, outcome] = key.split('\u0000') as [string, AlertOutcome];
      alerts[outcome] += n;
      bySource[`${source} ${outcome}`] = n;
    }
    const requests = Object.fromEntries([...this.requests].map(([k, n]) => [k.replace('\u0000', ' '), n]));
    return { requests, alerts, bySource };
  }

  /** Prometheus exposition format, version 0.0.4. */
  render(gauges: { inFlight: number; dedupeEntries: number }): string {
    const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
    const lines = [
      '# HELP failover_alert_receiver_requests_total Webhook requests answered, by endpoint and HTTP status.',
      '# TYPE failover_alert_receiver_requests_total counter',
      ...[...this.requests].map(([k, n]) => {
        const [endpoint, code] = k.split('\u0000');
        return `failover_alert_receiver_requests_total{endpoint="${esc(endpoint!)}",code="${code}"} ${n}`;
      }),
      '# HELP failover_alert_receiver_alerts_total Alerts received, by source and outcome (signalled, duplicate, unmatched, failed).',
      '# TYPE failover_alert_receiver_alerts_total counter',
      ...[...this.alerts].map(([k, n]) => {
        const [source, outcome] = k.split('\u0000');
        return `failover_alert_receiver_alerts_total{source="${esc(source!)}",outcome="${outcome}"} ${n}`;
      }),
      '# HELP failover_alert_receiver_signals_pending Signals to Temporal under way or waiting for a slot.',
      '# TYPE failover_alert_receiver_signals_pending gauge',
      `failover_alert_receiver_signals_pending ${gauges.inFlight}`,
      '# HELP failover_alert_receiver_dedupe_entries Alert states remembered for deduplication.',
      '# TYPE failover_alert_receiver_dedupe_entries gauge',
      `failover_alert_receiver_dedupe_entries ${gauges.dedupeEntries}`,
    ];
    return `${lines.join('\n')}\n`;
  }
}
