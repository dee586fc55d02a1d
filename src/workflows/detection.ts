import * as wf from '@temporalio/workflow';
import type { Activities, ServiceSnapshot } from '../activities';
import { alertSignal, healthQuery, runbookEndedSignal } from '../api/queries';
import type { DecisionRecord, DetectionState, DetectionStatus, RunbookEnded } from '../api/status';
import { brakesSignal, configChangedSignal, type Suspension } from '../api/supervisor';
import { alertEvidenceSchema, type Alert } from '../domain/alerts';
import { policyWithDefaults } from '../domain/config';
import { runbookEndedSchema, type CarriedDetectionState } from '../domain/detection-state';
import { requireMs } from '../domain/duration';
import type { HealthEvent, HealthThresholds } from '../domain/health';
import { detectionInputSchema, type DetectionInput } from '../domain/runbook-input';
import { watchTaskQueue } from '../domain/workflow-ids';
import { DetectionEvents } from './detection-events';
import { legacyDetection } from './detection-legacy';
import { DetectionRunbooks } from './detection-runbooks';
import { DEFAULT_OBSERVER, Detector } from './detector';
import { labelRunbook } from './labels';
import { availabilityOf, observeDecision } from './observability';
import { errorType, parseInput } from './runbook-frame';
import { errorMessage } from './runbook-steps';

export type { DetectionInput } from '../domain/runbook-input';
export { alertSignal, healthQuery };
export type { DecisionRecord, DetectionState, DetectionStatus };

/** New runs take this path; runs started before it replay ./detection-legacy.ts. */
const DETECTION_V2 = 'detection-v2';
/**
 * A watch's own heartbeat timeout: the fallback when no presence lists it (a worker without a
 * client, or one killed within seconds of starting the watch). Each heartbeat is a server write:
 * with watches beating every minute or so rather than every 8 s, a worker's thousands of watches
 * cost the server a small fraction of what they did.
 */
const WATCH_HEARTBEAT_TIMEOUT_MS = 2 * 60_000;

/**
 * One per service, long-running: keeps destination health from the `watch` activity and `alert`
 * signals, and starts failover / recovery runbooks when thresholds are crossed. A backup that
 * answers but is not a copy of the primary is resynced at once; a failed automatic runbook is
 * retried with backoff and, after a few failures, raises an alert event.
 */
