import { createHash } from 'node:crypto';
import { z } from 'zod';
import { describeIssues } from '../domain/validation';

export type AlertSource = 'alertmanager' | 'grafana';

/** One alert as both senders describe it, before routing. */
export interface IncomingAlert {
  source: AlertSource;
  status: 'firing' | 'resolved';
  /** The sender's fingerprint; Grafana payloads without one get a hash of the labels. */
  fingerprint: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt?: string;
}

/** A body that is not a payload of the expected shape; `problems` name each bad field. */
export class PayloadError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'PayloadError';
  }
}

const labelSet = z.record(z.string(), z.string(), { error: 'expected an object of string label values' });
const status = z.enum(['firing', 'resolved']);
const timestamp = z.string().max(64);
const fingerprint = z.string().min(1).max(200);

// Objects are not strict: senders add fields between versions, and those are no reason to drop an alert.
const alertmanagerAlert = z.object({
  status,
  labels: labelSet,
  annotations: labelSet.default({}),
  startsAt: timestamp.optional(),
  endsAt: timestamp.optional(),
  generatorURL: z.string().optional(),
  fingerprint,
});

/** Alertmanager webhook payload, version 4 (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config). */
export const alertmanagerPayloadSchema = z.object({
  version: z.literal('4', { error: 'expected "4" (the Alertmanager webhook payload version)' }),
  status,
  receiver: z.string(),
  groupKey: z.string().optional(),
  truncatedAlerts: z.number().int().min(0).optional(),
  groupLabels: labelSet.optional(),
  commonLabels: labelSet.optional(),
  commonAnnotations: labelSet.optional(),
  externalURL: z.string().optional(),
  alerts: z.array(alertmanagerAlert).min(1, 'expected at least one alert'),
});

const grafanaAlert = alertmanagerAlert.extend({
  fingerprint: fingerprint.optional(),
  values: z.record(z.string(), z.unknown()).nullish(),
  valueString: z.string().optional(),
});

/** Grafana (unified) alerting webhook contact point payload. */
export const grafanaPayloadSchema = z.object({
  receiver: z.string().optional(),
  status,
  orgId: z.number().int().optional(),
  version: z.string().optional(),
  groupKey: z.string().optional(),
  title: z.string().optional(),
  alerts: z.array(grafanaAlert).min(1, 'expected at least one alert'),
});

/** JSON.parse without keys that could reach an object's prototype. */
export function parseJson(raw: Buffer | string): unknown {
  const text = typeof raw === 'string' ? raw : raw.toString('utf8');
  if (text.trim() === '') throw new PayloadError(['body: expected a JSON object (the body is empty)']);
  try {
    return JSON.parse(text, (key, value: unknown) => (key === '__proto__' || key === 'constructor' ? undefined : value));
  } catch (err) {
    throw new PayloadError([`body: expected JSON (${(err as Error).message})`]);
  }
}

function parseWith<S extends z.ZodType>(schema: S, data: unknown): z.output<S> {
  const result = schema.safeParse(data, { reportInput: true });
  if (!result.success) throw new PayloadError(describeIssues(result.error.issues, 'body'));
  return result.data;
}

/** Stable id from a label set, for senders that give none: sorted name/value pairs, hashed. */
export function labelsFingerprint(labels: Record<string, string>): string {
  const h = createHash('sha256');
  for (const name of Object.keys(labels).sort()) h.update(`${name}\u0000${labels[name]}\u0000`);
  return h.digest('hex').slice(0, 16);
}

export function parseAlertmanager(data: unknown): IncomingAlert[] {
  return parseWith(alertmanagerPayloadSchema, data).alerts.map((a) => ({
    source: 'alertmanager' as const,
    status: a.status,
    fingerprint: a.fingerprint,
    labels: a.labels,
    annotations: a.annotations,
    ...(a.startsAt ? { startsAt: a.startsAt } : {}),
  }));
}

export function parseGrafana(data: unknown): IncomingAlert[] {
  return parseWith(grafanaPayloadSchema, data).alerts.map((a) => ({
    source: 'grafana' as const,
    status: a.status,
    fingerprint: a.fingerprint ?? labelsFingerprint(a.labels),
    labels: a.labels,
    annotations: a.annotations,
    ...(a.startsAt ? { startsAt: a.startsAt } : {}),
  }));
}

export const parsers: Record<AlertSource, (data: unknown) => IncomingAlert[]> = {
  alertmanager: parseAlertmanager,
  grafana: parseGrafana,
};
