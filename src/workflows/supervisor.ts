import * as wf from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  admitUpdate,
  applyConfigFileUpdate,
  applyConfigUpdate,
  configAtQuery,
  configHistoryQuery,
  configVersionQuery,
  liveConfigQuery,
  reconcileSignal,
  resumeUpdate,
  rollbackConfigUpdate,
  supervisionQuery,
  supervisorStateQuery,
  suspendUpdate,
  changeRequestSchema,
  supervisorInputSchema,
  type ConfigChangeRequest,
  type ConfigChangeResult,
  type ConfigVersion,
  type ServiceSupervision,
  type SupervisionStatus,
  type SupervisorEvent,
  type SupervisorInput,
} from '../api/supervisor';
import { admit, emptyBrakes, resume, suspend, suspensionOf, type BrakeState } from '../domain/brakes';
import { validateConfig, type Config } from '../domain/config';
import { affectedServices, configHash, diffConfig, formatDiff } from '../domain/config-diff';
import { requireMs } from '../domain/duration';
import { labelRunbook } from './labels';
import { parseInput, refuse } from './runbook-frame';
import { authorizeConfigChange } from './config-access';
import { documentDigest } from '../domain/config-auth';
import { isReservedActor, RESERVED_ACTORS } from '../domain/control-auth';

type ParsedSupervisorInput = ReturnType<typeof supervisorInputSchema.parse>;

/** Versions listed by `config history`; the newest KEEP_DOCUMENTS also keep their document (show, rollback). */
const KEEP_VERSIONS = 200;
const KEEP_DOCUMENTS = 10;
const KEEP_EVENTS = 50;
const MAX_DIFF_LINES = 200;

interface StoredVersion extends ConfigVersion {
  config?: unknown;
}

/** Everything the supervisor carries across continue-as-new (and across a restart by a worker). */
interface SupervisorState {
  versions: StoredVersion[];
  brakes: BrakeState;
  services: Record<string, ServiceSupervision>;
  lastReconcile?: SupervisionStatus['lastReconcile'];
  events: SupervisorEvent[];
  /** Running runbooks of these services must hear of config version `version`. */
  notify?: { services: string[]; version: number };
  /** These services' detection must hear of a brake change. */
  brakesChanged?: string[];
  /** Maintenance schedules must be synced with the live config. */
  syncSchedules?: boolean;
}

/** Config versions and brakes, kept apart from Temporal plumbing. */
class Supervisor {
  readonly state: SupervisorState;
  /** Something changed that the loop must act on now. */
  dirty = true;

  constructor(input: ParsedSupervisorInput) {
    if (input.carried) {
      this.state = input.carried as unknown as SupervisorState;
    } else {
      const seed = input.seed!;
      const config = validateConfig(seed.config, 'seed config');
      const version: StoredVersion = {
        version: 1,
        hash: configHash(seed.config),
        at: new Date().toISOString(),
        by: seed.by,
        reason: seed.reason,
        ...(seed.source ? { source: seed.source } : {}),
        diff: [],
        changes: 0,
        kept: true,
        config: seed.config,
      };
      this.state = { versions: [version], brakes: emptyBrakes(), services: {}, events: [], syncSchedules: true };
      this.event('config-applied', `version 1: ${config.services.length} services (${seed.reason})`, seed.by);
    }
  }

  get live(): StoredVersion {
    return this.state.versions[this.state.versions.length - 1]!;
  }

  private validated?: { version: number; config: Config };

  /** The live config, validated (the same function every worker validates it with). */
  config(): Config {
    if (this.validated?.version !== this.live.version)
      this.validated = { version: this.live.version, config: validateConfig(this.live.config, `config version ${this.live.version}`) };
    return this.validated.config;
  }

  event(kind: SupervisorEvent['kind'], detail: string, by?: string): void {
    this.state.events = [...this.state.events, { at: new Date().toISOString(), kind, detail, ...(by ? { by } : {}) }].slice(-KEEP_EVENTS);
  }

