import { createHmac } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { alertSignal } from '../../src/api/queries';
import type { AlertEvidence } from '../../src/domain/alerts';

export interface WebhookAlert {
  status?: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  fingerprint?: string;
}

/** An Alertmanager webhook body (version 4), as Alertmanager sends it. */
export function alertmanagerBody(alerts: WebhookAlert[]): Record<string, unknown> {
  const status = alerts.some((a) => (a.status ?? 'firing') === 'firing') ? 'firing' : 'resolved';
  return {
    version: '4',
    groupKey: '{}:{}',
    truncatedAlerts: 0,
    status,
    receiver: 'failover-manager',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager.test',
    alerts: alerts.map((a) => ({
      status: a.status ?? 'firing',
      labels: a.labels,
      annotations: a.annotations ?? {},
      startsAt: '2026-01-01T00:00:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: '',
      fingerprint: a.fingerprint ?? 'f000000000000000',
    })),
  };
}

/** A Grafana alerting webhook body; the fingerprint is left out when not given, as older Grafana does. */
export function grafanaBody(alerts: WebhookAlert[]): Record<string, unknown> {
  return {
    receiver: 'failover-manager',
    status: alerts.some((a) => (a.status ?? 'firing') === 'firing') ? 'firing' : 'resolved',
    orgId: 1,
    version: '1',
    groupKey: '{}:{}',
    title: '[FIRING] test',
    alerts: alerts.map((a) => ({
      status: a.status ?? 'firing',
      labels: a.labels,
      annotations: a.annotations ?? {},
      startsAt: '2026-01-01T00:00:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://grafana.test/alerting/x/edit',
      ...(a.fingerprint ? { fingerprint: a.fingerprint } : {}),
      values: { B: 1, C: 1 },
    })),
  };
}

export function hmacHex(secret: string, body: string, timestamp?: string): string {
  const mac = createHmac('sha256', secret);
  if (timestamp !== undefined) mac.update(`${timestamp}:`);
  return mac.update(body).digest('hex');
}

export interface PostResult {
  status: number;
  body: { reason?: string; received?: number; signalled?: number; duplicates?: number; unmatched?: number; [k: string]: unknown };
  ms: number;
}

/** POSTs a raw body to the receiver and reads the JSON answer. */
export async function postRaw(url: string, body: string, headers: Record<string, string> = {}): Promise<PostResult> {
  const started = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  const ms = performance.now() - started;
  let parsed: PostResult['body'];
  try {
    parsed = JSON.parse(text) as PostResult['body'];
  } catch {
    parsed = { reason: text };
  }
  return { status: res.status, body: parsed, ms };
}

/** `alert` signals recorded in a workflow's current run, decoded. */
export async function alertSignals(client: Client, workflowId: string): Promise<AlertEvidence[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? [])
    .map((e) => e.workflowExecutionSignaledEventAttributes)
    .filter((a): a is NonNullable<typeof a> => !!a && a.signalName === alertSignal.name)
    .map((a) => defaultPayloadConverter.fromPayload<AlertEvidence>(a.input!.payloads![0]!));
}

/** Whether a workflow with this id exists at all (any state). */
export async function workflowExists(client: Client, workflowId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowId).describe();
    return true;
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') return false;
    throw err;
  }
}
