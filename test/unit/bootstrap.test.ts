import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bootstrap-'));
fs.chmodSync(dir, 0o755);
/** Where the script looks for the packages' binaries: only what a test links in. */
const packages = path.join(dir, 'packages');
/** A `temporal` on PATH, so the script never builds one here. */
const tools = path.join(dir, 'tools');
for (const d of [packages, tools]) fs.mkdirSync(d, { mode: 0o755 });
fs.writeFileSync(path.join(tools, 'temporal'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
const provide = (bin: string) => fs.symlinkSync('/bin/true', path.join(packages, bin));

/** Runs the script as a user without root (nobody, when the tests run as root), as `npm start`/`npm test` would. */
function bootstrap(mode: string) {
  const asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  const env = { PATH: `${tools}:${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: dir, BOOTSTRAP_SEARCH_PATH: packages };
  const [cmd, ...args] = [...asUser, 'bash', 'scripts/bootstrap.sh', mode];
  const r = spawnSync(cmd!, args, { cwd: ROOT, env, encoding: 'utf8' });
  return { code: r.status, err: r.stderr };
}

describe('bootstrap, as a user who cannot install packages', () => {
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('npm start: names what the demo is missing and how to install it, and fails; never asks for what only the tests need', () => {
    provide('redis-server');
    const r = bootstrap('start');
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'bootstrap (npm start): missing Debian packages:\n  haproxy                  the router in front of them, switched by the runbooks\n',
    );
    expect(r.err).toContain('  sudo apt-get install -y haproxy\n');
    expect(r.err).toContain('npm start -- --no-demo');
    expect(r.err).not.toMatch(/nats-server|rabbitmq|chromium|prometheus/);
  });

  it('npm start has all it needs once the demo packages are there, whatever the tests lack; npm test then names its own', () => {
    provide('haproxy');
    const start = bootstrap('start');
    expect(start).toEqual({ code: 0, err: '' });
    const test = bootstrap('test');
    expect(test.code).toBe(1);
    expect(test.err).toContain('bootstrap (npm test): missing Debian packages:');
    expect(test.err).toContain('  sudo apt-get install -y nats-server rabbitmq-server prometheus prometheus-alertmanager chromium openssl\n');
    expect(test.err).not.toMatch(/^ {2}(redis-server|haproxy) /m);
  });
});