  /** Validator: every problem named, nothing changed; `authorize`: the live config's appliers decide (config-auth.ts). */
  check(req: ConfigChangeRequest, authorize = true): void {
    const parsed = changeRequestSchema.safeParse(req);
    if (!parsed.success) throw new Error(`invalid config change: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    validateConfig(req.config, 'config');
    if (req.expectVersion !== undefined && req.expectVersion !== this.live.version) {
      throw new Error(
        `the live config is version ${this.live.version}, not ${req.expectVersion}: someone applied a change in between; look at it (config history) and apply again`,
      );
    }
    if (authorize) authorizeConfigChange({ version: this.live.version, config: this.config() }, req, 'apply', documentDigest(req.config));
  }

  apply(req: ConfigChangeRequest, kind: 'config-applied' | 'config-rolled-back' = 'config-applied'): ConfigChangeResult {
    const before = this.live;
    const changes = diffConfig(before.config, req.config);
    const diff = formatDiff(changes).slice(0, MAX_DIFF_LINES);
    const hash = configHash(req.config);
    if (hash === before.hash || changes.length === 0 || req.dryRun) {
      return { version: before.version, changed: false, dryRun: req.dryRun === true, diff, changes };
    }
    const version: StoredVersion = {
      version: before.version + 1,
      hash,
      at: new Date().toISOString(),
      by: req.by,
      reason: req.reason,
      ...(req.source ? { source: req.source } : {}),
      diff,
      changes: changes.length,
      kept: true,
      config: req.config,
    };
    // Older documents are dropped (their metadata stays): the state must fit Temporal's payload limits.
    const versions = [...this.state.versions, version].slice(-KEEP_VERSIONS);
    versions.forEach((v, i) => {
      if (i < versions.length - KEEP_DOCUMENTS && v.kept) {
        delete v.config;
        v.kept = false;
      }
    });
    this.state.versions = versions;
    const touched = affectedServices(changes);
    const running = Object.keys(this.state.services);
    const notify = new Set([...(this.state.notify?.services ?? []), ...touched.changed, ...(touched.policy ? running : [])]);
    this.state.notify = { services: [...notify], version: version.version };
    this.state.syncSchedules = true;
    this.dirty = true;
    this.event(kind, `version ${version.version} by ${req.by}: ${req.reason} (${changes.length} changes)`, req.by);
    return { version: version.version, changed: true, dryRun: false, diff, changes };
  }

  brakes(change: (b: BrakeState) => BrakeState, services: string[], kind: 'suspended' | 'resumed', detail: string, by: string): BrakeState {
    this.state.brakes = change(this.state.brakes);
    this.state.brakesChanged = [...new Set([...(this.state.brakesChanged ?? []), ...services])];
    this.dirty = true;
    this.event(kind, detail, by);
    return this.state.brakes;
  }

  status(taskQueue: string): SupervisionStatus {
    const configured = new Set(this.config().services.map((s) => s.name));
    return {
      taskQueue,
      version: this.live.version,
      hash: this.live.hash,
      services: this.state.services,
      removed: Object.keys(this.state.services).filter((s) => !configured.has(s)),
      brakes: this.state.brakes,
      ...(this.state.lastReconcile ? { lastReconcile: this.state.lastReconcile } : {}),
      events: this.state.events,
    };
  }
}

/**
 * The control plane, one per task queue: holds the live config (validated, versioned, with who,
 * when, why and a diff for every change) and the brakes (suspension, fleet cap), and keeps the
 * running set of detection and redundancy runbooks equal to the configured services — starting
 * what is missing (or was terminated), stopping what was removed, telling running ones of a new
 * config version. Every worker makes sure it runs; Temporal's workflow id keeps it single.
 */
export async function supervisor(input: SupervisorInput): Promise<void> {
  const req = parseInput(supervisorInputSchema, input, 'supervisor');
  if (req.seed && !req.carried) {
    try {
      validateConfig(req.seed.config, 'seed config');
    } catch (err) {
      refuse(`invalid supervisor input: ${(err as Error).message}`);
    }
  }
  const sup = new Supervisor(req);
  const taskQueue = wf.workflowInfo().taskQueue;

  wf.setHandler(applyConfigUpdate, (r) => sup.apply(r), { validator: (r) => sup.check(r) });
  wf.setHandler(
    rollbackConfigUpdate,
    (r) => {
      const target = sup.state.versions.find((v) => v.version === r.version)!;
      return sup.apply(
        {
          config: target.config,
          by: r.by,
          reason: `rollback to version ${r.version}: ${r.reason}`,
          source: `rollback to ${r.version}`,
          ...(r.dryRun ? { dryRun: true } : {}),
        },
        'config-rolled-back',
      );
    },
    {
      validator: (r) => {
        const target = sup.state.versions.find((v) => v.version === r?.version);
        if (!target) throw new Error(`no config version ${r?.version} (versions ${sup.state.versions[0]!.version}–${sup.live.version})`);
        if (!target.kept) throw new Error(`version ${r.version} is too old: only the newest ${KEEP_DOCUMENTS} documents are kept`);
        if (!r.by || !r.reason) throw new Error('by and reason are required');
        if (r.expectVersion !== undefined && r.expectVersion !== sup.live.version)
          throw new Error(`the live config is version ${sup.live.version}, not ${r.expectVersion}: someone changed it in between`);
        authorizeConfigChange({ version: sup.live.version, config: sup.config() }, r, 'rollback', `version ${r.version}`);
      },
    },
  );
  // The worker's file watch and SIGHUP: trust in the worker host's file system (SECURITY.md), so the document is read there.
  const local = wf.proxyLocalActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 2 } });
  wf.setHandler(
    applyConfigFileUpdate,
    async (r) => {
      const file = await local.workerConfigFile();
      if (file.hash !== r.hash) {
        throw wf.ApplicationFailure.create({
          message: `the config file on the worker running the supervisor (${file.file}, hash ${file.hash}) is not the one asked for (hash ${r.hash}); nothing applied`,
          type: 'ConfigFileDiffers',
          nonRetryable: true,
        });
      }
      const req = { config: file.raw, by: r.by, reason: r.reason, source: file.file };
      try {
        sup.check(req, false);
      } catch (err) {
        throw wf.ApplicationFailure.create({ message: (err as Error).message, type: 'InvalidConfig', nonRetryable: true });
      }
      return sup.apply(req);
    },
    {
      validator: (r) => {
        if (!r || typeof r.hash !== 'string' || typeof r.by !== 'string' || !r.by || typeof r.reason !== 'string' || !r.reason)
          throw new Error('expected {"by", "reason", "hash"}');
        if (isReservedActor(r.by)) throw new Error(`by: "${r.by}" is a name the system acts under (${RESERVED_ACTORS.join(', ')}); give your own name`);
      },
    },
  );
  wf.setHandler(
    suspendUpdate,
    (r) => {
      const services = r.service ? [r.service] : sup.config().services.map((s) => s.name);
      const s = { by: r.by, reason: r.reason, at: new Date().toISOString() };
      return sup.brakes(
        (b) => suspend(b, r.service ? { service: r.service } : {}, s),
        services,
        'suspended',
        `${r.service ?? 'all services'}: ${r.reason}`,
        r.by,
      );
    },
    { validator: (r) => checkBrakeRequest(sup, r, true) },
  );
  wf.setHandler(
    resumeUpdate,
    (r) => {
      const services = r.service ? [r.service] : sup.config().services.map((s) => s.name);
      return sup.brakes(
        (b) => resume(b, r.service ? { service: r.service } : {}),
        services,
        'resumed',
        `${r.service ?? 'all services'}${r.reason ? `: ${r.reason}` : ''}`,
        r.by,
      );
    },
    { validator: (r) => checkBrakeRequest(sup, r, false) },
  );
  wf.setHandler(
    admitUpdate,
    (r) => {
      const cap = sup.config().failover_manager.brakes;
      const { state, admission } = admit(
        sup.state.brakes,
        { service: r.service, kind: r.kind, nowMs: Date.now() },
        { maxAutomaticRunbooks: cap.max_automatic_runbooks, windowMs: requireMs(cap.window) },
      );
      sup.state.brakes = state;
      if (!admission.admitted) sup.event('held', `${r.kind} of ${r.service}${r.reason ? ` (${r.reason})` : ''}: ${admission.reason}`);
      return admission;
    },
    {
      validator: (r) => {
        if (!r?.service || !r.kind) throw new Error('expected {"service", "kind"}');
      },
    },
  );
  wf.setHandler(liveConfigQuery, () => ({ version: sup.live.version, hash: sup.live.hash, config: sup.live.config }));
  wf.setHandler(configVersionQuery, () => ({ version: sup.live.version, hash: sup.live.hash }));
  wf.setHandler(configHistoryQuery, () => sup.state.versions.map(({ config: _, ...v }) => v));
  wf.setHandler(configAtQuery, (version) => {
    const v = sup.state.versions.find((x) => x.version === version);
    return v?.kept ? { version: v.version, hash: v.hash, config: v.config } : null;
  });
  wf.setHandler(supervisionQuery, () => sup.status(taskQueue));
  wf.setHandler(supervisorStateQuery, () => sup.state);
  wf.setHandler(reconcileSignal, () => void (sup.dirty = true));

  labelRunbook('supervisor', taskQueue, 'supervisor');
  const act: Activities = wf.proxyActivities<Activities>({
    startToCloseTimeout: '10m',
    heartbeatTimeout: '30s',
    retry: { initialInterval: '2s', maximumInterval: '1m' },
  });

  for (;;) {
    sup.dirty = false;
    const config = sup.config();
    const version = sup.live.version;
    if (sup.state.syncSchedules) {
      await act.syncMaintenanceSchedules(version);
      delete sup.state.syncSchedules;
    }
    if (sup.state.notify) {
      const notify = sup.state.notify;
      await act.signalRunbooks({ services: notify.services, signal: 'configChanged', arg: { version: notify.version } });
      if (sup.state.notify === notify) delete sup.state.notify;
    }
    if (sup.state.brakesChanged) {
      const services = sup.state.brakesChanged;
      delete sup.state.brakesChanged;
      // One activity per distinct suspension (patch `grouped-brake-signals`), not per service: a brake on
      // the whole fleet would otherwise write one activity per service into this history.
      const groups = wf.patched('grouped-brake-signals') ? bySuspension(sup.state.brakes, services) : services.map((s) => [s]);
      for (const group of groups) {
        await act.signalRunbooks({
          services: group,
          signal: 'brakes',
          arg: { suspended: suspensionOf(sup.state.brakes, group[0]!) ?? null },
          only: 'detection',
        });
      }
    }
    await reconcile(sup, act, version, config);
    publish(sup, taskQueue);
    await wf.condition(() => sup.dirty, config.failover_manager.supervision.reconcile_interval);
    if (wf.workflowInfo().continueAsNewSuggested || wf.workflowInfo().historyLength > 10_000) {
      await wf.condition(wf.allHandlersFinished);
      await wf.continueAsNew<typeof supervisor>({ carried: sup.state as never });
    }
  }
}

/** Services grouped by the suspension that holds them (none is a group too). */
function bySuspension(brakes: BrakeState, services: string[]): string[][] {
  const groups = new Map<string, string[]>();
  for (const service of services) {
    const key = JSON.stringify(suspensionOf(brakes, service) ?? null);
    groups.set(key, [...(groups.get(key) ?? []), service]);
  }
  return [...groups.values()];
}

/** Names a report or an event lists at most: a fleet's first reconcile starts thousands. */
const LISTED_NAMES = 20;
const firstNames = (names: string[]) => names.slice(0, LISTED_NAMES);
const listed = (names: string[]) =>
  names.length === 0 ? 'none' : `${firstNames(names).join(', ')}${names.length > LISTED_NAMES ? ` and ${names.length - LISTED_NAMES} more` : ''}`;

/**
 * Makes the running detection and redundancy runbooks match the live config. The compact form
 * (patch `compact-reconcile`) records only what is not simply running, so each reconcile adds
 * the same few bytes to the history whether the fleet has ten services or ten thousand.
 */
async function reconcile(sup: Supervisor, act: Activities, version: number, config: Config): Promise<void> {
  const redundancy = config.failover_manager.supervision.redundancy;
  if (wf.patched('compact-reconcile')) {
    const report = await act.reconcileRunbooks({ version, brakes: sup.state.brakes, redundancy });
    const running: ServiceSupervision = { detection: 'running', redundancy: redundancy ? 'running' : 'off' };
    sup.state.services = Object.fromEntries(config.services.map((s) => [s.name, report.services[s.name] ?? running]));
    recordReconcile(sup, report);
    return;
  }
  const report = await act.reconcileRunbooks({
    version,
    services: config.services.map((s) => ({ service: s.name, suspended: suspensionOf(sup.state.brakes, s.name) ?? null })),
    redundancy,
  });
  sup.state.services = report.services;
  recordReconcile(sup, report);
}

function recordReconcile(sup: Supervisor, report: { started: string[]; stopped: string[]; errors: string[] }): void {
  const { started, stopped, errors } = report;
  sup.state.lastReconcile = {
    at: new Date().toISOString(),
    started: firstNames(started),
    stopped: firstNames(stopped),
    errors: firstNames(errors),
    totals: { started: started.length, stopped: stopped.length, errors: errors.length },
  };
  if (started.length + stopped.length + errors.length > 0) {
    sup.event(
      'reconciled',
      `started ${listed(started)}; stopped ${listed(stopped)}${errors.length ? `; errors: ${firstNames(errors).join('; ')}${errors.length > LISTED_NAMES ? ` and ${errors.length - LISTED_NAMES} more` : ''}` : ''}`,
    );
  }
}

function checkBrakeRequest(sup: Supervisor, r: { service?: string; by: string; reason: string } | undefined, needsReason: boolean): void {
  if (!r || typeof r.by !== 'string' || r.by.length === 0) throw new Error('expected "by": who is asking');
  // A person cannot suspend or resume under a name the system acts under (the audit trail would lie).
  if (isReservedActor(r.by)) throw new Error(`by: "${r.by}" is a name the system acts under (${RESERVED_ACTORS.join(', ')}); give your own name`);
  if (needsReason && (typeof r.reason !== 'string' || r.reason.length === 0)) throw new Error('expected "reason": why (recorded with the suspension)');
  if (r.service !== undefined && !sup.config().services.some((s) => s.name === r.service)) {
    throw new Error(
      `no service ${JSON.stringify(r.service)} in config version ${sup.live.version} (has ${sup
        .config()
        .services.map((s) => s.name)
        .join(', ')})`,
    );
  }
}

/** The Web UI's current details: the config version, brakes, and every service's detection. */
function publish(sup: Supervisor, taskQueue: string): void {
  const s = sup.status(taskQueue);
  const brakes = s.brakes.all ? `**all automatic runbooks suspended** by ${s.brakes.all.by}: ${s.brakes.all.reason}` : 'automatic runbooks allowed';
  const rows = Object.entries(s.services).map(([name, v]) => {
    const held = s.brakes.services[name];
    return `| ${name} | ${v.detection} | ${v.redundancy ?? '-'} | ${held ? `suspended by ${held.by}` : ''} |`;
  });
  wf.setCurrentDetails(
    [
      `### supervisor · ${taskQueue}`,
      '',
      `config version **${s.version}** (${s.hash}) · ${brakes}`,
      '',
      '| service | detection | redundancy | brakes |',
      '| --- | --- | --- | --- |',
      ...rows,
    ].join('\n'),
  );
}
