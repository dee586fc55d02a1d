import fs from 'node:fs';
import path from 'node:path';
import { startProcess, waitForPort, type LocalProcess, waitForHttpReady } from './processes';

export interface LocalAlertmanager extends LocalProcess {
  port: number;
  /** Base URL, e.g. http://127.0.0.1:9093 (API under /api/v2). */
  url: string;
}

export interface AlertmanagerWebhook {
  url: string;
  /** Sent as `Authorization: Bearer …`, read from a file in `dir`. */
  bearerToken?: string;
  sendResolved?: boolean;
}

/** Debian's package installs the binary under this name. */
const BINARY = fs.existsSync('/usr/bin/prometheus-alertmanager') ? '/usr/bin/prometheus-alertmanager' : 'alertmanager';

/**
 * A throwaway Alertmanager on 127.0.0.1, clustering off, state in `dir`, with one webhook receiver
 * that gets every alert at once (group_wait 0s) and again on each change.
 */
export async function startAlertmanager(opts: {
  port: number;
  dir: string;
  webhook: AlertmanagerWebhook;
  groupBy?: string[];
  groupInterval?: string;
  repeatInterval?: string;
}): Promise<LocalAlertmanager> {
  fs.mkdirSync(opts.dir, { recursive: true });
  const lines = [
    'route:',
    '  receiver: failover-manager',
    `  group_by: ${JSON.stringify(opts.groupBy ?? ['...'])}`,
    '  group_wait: 0s',
    `  group_interval: ${opts.groupInterval ?? '1s'}`,
    `  repeat_interval: ${opts.repeatInterval ?? '1h'}`,
    'receivers:',
    '  - name: failover-manager',
    '    webhook_configs:',
    `      - url: ${JSON.stringify(opts.webhook.url)}`,
    `        send_resolved: ${opts.webhook.sendResolved ?? true}`,
  ];
  if (opts.webhook.bearerToken !== undefined) {
    const tokenFile = path.join(opts.dir, 'webhook-token');
    fs.writeFileSync(tokenFile, opts.webhook.bearerToken, { mode: 0o600 });
    lines.push('        http_config:', '          authorization:', '            type: Bearer', `            credentials_file: ${JSON.stringify(tokenFile)}`);
  }
  const configFile = path.join(opts.dir, 'alertmanager.yml');
  fs.writeFileSync(configFile, `${lines.join('\n')}\n`);
  const proc = startProcess(
    `alertmanager-${opts.port}`,
    BINARY,
    [
      `--config.file=${configFile}`,
      `--storage.path=${path.join(opts.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${opts.port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    path.join(opts.dir, `alertmanager-${opts.port}.log`),
  );
  const url = `http://127.0.0.1:${opts.port}`;
  await waitForPort(opts.port, proc, 30_000);
  await waitForHttpReady(`${url}/-/ready`, proc);
  return { ...proc, port: opts.port, url };
}

export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
  /** In the past: the alert is resolved. */
  endsAt?: string;
  generatorURL?: string;
}

/** Pushes alerts into Alertmanager the way Prometheus does (POST /api/v2/alerts). */
export async function postAlerts(am: { url: string }, alerts: PostableAlert[]): Promise<void> {
  const res = await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
  if (!res.ok) throw new Error(`alertmanager refused alerts: ${res.status} ${await res.text()}`);
}

/** Alerts Alertmanager holds now, with their fingerprints and state. */
export async function listAlerts(am: { url: string }): Promise<Array<{ fingerprint: string; labels: Record<string, string>; status: { state: string } }>> {
  const res = await fetch(`${am.url}/api/v2/alerts`);
  if (!res.ok) throw new Error(`alertmanager alerts: ${res.status} ${await res.text()}`);
  return (await res.json()) as Array<{ fingerprint: string; labels: Record<string, string>; status: { state: string } }>;
}
