import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { parseConfigDocument, readConfigFile } from '../../src/config-file';
import { validateConfig, type Policy } from '../../src/domain/config';
import { configProblems } from '../support/config-problems';

/** The spec's own examples ("Basic" and "Advanced Failover Management"), byte for byte. */
const SEED_1 = 'test/fixtures/config/seed-example-1.yaml';
const SEED_2 = 'test/fixtures/config/seed-example-2.yaml';

const policyOf = (yaml: string): Policy => parseConfigDocument(yaml).config.failover_manager;
const section = (name: string, body: Record<string, unknown>) => YAML.stringify({ failover_manager: { [name]: body } });

describe('the seed examples', () => {
  it('load unchanged, every key mapped onto what it means here', () => {
    const basic = readConfigFile(SEED_1);
    const p = basic.config.failover_manager;
    expect(basic.config.services).toEqual([]);
    expect(p.failover_detection).toMatchObject({
      health_threshold: 0.8,
      failure_threshold: 3,
      detection_interval: '30s',
      timeout: '5s',
      intelligent_detection: false,
    });
    // failover_strategy: automatic = automatic failover, targets by proximity; the topology stays active-passive.
    expect(p.failover_execution).toMatchObject({
      failover_strategy: 'active-passive',
      automatic_failover: true,
      target_selection: 'proximity',
      step_timeout: '10s',
    });
    expect(p.failover_execution.data_sync.enabled).toBe(true);
    expect(p.failover_execution.consistency_check.enabled).toBe(true);
    expect(p.failover_execution.rollback_support.enabled).toBe(true);
    expect(p.recovery_management).toMatchObject({
      recovery_strategy: 'automatic',
      automatic_recovery: true,
      performance_validation: false,
      health_monitoring: true,
    });
    // load_distribution: true = by capacity; health_monitoring = the redundancy runbook runs; optimization: false = no rebalance.
    expect(p.redundancy_management).toMatchObject({ redundancy_level: 2, load_distribution: 'capacity', rebalance: false, other_zone_backups: 0 });
    expect(p.supervision.redundancy).toBe(true);
    expect(p.quality).toMatchObject({ learning: true, quality_metrics: true });

    const advanced = readConfigFile(SEED_2);
    const q = advanced.config.failover_manager;
    expect(q.failover_detection).toMatchObject({ failure_threshold: 2, detection_interval: '15s', intelligent_detection: true });
    // intelligent = learned ranking (learning: true says the same).
    expect(q.failover_execution).toMatchObject({
      automatic_failover: true,
      target_selection: 'intelligent',
      step_timeout: '15s',
      performance_monitoring: true,
    });
    expect(q.failover_execution.gradual_failover.enabled).toBe(true);
    expect(q.recovery_management).toMatchObject({
      recovery_strategy: 'intelligent',
      automatic_recovery: true,
      gradual_recovery: true,
      performance_validation: true,
      health_validation: true,
    });
    // multi_level_redundancy: a backup outside the primary's zone and one outside its region; optimization = rebalance.
    expect(q.redundancy_management).toMatchObject({
      redundancy_level: 3,
      load_distribution: 'capacity',
      other_zone_backups: 1,
      other_region_backups: 1,
      rebalance: true,
      resource_management: true,
    });
    expect(q.performance).toMatchObject({ caching: true, parallel_processing: true, optimization: true });
  });

  it('keep the document as written for the live config', () => {
    const { raw } = readConfigFile(SEED_1);
    expect(raw).toEqual(YAML.parse(fs.readFileSync(SEED_1, 'utf8')));
    expect((raw as { failover_manager: { failover_execution: { failover_strategy: string } } }).failover_manager.failover_execution.failover_strategy).toBe(
      'automatic',
    );
  });

  it('warn at load about each key that cannot act here, saying why', () => {
    expect(readConfigFile(SEED_1).warnings).toEqual([
      'quality.quality_metrics: true has no effect yet: runbook metrics are not exported by this version; every runbook result and history already records its RTO, RPO and each step with its duration',
      'performance.caching: true has no effect: nothing is cached on purpose; every runbook step reads the router and probes live, which compare-and-set routing relies on',
      'services: none configured; workers supervise nothing until a config with services is applied (failover config apply FILE)',
    ]);
    const advanced = readConfigFile(SEED_2).warnings.map((w) => w.split(':')[0]);
    expect(advanced).toEqual([
      'failover_execution.performance_monitoring',
      'quality.quality_metrics',
      'redundancy_management.rebalance (seed key',
      'performance.caching',
      'performance.optimization',
      'services',
    ]);
  });

  it('validate to a config that validates to itself (runbooks re-read it)', () => {
    for (const file of [SEED_1, SEED_2]) {
      const { config } = readConfigFile(file);
      expect(validateConfig(JSON.parse(JSON.stringify(config)))).toEqual(config);
    }
  });
});

