import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import { freePort } from '../../dev/devserver/free-port';
import { startPrometheus, type LocalPrometheus } from '../../dev/devserver/local-prometheus';
import { startRedis } from '../../dev/devserver/local-redis';
import { detectionWorkflowId, runbookWorkflowId } from '../../src/domain/workflow-ids';
import { runCliProcess } from '../support/cli-process';
import { runEntry } from '../support/entry-process';
import { stopAndReplayTaskQueue } from '../support/histories';
import { startRedisService, type RedisServiceFixture } from '../support/redis-service';
import { until } from '../support/wait';
import { ARTIFACTS_DIR, launchChromium } from '../support/browser';
import { legendOf, renderDashboardHtml, type RenderedPanel } from '../support/render-dashboard';
import { healthQuery } from '../../src/api/queries';

/**
 * Observability as an SRE gets it: a real worker process serving /metrics, a real Prometheus
 * scraping it, real runbooks (a flap, a detection-started failover, a worker restart, a held
 * resync, a failback by hand). The manager's metrics are read from the endpoint, and every panel
 * of the Grafana dashboard is evaluated against that Prometheus and must show data.
 */

const SERVICE = 'obs-bus';
const taskQueue = `obs-${randomUUID().slice(0, 8)}`;
const policy = {
  failover_detection: { detection_interval: '200ms', timeout: '500ms', failure_threshold: 3, recovery_threshold: 2, cooldown: '10m' },
  failover_execution: { consistency_check: { timeout: '5s' } },
  recovery_management: { automatic_recovery: true, validation_intervals: 2 },
  redundancy_management: { check_interval: '1s' },
  supervision: { reconcile_interval: '1s' },
};

type Sample = { name: string; labels: Record<string, string>; value: number };

/** Prometheus text exposition → samples (enough of the format for what the exporter writes). */
function parseExposition(text: string): Sample[] {
  return text.split('\n').flatMap((line) => {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) return [];
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    return [{ name: m[1]!, labels, value: Number(m[3]) }];
  });
}

