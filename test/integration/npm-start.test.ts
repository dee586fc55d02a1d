import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../dev/devserver/free-port';
import { portHolders } from '../../dev/devserver/holders';
import { until } from '../support/wait';

const ROOT = path.resolve(__dirname, '..', '..');

/** The environment of someone who just cloned the repository: none of the project's variables set. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('TEMPORAL_') || k.startsWith('FAILOVER_')) delete env[k];
  return { ...env, LOG_FORMAT: 'json' };
}

interface Started {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function npmStart(args: string[]): Started {
  // What `npm start` runs after its bootstrap step (tsx dev/demo.ts), on ports and a data dir of its own.
  const child = spawn(process.execPath, ['--import', 'tsx', 'dev/demo.ts', ...args], { cwd: ROOT, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 400_000);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => (clearTimeout(timer), resolve(code))));
  return { child, out: () => out, exited };
}

/** A printed command, pasted into a shell as it is. */
function paste(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile('bash', ['-c', command], { cwd: ROOT, env: cleanEnv(), timeout: 120_000, maxBuffer: 8 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }),
    ),
  );
}

describe('npm start: one instance at a time, and the commands it prints work when pasted', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-npm-start-'));
  const dataDir = path.join(dir, 'data');
  const configFile = path.join(dir, 'demo.yaml');
  let ports: { temporal: number; ui: number; demo: number[] };
  let first: Started;
  let commands: string[] = [];
  const printed = (pattern: RegExp) => {
    const found = commands.find((c) => pattern.test(c));
    if (!found) throw new Error(`no printed command matches ${pattern}: ${commands.join(' | ')}`);
    return found;
  };

  beforeAll(async () => {
    ports = { temporal: await freePort(), ui: await freePort(), demo: [await freePort(), await freePort(), await freePort(), await freePort()] };
    // The demo config with ports of this test's own: the real defaults (16389-16392, 7233, 8233) are never touched.
    let text = fs.readFileSync(path.join(ROOT, 'config', 'example.yaml'), 'utf8');
    [16389, 16390, 16391, 16392].forEach((p, i) => (text = text.replaceAll(String(p), String(ports.demo[i]))));
    fs.writeFileSync(configFile, text);
    first = npmStart(['--config', configFile, '--demo', '--data-dir', dataDir, '--temporal-port', String(ports.temporal), '--ui-port', String(ports.ui)]);
    await until(
      () => first.out().includes('Ctrl-C stops everything.') || first.child.exitCode !== null,
      300_000,
      () => `npm start ready: ${first.out().slice(-2000)}`,
    );
    expect(first.child.exitCode).toBeNull();
    // Each printed command, without its trailing comment.
    commands = first
      .out()
      .split('\n')
      .filter((l) => l.startsWith('  npm run -s cli --'))
      .map((l) => l.replace(/\s+# .*$/, '').trim());
  });
  afterAll(async () => {
    if (first && first.child.exitCode === null) {
      first.child.kill('SIGINT');
      await Promise.race([first.exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (first.child.exitCode === null) first.child.kill('SIGKILL');
    }
  });

  it("prints where everything is, and CLI commands naming this instance's config, address and data dir", () => {
    const out = first.out();
    expect(out).toContain(`Temporal:   127.0.0.1:${ports.temporal} (namespace default, task queue failover-manager)`);
    expect(out).toContain(`Web UI:     http://127.0.0.1:${ports.ui}`);
    expect(out).toContain(`State:      ${dataDir}: workflows, histories, schedules, config versions`);
    expect(out).toContain(`orders-bus: redis-a :${ports.demo[2]} (primary), redis-b :${ports.demo[3]} (replica)`);
    const keys = path.join(dataDir, 'codec-keys.json');
    expect(out).toContain(`Payloads:   encrypted (AES-256-GCM) with the key in ${keys}`);
    // Generated once, readable by its owner only.
    expect(fs.statSync(keys).mode & 0o777).toBe(0o600);
    // The demo's HAProxy as docs/haproxy.md recommends it.
    expect(fs.readFileSync(path.join(dataDir, 'demo', 'orders-bus', 'haproxy-orders.cfg'), 'utf8')).toContain('timeout connect 500ms');
    const cli = `npm run -s cli -- --config ${configFile} --address 127.0.0.1:${ports.temporal} --codec-keys ${keys}`;
    expect(commands).toEqual([
      `${cli} status orders-bus`,
      `${cli} status orders-bus --watch`,
      `npm run -s cli -- demo kill redis-a --data-dir ${dataDir}`,
      `npm run -s cli -- demo start redis-a --data-dir ${dataDir}`,
      `${cli} start recovery orders-bus --destination redis-a --wait`,
      `${cli} suspend --all --reason "<why>"`,
    ]);
  });

  it('refuses a second npm start on the same data directory, naming the first; the first still serves', async () => {
    const second = npmStart([
      '--config',
      configFile,
      '--demo',
      '--data-dir',
      dataDir,
      '--temporal-port',
      String(ports.temporal),
      '--ui-port',
      String(ports.ui),
    ]);
    expect(await second.exited).toBe(3);
    expect(second.out()).toContain(`npm start: another npm start holds ${dataDir} (pid ${first.child.pid}, started `);
    expect(second.out()).toContain(`or kill ${first.child.pid})`);

    // Another data directory, the same ports: refused before it starts anything, naming who holds each port.
    const third = npmStart([
      '--config',
      configFile,
      '--demo',
      '--data-dir',
      path.join(dir, 'other'),
      '--temporal-port',
      String(ports.temporal),
      '--ui-port',
      String(ports.ui),
    ]);
    expect(await third.exited).toBe(3);
    expect(third.out()).toMatch(
      new RegExp(
        `port ${ports.temporal} \\(Temporal dev server\\) is held by pid \\d+ \\(\\S*temporal server start-dev .*\\), started by npm start \\(pid ${first.child.pid}\\)`,
      ),
    );
    expect(third.out()).toMatch(
      new RegExp(`port ${ports.demo[2]} \\(orders-bus redis-a\\) is held by pid \\d+ \\(redis-server 127\\.0\\.0\\.1:${ports.demo[2]}\\)`),
    );
    expect(fs.existsSync(path.join(dir, 'other', 'temporal.sqlite'))).toBe(false);

    expect(first.child.exitCode).toBeNull();
    const status = await paste(printed(/ status orders-bus$/));
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/detection {2}running, watching; traffic on redis-a/);
  });

  it('the newcomer path as printed: kill the primary, watch the failover, bring it back (resynced), fail back', async () => {
    const statusJson = async () =>
      JSON.parse((await paste(`${printed(/ status orders-bus$/)} --json`)).stdout) as {
        detection: { health: { primary?: string; sync?: Record<string, { state: string }> } } | null;
        last?: { type: string; status: string };
      };
    const kill = await paste(printed(/demo kill redis-a/));
    expect(kill.code).toBe(0);
    expect(kill.stdout).toMatch(/^killed redis-a of orders-bus \(pid \d+, port \d+\)/);
    // The status command it names works as pasted (this instance's key included).
    const hint = /watch detection fail over: (.*)$/m.exec(kill.stdout)![1]!;
    const hinted = { command: hint, ...(await paste(hint)) };
    expect(hinted.stderr).toBe('');
    expect(hinted.stdout).toMatch(/^detection {2}running/m);
    // Without the key (another data directory than the default) it says which flag it lacks.
    const keyless = await paste(hinted.command.replace(/ --codec-keys \S+/, ''));
    expect(keyless.stdout + keyless.stderr).toMatch(/is encrypted and this client has no key for it: pass --codec-keys <file>/);
    expect(portHolders(ports.demo[2]!)).toEqual([]);
    await until(async () => (await statusJson()).detection?.health.primary === 'redis-b', 60_000, 'detection failed over to redis-b');

    const back = await paste(printed(/demo start redis-a/));
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(/^started redis-a of orders-bus again, empty/);
    await until(async () => (await statusJson()).detection?.health.sync?.['redis-a']?.state === 'in-sync', 60_000, 'redis-a resynced');

    const failback = await paste(printed(/start recovery/));
    expect(failback.code).toBe(0);
    expect(failback.stdout).toMatch(/^recovery of orders-bus: failed-back redis-a/m);
    // --wait shows the steps as they happen, before the result.
    expect(failback.stdout).toMatch(/✔ health validation — 5 consecutive probes passed[^]*✔ switch section — writes paused[^]*^recovery of orders-bus/m);
    await until(async () => (await statusJson()).detection?.health.primary === 'redis-a', 30_000, 'traffic back on redis-a');
  });

  it('Ctrl-C stops everything it started and frees the data directory', async () => {
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    for (const p of [ports.temporal, ports.ui, ...ports.demo]) expect(portHolders(p), `port ${p}`).toEqual([]);
    expect(fs.existsSync(path.join(dataDir, 'npm-start.lock'))).toBe(false);
    // --reset clears what it left.
    const reset = npmStart([
      '--config',
      configFile,
      '--no-demo',
      '--data-dir',
      dataDir,
      '--temporal-port',
      String(ports.temporal),
      '--ui-port',
      String(ports.ui),
      '--reset',
    ]);
    await until(
      () => reset.out().includes('Ctrl-C stops everything.') || reset.child.exitCode !== null,
      300_000,
      () => `restart after reset: ${reset.out().slice(-1500)}`,
    );
    reset.child.kill('SIGINT');
    expect(await reset.exited).toBe(0);
    const removed = /reset: removed (.*)\n/.exec(reset.out())![1]!.split(', ');
    expect(removed).toEqual(expect.arrayContaining([path.join(dataDir, 'temporal.sqlite'), path.join(dataDir, 'demo')]));
  });
});
