import type { AlertEvidence } from '../domain/alerts';
import type { AlertRouteConfig, ServiceConfig } from '../domain/config';
import { routerServerOf } from '../domain/config';
import type { IncomingAlert } from './alert-payloads';

export type AlertMeaning = 'down' | 'degraded' | 'recovered' | 'ignore';

export type RouteResult =
  { matched: true; service: string; destination?: string; route: number; means: AlertMeaning } | { matched: false; reason: string; route?: number };

interface Matcher {
  label: string;
  test: (value: string) => boolean;
}

interface CompiledRoute {
  index: number;
  matchers: Matcher[];
  service?: string;
  serviceLabel?: string;
  destinationLabel?: string;
  means: AlertMeaning;
}

/**
 * Maps an alert's labels to a service (and destination) with the configured routes, first match
 * wins. Label semantics follow Prometheus: a missing label has the value "", regexes are anchored.
 */
export class AlertRouter {
  private readonly routes: CompiledRoute[];
  private readonly services: Map<string, ServiceConfig>;

  constructor(routes: AlertRouteConfig[], services: ServiceConfig[]) {
    this.services = new Map(services.map((s) => [s.name, s]));
    this.routes = routes.map((r, index) => ({
      index,
      matchers: Object.entries(r.match).map(([label, m]) => {
        if (typeof m === 'string') return { label, test: (v: string) => v === m };
        const re = new RegExp(`^(?:${m.regex})$`);
        return { label, test: (v: string) => re.test(v) };
      }),
      ...(r.service !== undefined ? { service: r.service } : {}),
      ...(r.service_label !== undefined ? { serviceLabel: r.service_label } : {}),
      ...(r.destination_label !== undefined ? { destinationLabel: r.destination_label } : {}),
      means: r.means,
    }));
  }

  route(labels: Record<string, string>): RouteResult {
    const value = (name: string) => (Object.hasOwn(labels, name) ? labels[name]! : '');
    for (const r of this.routes) {
      if (!r.matchers.every((m) => m.test(value(m.label)))) continue;
      if (r.serviceLabel !== undefined && value(r.serviceLabel) === '') continue;
      const name = r.service ?? value(r.serviceLabel!);
      const service = this.services.get(name);
      if (!service) {
        return {
          matched: false,
          route: r.index,
          reason: `routes[${r.index}]: label ${r.serviceLabel}="${name}" names no configured service (${[...this.services.keys()].join(', ')})`,
        };
      }
      const destLabel = r.destinationLabel;
      if (destLabel === undefined || value(destLabel) === '') return { matched: true, service: service.name, route: r.index, means: r.means };
      const wanted = value(destLabel);
      const dest = service.destinations.find((d) => d.id === wanted) ?? service.destinations.find((d) => routerServerOf(d) === wanted);
      if (!dest) {
        return {
          matched: false,
          route: r.index,
          reason: `routes[${r.index}]: label ${destLabel}="${wanted}" is no destination of ${service.name} (${service.destinations.map((d) => d.id).join(', ')})`,
        };
      }
      return { matched: true, service: service.name, destination: dest.id, route: r.index, means: r.means };
    }
    return { matched: false, reason: `no route matches the labels ${formatLabels(labels)}` };
  }
}

export function formatLabels(labels: Record<string, string>): string {
  const text = `{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(', ')}}`;
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

const clip = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** The detection workflow's `alert` signal payload for a routed alert. */
export function toEvidence(alert: IncomingAlert, destination: string | undefined, means: Exclude<AlertMeaning, 'ignore'> = 'down'): AlertEvidence {
  const name = alert.labels.alertname ?? '';
  const text = alert.annotations.summary ?? alert.annotations.description ?? alert.annotations.message ?? '';
  const summary = name && text ? `${name}: ${text}` : name || text || formatLabels(alert.labels);
  return {
    fingerprint: alert.fingerprint,
    status: alert.status,
    ...(destination !== undefined ? { destination } : {}),
    summary: clip(summary, 1000),
    source: clip(name ? `${alert.source} ${name}` : alert.source, 200),
    ...(alert.startsAt ? { startsAt: alert.startsAt } : {}),
    means,
  };
}
