import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../../src/domain/search-attributes';
import { TEMPORAL_ENV_KEYS, temporalEnv } from '../../src/temporal-settings';
import { RECEIVER_ENV_KEYS, receiverEnv } from '../../src/triggers/receiver-env';
import { CODEC_ENV } from '../../src/security/codec';

interface ComposeService {
  image?: string;
  profiles?: string[];
  build?: string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  command?: string[];
  healthcheck?: { test?: string[] };
}
const compose = parse(fs.readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, ComposeService> };
const svc = (name: string) => {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};

describe('docker-compose.yml matches what the code reads', () => {
  it('has PostgreSQL-backed Temporal, the Web UI, the worker and the alert receiver', () => {
    const always = Object.entries(compose.services)
      .filter(([, s]) => !s.profiles)
      .map(([name]) => name);
    expect(always.sort()).toEqual(['alert-receiver', 'postgresql', 'temporal', 'temporal-setup', 'temporal-ui', 'worker']);
    expect(svc('temporal').environment!.DB).toBe('postgres12');
    expect(svc('temporal').environment!.POSTGRES_SEEDS).toBe('postgresql');
    expect(svc('worker').build).toBe('.');
  });

  it('points the worker and the UI at the Temporal frontend port the server publishes', () => {
    const frontendPort = svc('temporal')
      .ports!.map((p) => p.split(':').pop())
      .find((p) => p === '7233');
    expect(frontendPort).toBe('7233');
    expect(svc('worker').environment!.TEMPORAL_ADDRESS).toBe(`temporal:${frontendPort}`);
    expect(svc('temporal-ui').environment!.TEMPORAL_ADDRESS).toBe(`temporal:${frontendPort}`);
    expect(svc('temporal-setup').environment!.TEMPORAL_ADDRESS).toBe(`temporal:${frontendPort}`);
  });

  it('gives the worker only variables it reads, with values it accepts', () => {
    const env = svc('worker').environment!;
    const known = [...TEMPORAL_ENV_KEYS, ...Object.values(CODEC_ENV), 'LOG_LEVEL', 'LOG_FORMAT'];
    expect(Object.keys(env).filter((k) => !known.includes(k))).toEqual([]);
    expect(env.FAILOVER_CODEC_KEYS_FILE).toBe('${FAILOVER_CODEC_KEYS_FILE:-}');
    const parsed = temporalEnv(env);
    expect(parsed.TEMPORAL_TASK_QUEUE).toBe('failover-manager');
  });

  it('mounts the config directory where FAILOVER_CONFIG points', () => {
    const configPath = svc('worker').environment!.FAILOVER_CONFIG!;
    const mount = svc('worker')
      .volumes!.map((v) => v.split(':'))
      .find(([, target]) => configPath.startsWith(`${target}/`));
    expect(mount).toBeDefined();
    expect(fs.existsSync(mount![0]!)).toBe(true);
  });

  it('registers the search attributes the runbooks set', () => {
    const script = svc('temporal-setup').command!.join(' ');
    for (const sa of SEARCH_ATTRIBUTES) expect(script).toContain(sa.name);
    expect(script).toContain('--type Keyword');
  });

  it('builds the worker image from the compiled entry the build produces', () => {
    const dockerfile = fs.readFileSync('Dockerfile', 'utf8');
    const build = JSON.parse(fs.readFileSync('tsconfig.build.json', 'utf8')) as { compilerOptions: { outDir: string } };
    expect(dockerfile).toContain(`CMD ["node", "${build.compilerOptions.outDir}/worker.js"]`);
    expect(fs.existsSync('src/worker.ts')).toBe(true);
  });

  it('runs the alert receiver from the worker image, on the compiled entry, with the port it listens on published', () => {
    const receiver = svc('alert-receiver');
    expect(receiver.build).toBe(svc('worker').build);
    const build = JSON.parse(fs.readFileSync('tsconfig.build.json', 'utf8')) as { compilerOptions: { outDir: string } };
    expect(receiver.command).toEqual(['node', `${build.compilerOptions.outDir}/triggers/main.js`]);
    expect(fs.existsSync('src/triggers/main.ts')).toBe(true);
    const listen = receiverEnv(receiver.environment).ALERT_RECEIVER_LISTEN!;
    expect(listen).toMatch(/^0\.0\.0\.0:\d+$/);
    const port = listen.split(':')[1];
    expect(receiver.ports).toContain(`127.0.0.1:${port}:${port}`);
    expect(receiver.healthcheck!.test!.join(' ')).toContain(`http://127.0.0.1:${port}/healthz`);
  });

  it("gives the alert receiver the worker's Temporal settings and config, and secrets only from the host", () => {
    const env = svc('alert-receiver').environment!;
    const worker = svc('worker').environment!;
    for (const k of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_TASK_QUEUE', 'FAILOVER_CONFIG']) expect(env[k], k).toBe(worker[k]);
    expect(svc('alert-receiver').volumes).toEqual(svc('worker').volumes);
    const known = [...TEMPORAL_ENV_KEYS, ...RECEIVER_ENV_KEYS, 'LOG_LEVEL', 'LOG_FORMAT'];
    const secrets = Object.keys(env).filter((k) => !known.includes(k));
    expect(secrets.length).toBeGreaterThan(0);
    // Passed through from the host's environment, never written into the file.
    for (const k of secrets) expect(env[k], k).toBe(`\${${k}:-}`);
    expect(temporalEnv(env).TEMPORAL_TASK_QUEUE).toBe('failover-manager');
  });

  it("publishes the worker's /metrics; the observability profile scrapes it and the receiver and provisions the dashboard", () => {
    const env = svc('worker').environment!;
    const metrics = temporalEnv(env).FAILOVER_METRICS_ADDRESS!;
    expect(metrics).toMatch(/^0\.0\.0\.0:\d+$/);
    const port = metrics.split(':')[1];
    expect(svc('worker').ports).toContain(`127.0.0.1:${port}:${port}`);
    for (const name of ['prometheus', 'grafana']) expect(svc(name).profiles).toEqual(['observability']);

    const mount = (service: string, target: string) => {
      const m = svc(service)
        .volumes!.map((v) => v.split(':'))
        .find(([, t]) => t === target);
      expect(m, `${service} mounts ${target}`).toBeDefined();
      expect(fs.existsSync(m![0]!), m![0]).toBe(true);
      return m![0]!;
    };
    const prom = parse(fs.readFileSync(mount('prometheus', '/etc/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    expect(targets).toContain(`worker:${port}`);
    expect(targets).toContain(`alert-receiver:${receiverEnv(svc('alert-receiver').environment).ALERT_RECEIVER_LISTEN!.split(':')[1]}`);

    const provisioning = mount('grafana', '/etc/grafana/provisioning');
    const ds = parse(fs.readFileSync(`${provisioning}/datasources/prometheus.yml`, 'utf8')) as { datasources: { url: string }[] };
    expect(ds.datasources[0]!.url).toBe(`http://prometheus:${svc('prometheus').ports![0]!.split(':')[1]}`);
    const provider = parse(fs.readFileSync(`${provisioning}/dashboards/failover.yml`, 'utf8')) as { providers: { options: { path: string } }[] };
    const dashboard = mount('grafana', `${provider.providers[0]!.options.path}/failover.json`);
    expect(dashboard).toBe('./deploy/grafana/failover.json');
    expect(JSON.parse(fs.readFileSync(dashboard, 'utf8')).uid).toBe('failover-manager');
  });

  it('publishes every port on loopback only: nothing in it authenticates by itself', () => {
    const published = Object.entries(compose.services).flatMap(([name, s]) => (s.ports ?? []).map((p) => `${name} ${p}`));
    expect(published.length).toBeGreaterThan(5);
    expect(published.filter((p) => !/ 127\.0\.0\.1:\d+:\d+$/.test(p))).toEqual([]);
  });

  it('runs the codec endpoint for the Web UI from the worker image, with the keys the worker uses', () => {
    const codec = svc('codec-server');
    const build = JSON.parse(fs.readFileSync('tsconfig.build.json', 'utf8')) as { compilerOptions: { outDir: string } };
    expect(codec.command).toEqual(['node', `${build.compilerOptions.outDir}/security/codec-server-main.js`]);
    expect(fs.existsSync('src/security/codec-server-main.ts')).toBe(true);
    expect(codec.profiles).toEqual(['codec']);
    expect(codec.environment!.CODEC_SERVER_ORIGINS).toBe(svc('temporal-ui').environment!.TEMPORAL_CORS_ORIGINS);
    expect(codec.volumes).toEqual(svc('worker').volumes!.filter((v) => v.includes('secrets')));
  });
});