export async function detection(input: DetectionInput): Promise<void> {
  if (!wf.patched(DETECTION_V2)) return legacyDetection(input as Parameters<typeof legacyDetection>[0]);
  // Runs recorded before second writers were acted on dropped their reports: replay them that way.
  const fencesWriters = wf.patched('stray-fence');
  // Reads of the service and its routing are local activities from here on: a run starts watching in
  // one workflow task instead of three, and a fleet's supervisor starts thousands of runs.
  const localReads = wf.patched('local-reads');
  // Watches heartbeat rarely; the worker's presence (presence.ts) notices a dead worker instead.
  const presenceWatch = wf.patched('watch-presence');
  // A second writer is fenced before a resync or failback of it starts, whatever event comes first.
  const fenceFirst = wf.patched('fence-first');
  const req = parseInput(detectionInputSchema, input, 'detection');

  // Handlers first, so a signal-with-start alert or an early query is never lost or refused.
  let d: Detector | undefined;
  const early: Alert[] = [];
  wf.setHandler(alertSignal, (raw) => {
    const alert = alertEvidenceSchema.safeParse(raw, { reportInput: true });
    if (!alert.success) return void wf.log.warn('alert ignored: invalid evidence', { problems: alert.error.issues.map((i) => i.message) });
    if (d) d.offerAlert(alert.data);
    else early.push(alert.data);
  });
  wf.setHandler(healthQuery, () =>
    d ? d.status() : { service: req.service, watching: false, health: {}, lastFailoverFrom: {}, failedOver: [], decisions: [], seenAlerts: [] },
  );
  let earlyBrakes: Suspension | null | undefined = req.suspended;
  let earlyConfig: number | undefined;
  wf.setHandler(brakesSignal, (b) => {
    if (d) d.setBrakes(b?.suspended ?? null, Date.now());
    else earlyBrakes = b?.suspended ?? null;
  });
  // A runbook this workflow started ended (its signal reaches whichever run is current): settled by the loop.
  const earlyEnded: RunbookEnded[] = [];
  let sources: DetectionEvents | undefined;
  wf.setHandler(runbookEndedSignal, (raw) => {
    const parsed = runbookEndedSchema.safeParse(raw, { reportInput: true });
    if (!parsed.success) return void wf.log.warn('runbook end ignored: invalid payload', { problems: parsed.error.issues.map((i) => i.message) });
    const e = parsed.data as RunbookEnded;
    // The signal comes just before the runbook closes, while it still holds the service: a child of
    // this run is settled by its close instead, so what follows (a fence, a resync) finds the service free.
    if (sources?.owns(e.runId)) return;
    if (d) d.ended(e);
    else earlyEnded.push(e);
  });
  wf.setHandler(configChangedSignal, ({ version }) => {
    if (!Number.isInteger(version)) return;
    if (!d) return void (earlyConfig = Math.max(earlyConfig ?? 0, version));
    if (version > (d.configVersion ?? 0)) {
      d.newConfig = Math.max(d.newConfig ?? 0, version);
      d.wake = true;
    }
  });

  const setupOptions = { startToCloseTimeout: '10s', retry: { maximumAttempts: 5, initialInterval: '500ms' } } as const;
  const setup = localReads ? wf.proxyLocalActivities<Activities>(setupOptions) : wf.proxyActivities<Activities>(setupOptions);
  let snapshot: ServiceSnapshot;
  try {
    snapshot = await setup.loadService(req.service, req.configVersion);
  } catch (err) {
    // Removed from the live config: nothing to watch any more (the supervisor stops it too).
    if (errorType(err) === 'UnknownService') return void wf.log.info(`detection ${req.service} ends: ${errorMessage(err)}`);
    throw err;
  }
  const { service } = snapshot;
  const policy = policyWithDefaults(snapshot.policy);
  const det = policy.failover_detection;
  d = new Detector(service, policy, req.carried, Date.now());
  const detector = d;
  detector.fenceFirst = fenceFirst;
  detector.configVersion = snapshot.version;
  detector.setBrakes(earlyBrakes, Date.now());
  if (earlyConfig !== undefined && earlyConfig > (snapshot.version ?? 0)) detector.newConfig = earlyConfig;
  for (const alert of early.splice(0)) detector.offerAlert(alert);
  for (const e of earlyEnded.splice(0)) detector.ended(e);
  labelRunbook('detection', service.name, 'detection');
  wf.setCurrentDetails(`### detection · ${service.name}\n\nwatching ${service.destinations.length} destinations every ${det.detection_interval}`);

  const intervalMs = requireMs(det.detection_interval);
  const thresholds: HealthThresholds = {
    failureThreshold: det.failure_threshold,
    recoveryThreshold: det.recovery_threshold,
    healthThreshold: det.health_threshold,
    maxLatencyMs: requireMs(policy.quality.max_latency),
    windowSize: Math.max(5, det.failure_threshold * 2),
  };
  const watchFor = Math.max(60 * 60_000, intervalMs * 100);
  // One watch per observer, on its own task queue: its slots are not the ones runbook activities use.
  const watchers = Object.fromEntries(
    detector.observerNames.map((name) => [
      name,
      wf.proxyActivities<Activities>({
        taskQueue: watchTaskQueue(wf.workflowInfo().taskQueue, name === DEFAULT_OBSERVER ? undefined : name),
        startToCloseTimeout: watchFor + 60_000,
        heartbeatTimeout: Math.max(presenceWatch ? WATCH_HEARTBEAT_TIMEOUT_MS : 10_000, intervalMs * 5),
        retry: { initialInterval: '1s', maximumInterval: '30s' },
      }).watchDestinations,
    ]),
  );
  const actOptions = { startToCloseTimeout: '15s', retry: { maximumAttempts: 5, initialInterval: '500ms' } } as const;
  const act = wf.proxyActivities<Activities>(actOptions);
  const reads = localReads ? wf.proxyLocalActivities<Activities>(actOptions) : act;

  /** Reads the router; a drift comes back as an event to decide on. */
  const refreshPrimary = async (): Promise<HealthEvent | undefined> => {
    const drift = detector.observeRouting((await reads.readRouting(service)).routing);
    // Carrying traffic again (failed back by hand, or a later switchover): nothing to fail back.
    detector.state.failedOver = detector.state.failedOver.filter((id) => !detector.carrying.includes(id));
    return drift;
  };
  const initialDrift = await refreshPrimary();
  const availability = availabilityOf(service.name);
  availability(Date.now(), detector.carrying, detector.state.health);

  sources = new DetectionEvents(
    detector,
    (name) =>
      watchers[name]!({
        service,
        health: detector.observerHealth(name),
        ranking: detector.state.ranking!,
        thresholds,
        intervalMs,
        probeTimeoutMs: requireMs(det.timeout),
        maxDurationMs: watchFor,
        maxLag: detector.maxLag,
        intelligent: det.intelligent_detection,
        ...(detector.primary ? { primary: detector.primary } : {}),
        // One observer is enough to see the router drift.
        ...(detector.state.routing && name === detector.observerNames[0]
          ? { expected: detector.state.routing, routerCheckMs: requireMs(det.router_check_interval) }
          : {}),
      }),
    (f) => act.runbookOutcome(f.workflowId, f.runId),
  );
  const runbooks = new DetectionRunbooks(detector, (child) => sources.track(child));

  let pendingDrift = initialDrift;
  for (;;) {
    // A second writer is paused before anything else is started for it (a resync can take minutes).
    const events = (await sources.next())
      .filter((e) => fencesWriters || e.kind !== 'writable')
      .sort((a, b) => Number(b.kind === 'writable') - Number(a.kind === 'writable'));
    if (pendingDrift) events.unshift(pendingDrift);
    pendingDrift = undefined;
    const ended = detector.settled;
    if (ended) await runbooks.settle(ended);
    if (events.length > 0 || ended) {
      const drift = await refreshPrimary();
      if (drift && !events.some((e) => e.kind === 'drift')) events.push(drift);
    }
    availability(Date.now(), detector.carrying, detector.state.health);
    for (const event of events) {
      const decision = detector.decide(event);
      const runbook = decision.action !== 'none' ? await runbooks.carryOut(decision, event) : undefined;
      if (runbook?.outcome === 'busy') {
        // Another runbook holds the service: try again once it may have finished.
        detector.revisitAt(Date.now() + Math.max(5_000, intervalMs * 5), event);
      } else if (fenceFirst && decision.action === 'fence' && event.kind !== 'writable') {
        // Fenced first: the event that found it is decided on its own right after (a resync, say).
        detector.revisitAt(Date.now(), event);
      } else if ('retryAtMs' in decision && decision.retryAtMs !== undefined) detector.revisitAt(decision.retryAtMs, event);
      observeDecision(service.name, policy, detector.state, event, decision, runbook?.outcome === 'held' ? runbook : undefined);
      detector.record(event, decision, runbook);
      wf.log.info(`detection ${service.name}: ${event.destination} ${event.kind} → ${decision.action}`, {
        reason: decision.reason,
        runbook: runbook?.outcome === 'started' ? runbook.workflowId : undefined,
      });
    }

    // A new live config version, or a long history: the next run loads the config afresh.
    if (detector.newConfig !== undefined || wf.workflowInfo().continueAsNewSuggested || wf.workflowInfo().historyLength > 2000) {
      sources.stop();
      await wf.condition(wf.allHandlersFinished);
      await wf.continueAsNew<typeof detection>({
        service: service.name,
        carried: detector.state as CarriedDetectionState,
        ...((detector.newConfig ?? detector.configVersion) ? { configVersion: (detector.newConfig ?? detector.configVersion)! } : {}),
        suspended: detector.suspended ?? null,
      });
    }
  }
}
