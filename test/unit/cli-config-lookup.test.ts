import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/program';

/** Runs the CLI in this process with only the given environment; returns exit code and output. */
async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((stdout += String(s)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((stderr += String(s)), true));
  try {
    const code = await runCli(['node', 'failover', ...args], { PATH: process.env.PATH, ...env });
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('CLI config lookup, version, and config errors', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-lookup-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints its version', async () => {
    const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string };
    expect((await cli(['--version'])).stdout).toBe(`failover-manager ${pkg.version}\n`);
  });

  it('looks for --config, then $FAILOVER_CONFIG, then the documented default, and never falls back to the demo config', async () => {
    const none = await cli(['status', 'orders-bus']);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(
      'failover: no config file: neither --config nor $FAILOVER_CONFIG names one, and the default /etc/failover-manager/failover.yaml does not exist. ' +
        'Pass --config FILE or set FAILOVER_CONFIG (the demo that npm start runs uses config/example.yaml).\n',
    );
    const file = path.join(dir, 'empty.yaml');
    fs.writeFileSync(file, 'services: []\n');
    // The variable is used when there is no flag; the flag wins over it.
    const fromEnv = await cli(['status', 'orders-bus'], { FAILOVER_CONFIG: file });
    expect(fromEnv.stderr).toBe(`failover: <service>: no service "orders-bus" in ${file} (it has no services)\n`);
    const fromFlag = await cli(['--config', 'config/example.yaml', 'demo', 'list', '--data-dir', dir], { FAILOVER_CONFIG: file });
    expect(fromFlag.stderr).toBe(`failover: no npm start runs with data directory ${dir}; start the demo with npm start -- --data-dir ${dir}\n`);
  });

  it('config check: an alias without anchor exits 2 naming file, line and column; warnings go to stderr', async () => {
    const bad = path.join(dir, 'alias.yaml');
    fs.writeFileSync(bad, 'failover_manager:\n  quality: *defaults\n');
    const r = await cli(['config', 'check', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:2:12: YAML: alias *defaults has no anchor &defaults before it`);
    const seed = await cli(['config', 'check', 'test/fixtures/config/seed-example-1.yaml']);
    expect(seed.code).toBe(0);
    expect(seed.stdout).toBe('ok: test/fixtures/config/seed-example-1.yaml is valid (0 services: none)\n');
    expect(seed.stderr).toContain('warning: performance.caching: true has no effect');
  });
});
