import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { readConfigFile } from '../../src/config-file';
import { DEFAULT_DATA_DIR } from '../../src/local-instance';
import { readyText } from '../../dev/demo';

const readme = fs.readFileSync('README.md', 'utf8');

/** Every leaf key of a YAML document, as dotted paths. */
function leafKeys(doc: unknown, at = ''): string[] {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return [at];
  return Object.entries(doc).flatMap(([k, v]) => leafKeys(v, at ? `${at}.${k}` : k));
}

describe('README', () => {
  it('shows the commands npm start prints for the demo, as printed', () => {
    const { config } = readConfigFile('config/example.yaml');
    const text = readyText({
      config,
      configFile: 'config/example.yaml',
      address: '127.0.0.1:7233',
      namespace: 'default',
      taskQueue: 'failover-manager',
      dataDir: path.resolve(DEFAULT_DATA_DIR),
      demo: true,
      supervised: true,
      watched: true,
      metricsAddress: '127.0.0.1:9464',
    });
    const commands = text
      .split('\n')
      .filter((l) => /^ {2}(npm run -s cli --|curl)/.test(l))
      .map((l) => l.trim().replace(/\s+# [^']*$/, ''));
    expect(commands.length).toBeGreaterThanOrEqual(6);
    const firstScreen = readme.slice(0, readme.indexOf('## What it is'));
    // All but the last (suspend --all, a brake shown elsewhere).
    for (const c of commands.slice(0, -1)) expect(firstScreen, c).toContain(c);
  });

  it('has a row in the seed key table for every key of the spec examples', () => {
    const table = readme.slice(readme.indexOf('### Seed keys'), readme.indexOf('\n#', readme.indexOf('### Seed keys') + 5));
    for (const file of ['test/fixtures/config/seed-example-1.yaml', 'test/fixtures/config/seed-example-2.yaml']) {
      for (const key of leafKeys(YAML.parse(fs.readFileSync(file, 'utf8')))) {
        const [, section, name] = key.split('.');
        // A row names the key in full, or lists it after its section's first key (`a.b, c, d`).
        const row = table
          .split('\n')
          .find((l) => l.startsWith('| `') && l.split('|')[1]!.includes(section!) && new RegExp(`\\b${name}\\b`).test(l.split('|')[1]!));
        expect(row, `${key} in README "Seed keys"`).toBeDefined();
      }
    }
  });
});
