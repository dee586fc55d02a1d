import fs from 'node:fs';
import path from 'node:path';
import { startProcess, waitForPort, type LocalProcess, waitForHttpReady } from './processes';

export interface LocalPrometheus extends LocalProcess {
  port: number;
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:9090 */
  url: string;
}

export interface PrometheusTarget {
  job: string;
  /** "host:port" serving /metrics */
  address: string;
}

/** A throwaway Prometheus on 127.0.0.1 with its TSDB in `dir`, scraping the given targets. */
export async function startPrometheus(opts: { port: number; dir: string; targets: PrometheusTarget[]; scrapeInterval?: string }): Promise<LocalPrometheus> {
  const interval = opts.scrapeInterval ?? '1s';
  const configFile = path.join(opts.dir, 'prometheus.yml');
  const jobs = opts.targets.flatMap((t) => [
    `  - job_name: ${JSON.stringify(t.job)}`,
    `    scrape_interval: ${interval}`,
    `    scrape_timeout: ${interval}`,
    `    static_configs:`,
    `      - targets: [${JSON.stringify(t.address)}]`,
  ]);
  fs.writeFileSync(configFile, ['global:', `  scrape_interval: ${interval}`, `  evaluation_interval: ${interval}`, 'scrape_configs:', ...jobs, ''].join('\n'));
  const proc = startProcess(
    `prometheus-${opts.port}`,
    'prometheus',
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(opts.dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${opts.port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ],
    path.join(opts.dir, `prometheus-${opts.port}.log`),
  );
  const url = `http://127.0.0.1:${opts.port}`;
  await waitForPort(opts.port, proc, 30_000);
  await waitForHttpReady(`${url}/-/ready`, proc);
  return { ...proc, port: opts.port, url };
}
