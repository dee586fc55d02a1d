import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { policyWithDefaults, type ServiceConfig } from '../../src/domain/config';
import type { Routing } from '../../src/domain/routing';
import { planDrain, planFailover, type PlanProbe } from '../../src/domain/runbook-plan';
import type { StepRecord } from '../../src/api/status';
import { recordedHistories } from '../support/histories';

/**
 * The planner against what the runbooks recorded: for every failover and maintenance run in the
 * fixture histories, the routing, probes and config that run read (its activity results) go into
 * the planner, and its plan must say what the run's `plan` step said.
 */

type Event = temporal.api.history.v1.IHistoryEvent;

const decode = (payloads: { payloads?: unknown[] | null } | null | undefined): unknown[] =>
  (payloads?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p as never));

const timeMs = (e: Event): number => Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);

interface RecordedRun {
  workflowId: string;
  type: string;
  input: Record<string, unknown>;
  service: ServiceConfig;
  policy: ReturnType<typeof policyWithDefaults>;
  routing: Routing;
  probes: Record<string, PlanProbe>;
  patches: Set<string>;
  /** Workflow time when the plan was made: the workflow task after the last probe. */
  nowMs: number;
  planStep: StepRecord;
}

function recordedRun(workflowId: string, events: Event[]): RecordedRun | undefined {
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  const type = started?.workflowType?.name ?? '';
  const input = decode(started?.input)[0] as Record<string, unknown>;
  const scheduled = new Map<string, { type: string; input: unknown[] }>();
  const results: { type: string; input: unknown[]; result: unknown; index: number }[] = [];
  const patches = new Set<string>();
  events.forEach((e, index) => {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(String(e.eventId), { type: s.activityType?.name ?? '', input: decode(s.input) });
    const c = e.activityTaskCompletedEventAttributes;
    if (c) results.push({ ...scheduled.get(String(c.scheduledEventId))!, result: decode(c.result)[0], index });
    const m = e.markerRecordedEventAttributes;
    if (m?.markerName === 'core_patch') patches.add((decode(m.details?.['patch-data'])[0] as { id: string }).id);
  });
  const steps = ((): StepRecord[] | undefined => {
    const last = events[events.length - 1];
    const done = last?.workflowExecutionCompletedEventAttributes;
    if (done) return (decode(done.result)[0] as { steps?: StepRecord[] })?.steps;
    const failed = last?.workflowExecutionFailedEventAttributes?.failure?.applicationFailureInfo?.details;
    return failed ? (decode(failed)[0] as { steps?: StepRecord[] } | undefined)?.steps : undefined;
  })();
  const planStep = steps?.find((s) => s.name === 'plan');
  const loaded = results.find((r) => r.type === 'loadService')?.result as { service: ServiceConfig; policy: unknown } | undefined;
  const routing = (results.find((r) => r.type === 'readRouting')?.result as { routing: Routing } | undefined)?.routing;
  if (!planStep || !loaded || !routing) return undefined;
  const ids = loaded.service.destinations.map((d) => d.id);
  const probeResults = results.filter((r) => r.type === 'probe').slice(0, ids.length);
  const probes = Object.fromEntries(probeResults.map((r) => [r.input[1] as string, r.result as PlanProbe]));
  const lastProbe = probeResults[probeResults.length - 1]!.index;
  const task = events.slice(lastProbe).find((e) => e.workflowTaskStartedEventAttributes);
  return {
    workflowId,
    type,
    input,
    service: loaded.service,
    policy: policyWithDefaults(loaded.policy as never),
    routing,
    probes,
    patches,
    nowMs: timeMs(task!),
    planStep,
  };
}

const runs = recordedHistories()
  .filter(({ history }) => ['failover', 'maintenance'].includes(history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? ''))
  .map(({ workflowId, history }) => recordedRun(workflowId, history.events ?? []))
  .filter((r): r is RecordedRun => r !== undefined);

describe('the planner says what the recorded runbooks planned', () => {
  it('has recorded failover and maintenance plans to compare, some of them checking target sync', () => {
    expect(runs.filter((r) => r.type === 'failover').length).toBeGreaterThan(5);
    expect(runs.filter((r) => r.type === 'maintenance').length).toBeGreaterThan(0);
    expect(runs.filter((r) => r.patches.has('failover-target-sync')).length).toBeGreaterThan(0);
  });

  it.each(runs.filter((r) => r.type === 'failover').map((r) => [r.workflowId, r] as const))('failover %s', (_id, run) => {
    const req = run.input as {
      to?: string;
      planned?: boolean;
      trigger?: string;
      prefer?: string[];
      lastSeenOffsets?: Record<string, number>;
      lastSeenAt?: Record<string, number>;
    };
    const source = Object.entries(run.routing.weights).find(([, w]) => w > 0)?.[0];
    const seen = source !== undefined ? req.lastSeenOffsets?.[source] : undefined;
    const plan = planFailover({
      service: run.service,
      policy: run.policy,
      routing: run.routing,
      probes: run.probes,
      planned: req.planned ?? false,
      trigger: req.trigger === 'manual' ? 'manual' : 'automatic',
      checkSync: run.patches.has('failover-target-sync'),
      nowMs: run.nowMs,
      ...(req.to !== undefined ? { to: req.to } : {}),
      ...(req.prefer ? { prefer: req.prefer } : {}),
      ...(seen !== undefined ? { sourceLastSeen: { offset: seen, atMs: req.lastSeenAt?.[source!] ?? run.nowMs } } : {}),
    });
    expect(plan.refusal?.afterTargetCheck ? undefined : plan.refusal).toBeUndefined();
    expect(plan.describe).toBe(run.planStep.detail);
  });

  it.each(runs.filter((r) => r.type === 'maintenance').map((r) => [r.workflowId, r] as const))('maintenance %s', (_id, run) => {
    const req = run.input as { destination: string; window: string; trigger?: string };
    const plan = planDrain({
      service: run.service,
      policy: run.policy,
      routing: run.routing,
      probes: run.probes,
      destination: req.destination,
      trigger: req.trigger === 'manual' ? 'manual' : 'automatic',
    });
    expect(plan.refusal).toBeUndefined();
    expect(`drain ${req.destination} for ${req.window}: ${plan.describe}`).toBe(run.planStep.detail);
    expect({ mode: plan.mode, ...(plan.target ? { target: plan.target } : {}) }).toEqual(run.planStep.numbers);
  });
});
