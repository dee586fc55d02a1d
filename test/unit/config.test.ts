import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfigDocument, parseConfigText } from '../../src/config-file';
import { policyOf, redisEndpointOf } from '../../src/domain/config';
import { configProblems } from '../support/config-problems';

const minimal = `
services:
  - name: orders-bus
    router: { type: haproxy, socket: /run/haproxy/admin.sock, backend: orders }
    destinations:
      - id: redis-a
        zone: a
        region: r
        probe: { type: redis, host: 127.0.0.1, port: 6379 }
        replication: { type: redis }
`;

const problems = configProblems;

describe('config schema', () => {
  it('accepts the example config with every seed section', () => {
    const config = loadConfigFile('config/example.yaml');
    const p = config.failover_manager;
    expect(p.failover_detection.failure_threshold).toBe(3);
    expect(p.failover_execution.gradual_failover).toEqual({ enabled: true, steps: [25, 50, 100], soak: '30s' });
    expect(p.failover_execution.data_sync.enabled).toBe(true);
    expect(p.recovery_management.automatic_recovery).toBe(false);
    expect(p.redundancy_management.redundancy_level).toBe(1);
    expect(config.services[0]!.destinations.map((d) => d.id)).toEqual(['redis-a', 'redis-b']);
  });

  it('fills defaults for everything left out', () => {
    const c = parseConfigText(minimal);
    expect(c.failover_manager.failover_detection.detection_interval).toBe('1s');
    expect(c.failover_manager.failover_execution.consistency_check).toEqual({ enabled: true, max_lag: 1_048_576, timeout: '30s' });
    expect(c.services[0]!.destinations[0]!.tier).toBe(0);
    expect(c.services[0]!.destinations[0]!.weight).toBe(100);
    expect(redisEndpointOf(c.services[0]!.destinations[0]!)).toEqual({ host: '127.0.0.1', port: 6379 });
  });

  it('takes seed-style booleans for feature flags', () => {
    const c = parseConfigText(`failover_manager:\n  failover_execution:\n    gradual_failover: false\n    rollback_support: true\n${minimal}`);
    expect(c.failover_manager.failover_execution.gradual_failover.enabled).toBe(false);
    expect(c.failover_manager.failover_execution.gradual_failover.steps).toEqual([25, 50, 100]);
    expect(c.failover_manager.failover_execution.rollback_support.enabled).toBe(true);
  });

  it('names the path, the value and what was expected', () => {
    const bad = minimal.replace('port: 6379', 'port: "6379x"');
    expect(problems(bad)).toEqual(['services[0].destinations[0].probe.port: Invalid input: expected number, received string (got "6379x")']);
  });

  it('durations need their unit and stay within what makes sense for the key; a fence outlasts the catch-up it protects', () => {
    expect(problems(`failover_manager:\n  failover_detection:\n    cooldown: "30"\n${minimal}`)).toEqual([
      'failover_manager.failover_detection.cooldown: expected a duration with a unit, such as "500ms", "30s" or "5m" (got "30")',
    ]);
    expect(problems(`failover_manager:\n  failover_detection:\n    cooldown: 0s\n    detection_interval: 100000y\n${minimal}`)).toEqual([
      'failover_manager.failover_detection.detection_interval: expected at most 1h (got "100000y")',
      'failover_manager.failover_detection.cooldown: expected at least 1s (got "0s")',
    ]);
    expect(problems(`failover_manager:\n  failover_execution:\n    fence_timeout: 40s\n    step_timeout: 20s\n${minimal}`)).toEqual([
      'failover_manager.failover_execution.fence_timeout: expected fence_timeout longer than consistency_check.timeout + step_timeout: a fence must outlast the catch-up it protects (got "40s")',
    ]);
  });

  it('rejects a bad duration with the field named', () => {
    const p = problems(`failover_manager:\n  failover_detection:\n    detection_interval: soon\n${minimal}`);
    expect(p).toEqual(['failover_manager.failover_detection.detection_interval: expected a duration with a unit, such as "500ms", "30s" or "5m" (got "soon")']);
  });

  it('rejects unknown keys (typos) naming the key and the one it most likely meant, not the parent object', () => {
    const p = problems(`failover_manager:\n  failover_detection:\n    failure_treshold: 3\n    detectionInterval: 1s\n    colour: red\n${minimal}`);
    expect(p).toEqual([
      'failover_manager.failover_detection.failure_treshold: unknown key; did you mean "failure_threshold"?',
      'failover_manager.failover_detection.detectionInterval: unknown key; did you mean "detection_interval"?',
      expect.stringMatching(
        /^failover_manager\.failover_detection\.colour: unknown key \(expected one of health_threshold, failure_threshold, .*, learning\)$/,
      ),
    ]);
    // Inside lists and driver unions too, following the value's own `type`.
    const probe = problems(minimal.replace('port: 6379 }', 'port: 6379, pasword_env: X }'));
    expect(probe).toEqual(['services[0].destinations[0].probe.pasword_env: unknown key; did you mean "password_env"?']);
    // Seed keys the mapping consumes count as known keys.
    expect(problems(`failover_manager:\n  quality:\n    data_integrty: true\n${minimal}`)).toEqual([
      'failover_manager.quality.data_integrty: unknown key; did you mean "data_integrity"?',
    ]);
  });

  it('rejects duplicate destination ids and service names', () => {
    const dupDest = minimal + minimal.split('destinations:\n')[1]!.replace(/^/, '');
    expect(problems(dupDest)[0]).toMatch(/services\[0\]\.destinations\[1\]\.id: duplicate destination id, already used by destinations\[0\] \(got "redis-a"\)/);
    const twoServices = minimal + minimal.replace('services:\n', '');
    expect(problems(twoServices)).toEqual(['services[1].name: duplicate service name, already used by services[0] (got "orders-bus")']);
  });

  it('rejects bad values across sections, one line each', () => {
    const p = problems(`failover_manager:
  failover_detection: { health_threshold: 1.5, failure_threshold: 0 }
  failover_execution: { failover_strategy: round-robin, gradual_failover: { steps: [50, 25] } }
${minimal}`);
    expect(p).toEqual([
      'failover_manager.failover_execution.failover_strategy: expected one of "active-passive", "active-active", "automatic", "intelligent", "manual" (got "round-robin")',
      'failover_manager.failover_detection.health_threshold: Too big: expected number to be <=1 (got 1.5)',
      'failover_manager.failover_detection.failure_threshold: Too small: expected number to be >=1 (got 0)',
      'failover_manager.failover_execution.gradual_failover.steps: expected increasing percentages ending at 100 (got [50,25])',
    ]);
  });

  it('requires exactly one runtime API address for haproxy', () => {
    const p = problems(minimal.replace('socket: /run/haproxy/admin.sock, ', ''));
    expect(p).toEqual(['services[0].router: expected exactly one of "socket" or "address" (got {"type":"haproxy","backend":"orders"})']);
  });

  it('rejects an unknown driver type naming the accepted ones', () => {
    const p = problems(minimal.replace('probe: { type: redis', 'probe: { type: kafka'));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(
      /^services\[0\]\.destinations\[0\]\.probe\.type: Invalid discriminator value\. Expected 'redis' \| 'tcp' \| .*'http'.* \(got "kafka"\)$/,
    );
  });

  it('reports YAML syntax errors with file, line, column and the lines around it', () => {
    expect(problems('failover_manager:\n  failover_detection: { timeout: a: b }\n')).toEqual([
      [
        'test.yaml:2:34: YAML: Block collections are not allowed within flow collections',
        '    1 | failover_manager:',
        '    2 |   failover_detection: { timeout: a: b }',
        '      |                                  ^',
      ].join('\n'),
    ]);
    expect(problems('services: [\n')[0]).toMatch(
      /^test\.yaml:2:1: YAML: Flow sequence in block collection must be sufficiently indented and end with a \]\n    1 \| services: \[\n/,
    );
    expect(problems('a: 1\na: 2\n')[0]).toMatch(/^test\.yaml:2:1: YAML: Map keys must be unique\n/);
    const missing = path.join(os.tmpdir(), 'does-not-exist.yaml');
    expect(() => loadConfigFile(missing)).toThrow(/cannot read file/);
  });

  it('names an alias without an anchor by file, line and column instead of crashing', () => {
    expect(problems('failover_manager:\n  quality: *defaults\n')).toEqual([
      [
        'test.yaml:2:12: YAML: alias *defaults has no anchor &defaults before it',
        '    1 | failover_manager:',
        '    2 |   quality: *defaults',
        '      |            ^',
      ].join('\n'),
    ]);
  });

  it('loads a config without services: the worker supervises nothing, and a warning says so', () => {
    const doc = parseConfigDocument('services: []\n', 'empty.yaml');
    expect(doc.config.services).toEqual([]);
    expect(doc.warnings).toEqual(['services: none configured; workers supervise nothing until a config with services is applied (failover config apply FILE)']);
    expect(parseConfigDocument('failover_manager: {}\n').config.services).toEqual([]);
  });

  it('loads a file written to disk', () => {
    const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-')), 'c.yaml');
    fs.writeFileSync(f, minimal);
    expect(loadConfigFile(f).services[0]!.name).toBe('orders-bus');
  });

  it('a service policy overrides the fleet policy key by key, for that service only', () => {
    const text = `failover_manager:\n  failover_execution:\n    gradual_failover: { steps: [10, 100] }\n${minimal.replace(
      '    destinations:',
      '    policy:\n      failover_execution: { failover_strategy: active-active, gradual_failover: { soak: 1s } }\n      failover_detection: { failure_threshold: 5 }\n    destinations:',
    )}  - name: other-bus\n    router: { type: file, path: /tmp/other.json }\n    destinations: [{ id: x, zone: a, region: r, probe: { type: tcp, host: h, port: 1 } }]\n`;
    const config = parseConfigText(text);
    const own = policyOf(config, 'orders-bus');
    expect(own.failover_execution.failover_strategy).toBe('active-active');
    expect(own.failover_execution.gradual_failover).toEqual({ enabled: true, steps: [10, 100], soak: '1s' });
    expect(own.failover_detection.failure_threshold).toBe(5);
    expect(policyOf(config, 'other-bus')).toBe(config.failover_manager);
    expect(config.failover_manager.failover_execution.failover_strategy).toBe('active-passive');
  });

  it('a bad service policy key is named at its path; fleet-only sections are refused there', () => {
    const bad = (policy: string) => problems(minimal.replace('    destinations:', `    policy: ${policy}\n    destinations:`));
    expect(bad('{ failover_detection: { failure_threshold: 0 } }')).toEqual([
      'services[0].policy.failover_detection.failure_threshold: Too small: expected number to be >=1 (got 0)',
    ]);
    expect(bad('{ failover_execution: { failover_strategy: round-robin } }')).toEqual([
      'services[0].policy.failover_execution.failover_strategy: expected one of "active-passive", "active-active", "automatic", "intelligent", "manual" (got "round-robin")',
    ]);
    expect(bad('{ brakes: { window: 1m } }')[0]).toMatch(
      /^services\[0\]\.policy\.brakes: unknown key \(expected one of failover_detection, failover_execution, /,
    );
    expect(bad('{ failover_detection: { failure_treshold: 2 } }')).toEqual([
      'services[0].policy.failover_detection.failure_treshold: unknown key; did you mean "failure_threshold"?',
    ]);
    // Seed vocabulary works in a service's own policy too, contradictions named at its path.
    const seedPolicy = parseConfigText(
      minimal.replace('    destinations:', '    policy: { failover_execution: { failover_strategy: intelligent } }\n    destinations:'),
    );
    expect(policyOf(seedPolicy, 'orders-bus').failover_execution).toMatchObject({
      failover_strategy: 'active-passive',
      automatic_failover: true,
      target_selection: 'intelligent',
    });
    expect(bad('{ failover_execution: { failover_strategy: manual, automatic_failover: true } }')).toEqual([
      'services[0].policy.failover_execution.automatic_failover: true contradicts failover_execution.failover_strategy "manual" (it means automatic_failover: false); keep one of them',
    ]);
  });
});