describe('seed keys one by one', () => {
  it.each([
    ['failover_execution', { failover_strategy: 'manual' }, 'failover_execution', { automatic_failover: false, failover_strategy: 'active-passive' }],
    ['failover_execution', { failover_strategy: 'active-active' }, 'failover_execution', { failover_strategy: 'active-active', automatic_failover: true }],
    ['failover_detection', { learning: true }, 'failover_execution', { target_selection: 'intelligent' }],
    ['failover_detection', { learning: false }, 'failover_execution', { target_selection: 'proximity' }],
    ['recovery_management', { recovery_strategy: 'manual' }, 'recovery_management', { automatic_recovery: false }],
    ['redundancy_management', { load_distribution: false }, 'redundancy_management', { load_distribution: 'equal' }],
    ['redundancy_management', { health_monitoring: false }, 'supervision', { redundancy: false }],
    ['redundancy_management', { optimization: true }, 'redundancy_management', { rebalance: true }],
    ['redundancy_management', { multi_level_redundancy: false }, 'redundancy_management', { other_zone_backups: 0, other_region_backups: 0 }],
    ['performance', { timeout: '45s' }, 'failover_execution', { step_timeout: '45s' }],
  ] as const)('%s %j sets %s %j', (from, seed, to, expected) => {
    expect(policyOf(section(from, seed))[to]).toMatchObject(expected);
  });

  it('quality.error_recovery and data_integrity turn rollback and the consistency gate on or off', () => {
    const off = policyOf(section('quality', { error_recovery: false, data_integrity: false })).failover_execution;
    expect(off.rollback_support.enabled).toBe(false);
    expect(off.consistency_check).toEqual({ enabled: false, max_lag: 1_048_576, timeout: '30s' });
    const kept = policyOf(
      YAML.stringify({ failover_manager: { quality: { data_integrity: true }, failover_execution: { consistency_check: { max_lag: 10 } } } }),
    );
    expect(kept.failover_execution.consistency_check).toEqual({ enabled: true, max_lag: 10, timeout: '30s' });
  });

  it('refuses a seed key that contradicts the project key it sets, naming both', () => {
    const p = configProblems(
      YAML.stringify({
        failover_manager: {
          failover_detection: { learning: true },
          failover_execution: { failover_strategy: 'automatic', automatic_failover: false, rollback_support: true, step_timeout: '5s' },
          recovery_management: { recovery_strategy: 'manual', automatic_recovery: true },
          redundancy_management: { optimization: true, rebalance: false, multi_level_redundancy: true, other_region_backups: 0 },
          performance: { timeout: '10s' },
          quality: { error_recovery: false },
        },
      }),
    );
    expect(p).toEqual([
      'failover_manager.failover_execution.automatic_failover: false contradicts failover_execution.failover_strategy "automatic" (it means automatic_failover: true); keep one of them',
      'failover_manager.failover_execution.target_selection: "proximity" (from failover_execution.failover_strategy "automatic") contradicts failover_detection.learning true (it means target_selection: "intelligent"); keep one of them',
      'failover_manager.recovery_management.automatic_recovery: true contradicts recovery_management.recovery_strategy "manual" (it means automatic_recovery: false); keep one of them',
      'failover_manager.redundancy_management.rebalance: false contradicts redundancy_management.optimization true (it means rebalance: true); keep one of them',
      'failover_manager.redundancy_management.other_region_backups: 0 contradicts redundancy_management.multi_level_redundancy true (it means other_region_backups: 1); keep one of them',
      'failover_manager.failover_execution.step_timeout: "5s" contradicts performance.timeout "10s" (it means step_timeout: "10s"); keep one of them',
      'failover_manager.failover_execution.rollback_support: true contradicts quality.error_recovery false (it means rollback_support: false); keep one of them',
    ]);
  });

  it('refuses a seed key with a value of the wrong kind, naming it', () => {
    expect(configProblems(section('failover_detection', { learning: 'yes' }))).toEqual([
      'failover_manager.failover_detection.learning: expected true or false (got "yes")',
    ]);
    expect(configProblems(section('performance', { timeout: 'soon' }))).toEqual([
      'failover_manager.performance.timeout: expected a duration such as "500ms", "30s" or "5m" (got "soon")',
    ]);
    expect(configProblems(section('recovery_management', { recovery_strategy: 'smart' }))[0]).toMatch(
      /^failover_manager\.recovery_management\.recovery_strategy: Invalid option: expected one of "automatic"\|"intelligent"\|"manual" \(got "smart"\)$/,
    );
  });

  it('warns about values it cannot honour, and only those', () => {
    const warnings = (body: Record<string, unknown>) =>
      parseConfigDocument(YAML.stringify({ failover_manager: body, services: [] }))
        .warnings.filter((w) => !w.startsWith('services:'))
        .map((w) => w.split(' has no effect')[0]);
    expect(
      warnings({ recovery_management: { health_monitoring: true, health_validation: true }, performance: { parallel_processing: true, caching: false } }),
    ).toEqual([]);
    expect(
      warnings({
        recovery_management: { health_monitoring: false, health_validation: false },
        redundancy_management: { resource_management: false },
        performance: { parallel_processing: false },
      }),
    ).toEqual([
      'recovery_management.health_monitoring: false',
      'recovery_management.health_validation: false',
      'redundancy_management.resource_management: false',
      'performance.parallel_processing: false',
    ]);
    // Rebalancing drifted weights is real for active-active.
    expect(warnings({ failover_execution: { failover_strategy: 'active-active' }, redundancy_management: { optimization: true } })).toEqual([]);
  });
});