describe('observability: worker /metrics scraped by a real Prometheus, the dashboard proven against it', () => {
  let fx: RedisServiceFixture;
  let dir: string;
  let configFile: string;
  let metricsAddress: string;
  let prometheus: LocalPrometheus;
  let client: Client;
  let connection: Connection;
  let worker: { child?: ChildProcess; done: Promise<{ code: number | null; out: string }> } | undefined;
  let startedAt: number;

  const health = () => client.workflow.getHandle(detectionWorkflowId(SERVICE)).query(healthQuery);
  const cli = (...args: string[]) => runCliProcess(['--config', configFile, '--task-queue', taskQueue, ...args]);
  const scrape = async () => parseExposition(await (await fetch(`http://${metricsAddress}/metrics`)).text());
  const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);

  let workers = 0;
  const startWorker = () => {
    let child: ChildProcess | undefined;
    const log = path.join(dir, `worker-${++workers}.log`);
    let written = 0;
    const done = runEntry(
      'src/worker.ts',
      { FAILOVER_CONFIG: configFile, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_TASK_QUEUE: taskQueue, FAILOVER_METRICS_ADDRESS: metricsAddress },
      (out, c) => {
        child = c;
        fs.appendFileSync(log, out.slice(written));
        written = out.length;
      },
      600_000,
    );
    worker = {
      get child() {
        return child;
      },
      done,
    };
  };
  const stopWorker = async () => {
    const child = worker?.child;
    child?.kill('SIGTERM');
    // Running activities get a while to finish; a worker that hangs on shutdown is a finding, not a reason to wait forever.
    const timer = setTimeout(() => child?.kill('SIGKILL'), 30_000);
    const ended = await worker?.done;
    clearTimeout(timer);
    if (ended && ended.code !== 0) console.log(`worker exited ${ended.code}:\n${ended.out.split('\n').slice(-30).join('\n')}`);
    worker = undefined;
  };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-observability-'));
    fx = await startRedisService(SERVICE, policy);
    configFile = path.join(dir, 'failover.yaml');
    fs.writeFileSync(configFile, YAML.stringify({ failover_manager: policy, services: [fx.service] }));
    metricsAddress = `127.0.0.1:${await freePort()}`;
    prometheus = await startPrometheus({ port: await freePort(), dir, targets: [{ job: 'failover-worker', address: metricsAddress }] });
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection });
    startedAt = Date.now();
    startWorker();
  });

  afterAll(async () => {
    await stopWorker();
    try {
      expect(await stopAndReplayTaskQueue(client, taskQueue, 'observability')).toBeGreaterThan(0);
    } finally {
      await connection?.close();
      await prometheus?.stop();
      await fx?.stop();
    }
  });

  it(
    "serves the SDK's worker metrics and the manager's own; a flap, a failover, a worker restart, a held resync and a failback show in them",
    { timeout: 300_000 },
    async () => {
      const phase = (what: string) => console.log(`+${((Date.now() - startedAt) / 1000).toFixed(1)}s ${what}`);
      await until(async () => (await health().catch(() => undefined))?.watching === true, 60_000, 'detection watching');
      const first = await scrape();
      expect(first.some((s) => s.name.startsWith('temporal_'))).toBe(true);
      expect(value(first, 'failover_service_available', { service: SERVICE })).toBe(1);

      phase('A flap:');
      // A flap: the backup stops answering long enough to be called down, then answers again at once.
      const b = fx.topology.redis['redis-b']!;
      b.child.kill('SIGSTOP'); // not kill(): that waits for an exit
      await until(async () => (await health()).health['redis-b']?.status === 'down', 10_000, 'redis-b down');
      b.child.kill('SIGCONT');
      await until(
        async () => (await health()).decisions.some((d) => d.event.destination === 'redis-b' && d.event.kind === 'recovered'),
        10_000,
        'redis-b recovered',
      );

      phase('The primary dies:');
      // The primary dies: detection fails over by itself.
      await fx.topology.redis['redis-a']!.kill('SIGKILL');
      await until(
        async () =>
          (
            await client.workflow
              .getHandle(runbookWorkflowId(SERVICE))
              .describe()
              .catch(() => undefined)
          )?.status.name === 'COMPLETED',
        30_000,
        'failover completed',
      );
      let s = await scrape();
      const labels = { service: SERVICE, kind: 'failover', trigger: 'detection' };
      await until(
        async () => value((s = await scrape()), 'failover_runbooks_finished_total', { ...labels, outcome: 'switched' }) === 1,
        10_000,
        'failover counted',
      );
      expect(value(s, 'failover_runbooks_started_total', labels)).toBe(1);
      expect(value(s, 'failover_rto_seconds_count', labels)).toBe(1);
      expect(value(s, 'failover_outage_seconds_count', labels)).toBe(1);
      expect(value(s, 'failover_rpo_units_count', labels)).toBe(1);
      // Outage runs from the first failed probe, so it is longer than the RTO (runbook start → switch).
      expect(value(s, 'failover_outage_seconds_sum', labels)).toBeGreaterThan(value(s, 'failover_rto_seconds_sum', labels));
      expect(value(s, 'failover_detection_seconds_count', { service: SERVICE, destination: 'redis-a', event: 'down' })).toBe(1);
      expect(value(s, 'failover_detection_decisions_total', { service: SERVICE, destination: 'redis-a', event: 'down', action: 'failover' })).toBe(1);
      expect(value(s, 'failover_detection_false_decisions_total', { service: SERVICE, destination: 'redis-b', reason: 'recovered' })).toBe(1);
      expect(value(s, 'failover_runbook_steps_total', { service: SERVICE, kind: 'failover', step: 'promote_target', outcome: 'ok' })).toBe(1);
      await until(async () => value((s = await scrape()), 'failover_service_outages_total', { service: SERVICE }) === 1, 10_000, 'outage ended');
      expect(value(s, 'failover_service_available', { service: SERVICE })).toBe(1);
      expect(value(s, 'failover_service_unavailable_seconds_total', { service: SERVICE })).toBeGreaterThanOrEqual(1);
      fs.writeFileSync(path.join(dir, 'metrics-after-failover.txt'), await (await fetch(`http://${metricsAddress}/metrics`)).text());
      console.log(`metrics after the failover: ${path.join(dir, 'metrics-after-failover.txt')}`);

      phase('A worker restart');
      // A worker restart replays detection's and the runbooks' histories: nothing is counted again.
      // (Once Prometheus has what this worker counted: a pull that misses a dead process's last seconds loses them.)
      const scraped = async (expr: string) =>
        ((await (await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: expr })}`)).json()) as { data: { result: unknown[] } }).data.result
          .length > 0;
      await until(
        () => scraped(`failover_service_outages_total{service="${SERVICE}"} >= 1 and on() failover_rto_seconds_count{service="${SERVICE}"} >= 1`),
        15_000,
        'Prometheus scraped the failover',
      );
      await stopWorker();
      startWorker();
      await until(async () => (await scrape().catch(() => [])).length > 0, 60_000, 'restarted worker serves /metrics');
      await until(async () => (await health().catch(() => undefined))?.watching === true, 60_000, 'detection watching again');
      s = await scrape();
      expect(value(s, 'failover_runbooks_started_total')).toBe(0);
      expect(value(s, 'failover_detection_decisions_total', { service: SERVICE, destination: 'redis-a', event: 'down' })).toBe(0);

      phase('Suspended,');
      // Suspended, the returned old primary's resync is held; resumed, it runs.
      expect((await cli('suspend', SERVICE, '--reason', 'observability test', '--by', 'tester')).code).toBe(0);
      fx.topology.redis['redis-a'] = await startRedis({ port: fx.topology.redis['redis-a']!.port, dir: fx.dir, name: 'redis-a-back' });
      await until(async () => (await health()).decisions.some((d) => d.held !== undefined), 20_000, 'a held decision');
      expect((await cli('resume', SERVICE, '--by', 'tester')).code).toBe(0);
      await until(async () => (await health()).decisions.some((d) => d.outcome === 'standby-restored'), 30_000, 'redis-a resynced');
      s = await scrape();
      expect(value(s, 'failover_automatic_runbooks_held_total', { service: SERVICE, reason: 'suspension' })).toBeGreaterThanOrEqual(1);
      expect(value(s, 'failover_automatic_runbooks_held_total', { service: SERVICE, reason: 'cooldown' })).toBeGreaterThanOrEqual(1);

      phase('Failback by hand.');
      // Failback by hand.
      const back = await cli('start', 'recovery', SERVICE, '--destination', 'redis-a', '--wait', '--by', 'tester');
      expect(back.code, `${back.stdout}\n${back.stderr}`).toBe(0);
      await until(
        async () => value((s = await scrape()), 'failover_recovery_seconds_count', { service: SERVICE, trigger: 'manual', outcome: 'failed-back' }) === 1,
        10_000,
        'failback counted',
      );
      expect(value(s, 'failover_consistency_lag_units_count', { service: SERVICE, kind: 'recovery' })).toBeGreaterThanOrEqual(1);
      await until(
        async () => value((s = await scrape()), 'failover_routing_weight', { service: SERVICE, destination: 'redis-a' }) > 0,
        10_000,
        'routing gauges follow',
      );
    },
  );

  it('every panel of the Grafana dashboard returns data from that Prometheus', async () => {
    const dashboard = JSON.parse(fs.readFileSync('deploy/grafana/failover.json', 'utf8')) as { title: string; panels: Panel[] };
    const panels = dashboard.panels.flatMap((p) => (p.type === 'row' ? (p.panels ?? []) : [p]));
    expect(panels.length).toBeGreaterThanOrEqual(20);
    // Prometheus has scraped what the last runbook left (the failback's routing), and one more scrape after it.
    const query = async (expr: string) =>
      ((await (await fetch(`${prometheus.url}/api/v1/query?${new URLSearchParams({ query: expr })}`)).json()) as { data: { result: unknown[] } }).data.result
        .length > 0;
    await until(
      () => query(`failover_routing_weight{service="${SERVICE}", destination="redis-a", workflow_type="recovery"} == 100`),
      30_000,
      'Prometheus scraped the failback',
    );
    // The range queries below step 5s: their last point must come after that scrape.
    await new Promise((r) => setTimeout(r, 6000));
    const end = Date.now();
    const rangeS = Math.ceil((end - startedAt) / 1000) + 60;
    const empty: string[] = [];
    const last: Record<string, number> = {};
    const rendered = new Map<Panel, RenderedPanel>();
    for (const panel of panels) {
      expect(panel.targets?.length ?? 0, `panel "${panel.title}" has queries`).toBeGreaterThan(0);
      for (const target of panel.targets!) {
        const expr = target.expr
          .replaceAll('$__rate_interval', '15s')
          .replaceAll('$__interval', '5s')
          .replaceAll('$__range_s', String(rangeS))
          .replaceAll('$__range', `${rangeS}s`)
          .replaceAll('$service', '.+');
        const url = `${prometheus.url}/api/v1/query_range?${new URLSearchParams({ query: expr, start: String(startedAt / 1000), end: String(end / 1000), step: '5' })}`;
        const body = (await (await fetch(url)).json()) as {
          status: string;
          error?: string;
          data?: { result: { metric: Record<string, string>; values: [number, string][] }[] };
        };
        expect(body.status, `${panel.title}: ${expr}: ${body.error}`).toBe('success');
        const hasData = body.data!.result.some((r) => r.values.some(([, v]) => Number.isFinite(Number(v))));
        if (!hasData) empty.push(`${panel.title}: ${expr}`);
        const final = body.data!.result.map((r) => Number(r.values[r.values.length - 1]?.[1]));
        if (final.length === 1) last[`${panel.title}/${target.legendFormat ?? ''}`] = final[0]!;
        const r = rendered.get(panel) ?? {
          title: panel.title,
          type: panel.type,
          gridPos: panel.gridPos!,
          ...(panel.fieldConfig?.defaults?.unit ? { unit: panel.fieldConfig.defaults.unit } : {}),
          series: [],
        };
        r.series.push(
          ...(body.data?.result ?? []).map((s) => ({
            labels: s.metric,
            legend: legendOf(target.legendFormat, s.metric),
            values: s.values.map(([t, v]) => [t * 1000, Number(v)] as [number, number]),
          })),
        );
        rendered.set(panel, r);
      }
    }
    expect(empty).toEqual([]);
    // The panels say what happened: one outage, so availability below 1; the one failover switched; the flap was a false decision.
    expect(last['Outages/{{service}}']).toBe(1);
    expect(last['Availability/{{service}}']).toBeGreaterThan(0.5);
    expect(last['Availability/{{service}}']).toBeLessThan(1);
    expect(last['Failover success rate/{{service}}']).toBe(1);
    expect(last['Detection accuracy/{{service}}']).toBeLessThan(1);
    // Runbooks and the redundancy runbook each report the routing they saw: the newest generation wins (failed back to redis-a).
    const weights = [...rendered.values()].find((p) => p.title.startsWith('Routing weights'))!.series;
    const weightOf = (id: string) => weights.find((w) => w.labels.destination === id)!.values.at(-1)![1];
    expect([weightOf('redis-a'), weightOf('redis-b')]).toEqual([100, 0]);

    // What the panels showed, drawn from the same query results (Grafana itself is not packaged here).
    const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => ({ type: 'row' as const, title: p.title, gridPos: p.gridPos! }));
    const html = renderDashboardHtml(
      dashboard.title,
      [...rows, ...rendered.values()],
      { start: startedAt, end },
      `rendered from deploy/grafana/failover.json against the test's Prometheus, ${new Date(end).toISOString().slice(0, 16)}Z`,
    );
    const out = path.join(ARTIFACTS_DIR, 'observability');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, 'dashboard.html'), html);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
      await page.setContent(html);
      await page.screenshot({ path: path.join(out, 'dashboard.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });
});

interface Panel {
  type: string;
  title: string;
  gridPos?: { h: number; w: number; x: number; y: number };
  fieldConfig?: { defaults?: { unit?: string } };
  panels?: Panel[];
  targets?: { expr: string; legendFormat?: string }[];
}
