import * as wf from '@temporalio/workflow';
import type { Activities, ProbeResult, ServiceSnapshot } from '../activities';
import { requireMs } from '../domain/duration';
import { rankCandidates } from '../domain/plan';
import { allTo, checkNotAllDown, primaryOf, type Routing } from '../domain/routing';
import { failoverInputSchema, type FailoverInput, type FailoverRequest } from '../domain/runbook-input';
import { describeIssues } from '../domain/validation';
import { Compensations, StepLog, type StepRecord } from './runbook-steps';
import { labelRunbook } from './labels';

export interface FailoverStatus {
  service: string;
  phase: 'planning' | 'switching' | 'validating' | 'rolling-back' | 'done' | 'failed';
  planned: boolean;
  emergency: boolean;
  source?: string;
  target?: string;
  routingBefore?: Routing;
  routingAfter?: Routing;
  steps: StepRecord[];
}

export interface FailoverResult {
  service: string;
  source: string;
  target: string;
  planned: boolean;
  emergency: boolean;
  routingBefore: Routing;
  routingAfter: Routing;
  /** Trigger (runbook start) to traffic moved, in ms. */
  rtoMs: number;
  /** What the switch may have lost, in the replication driver's units; null when it could not be measured. */
  rpo: { lag: number | null; note: string };
  steps: StepRecord[];
}

export const failoverStatusQuery = wf.defineQuery<FailoverStatus>('status');

/** Fails the runbook for good: retrying cannot fix bad input or a refused plan. */
function refuse(message: string, type = 'InvalidInput'): never {
  throw wf.ApplicationFailure.nonRetryable(message, type);
}

export function parseFailoverInput(raw: unknown): FailoverRequest {
  const parsed = failoverInputSchema.safeParse(raw ?? {}, { reportInput: true });
  if (!parsed.success) refuse(`invalid failover input:\n  - ${describeIssues(parsed.error.issues, 'input').join('\n  - ')}`);
  return parsed.data;
}

/**
 * Active-passive failover or planned switchover of one service:
 * plan → consistency gate → fence source → catch-up → promote target → switch routing → demote source → validate.
 * Steps before the routing switch are undone on failure; nothing reaches the target before that switch.
 */
export async function failover(input: FailoverInput): Promise<FailoverResult> {
  const request = parseFailoverInput(input);
  const status: FailoverStatus = { service: request.service, phase: 'planning', planned: request.planned, emergency: false, steps: [] };
  wf.setHandler(failoverStatusQuery, () => status);
  labelRunbook('failover', request.service, request.trigger);

  const setup = wf.proxyActivities<Activities>({ startToCloseTimeout: '10s', retry: { maximumAttempts: 3, initialInterval: '500ms' } });
  const { service, policy }: ServiceSnapshot = await setup.loadService(request.service);
  const exec = policy.failover_execution;
  const stepTimeout = exec.step_timeout;
  const act = wf.proxyActivities<Activities>({
    startToCloseTimeout: stepTimeout,
    retry: { maximumAttempts: 5, initialInterval: '200ms', maximumInterval: '2s', nonRetryableErrorTypes: ['GenerationConflict'] },
  });
  const lagWaitMs = requireMs(exec.consistency_check.timeout);
  const waiting = wf.proxyActivities<Activities>({
    startToCloseTimeout: lagWaitMs + 10_000,
    heartbeatTimeout: '5s',
    retry: { maximumAttempts: 3, initialInterval: '200ms' },
  });

  const log = new StepLog('failover', service.name, request.actor, request.reason);
  status.steps = log.steps;
  const undo = new Compensations();
  const ids = service.destinations.map((d) => d.id);
  if (request.to !== undefined && !ids.includes(request.to)) {
    refuse(`invalid failover input:\n  - input.to: no destination ${JSON.stringify(request.to)} in service ${service.name} (has ${ids.join(', ')})`);
  }

  // Plan: where traffic is now, who is up, where it goes.
  const before = await log.run('read routing', () => act.readRouting(service), (r) => ({
    detail: `generation ${r.routing.generation}: ${fmtWeights(r.routing.weights)}`,
    numbers: { generation: r.routing.generation },
  }));
  const source = primaryOf(before.routing);
  if (!source) refuse(`service ${service.name} has no destination carrying traffic; nothing to fail over from`, 'NoSource');
  status.source = source;
  status.routingBefore = before.routing;
  const probes: Record<string, ProbeResult> = {};
  await log.run('probe destinations', async () => {
    await Promise.all(ids.map(async (id) => (probes[id] = await act.probe(service, id))));
    return probes;
  }, (p) => ({ detail: ids.map((id) => `${id} ${p[id]!.up ? `up ${Math.round(p[id]!.latencyMs)}ms` : `down (${p[id]!.failure})`}`).join(', ') }));
  const down = new Set(ids.filter((id) => !probes[id]!.up));
  const sourceUp = !down.has(source);
  if (request.planned && !sourceUp) {
    refuse(`planned switchover needs a healthy source, but ${source} is down (${probes[source]!.error}); start an unplanned failover instead`, 'SourceDown');
  }
  const target = request.to ?? rankCandidates(service, source, down)[0]?.id;
  if (!target) refuse(`no healthy destination to fail over to from ${source} (down: ${[...down].join(', ') || 'none'})`, 'NoTarget');
  if (target === source) refuse(`invalid failover input:\n  - input.to: ${JSON.stringify(target)} already carries the traffic of ${service.name}`);
  if (down.has(target)) refuse(`target ${target} is down (${probes[target]!.error}); refusing to route traffic to it`, 'TargetDown');
  status.target = target;
  status.emergency = !sourceUp;
  const targetWeight = service.destinations.find((d) => d.id === target)!.weight || 100;
  const newWeights = allTo(before.routing, target, targetWeight);
  const invariant = checkNotAllDown(newWeights, down);
  if (invariant) refuse(invariant, 'UnsafeRouting');
  await log.note('plan', 'ok', `${source} → ${target}${status.emergency ? ' (emergency: source down)' : ''}${request.planned ? ' (planned)' : ''}`);
  wf.upsertMemo({ source, target });

  status.phase = 'switching';
  const replicated = exec.data_sync.enabled && service.destinations.some((d) => d.replication.type !== 'none');
  let rpo: FailoverResult['rpo'] = { lag: 0, note: 'no replicated data' };
  let switchedAt = 0;
  let after: Routing;
  try {
    if (replicated && sourceUp) {
      // Gate before fencing: do not pause writes on a source whose replica is far behind.
      if (exec.consistency_check.enabled) {
        const gate = await log.run('consistency gate', () =>
          waiting.waitForLag(service, source, target, exec.consistency_check.max_lag, lagWaitMs),
        lagNumbers);
        if (!gate.ok) refuse(`consistency gate failed: ${gate.verdict}`, 'ConsistencyGate');
      }
      const holdMs = requireMs(exec.fence_timeout);
      await log.run('fence source', () => act.fence(service, source, holdMs), (f) => ({ detail: f.detail, numbers: { holdMs } }));
      undo.push(`fence ${source}`, () => act.unfence(service, source));
      // With writes paused, the replica must reach the source's last offset: then nothing acknowledged is lost.
      const caught = await log.run('catch up', () => waiting.waitForLag(service, source, target, 0, lagWaitMs), lagNumbers);
      if (!caught.ok) refuse(`replica did not catch up with writes paused: ${caught.verdict}`, 'CatchUp');
      rpo = { lag: 0, note: `replica at source offset ${caught.reading.sourceOffset} with writes fenced` };
    } else if (replicated) {
      rpo = { lag: null, note: `source ${source} unreachable (${probes[source]!.failure}); writes acknowledged after the replica's last offset ${probes[target]!.offset ?? '?'} may be lost` };
      await log.note('fence source', 'skipped', `source unreachable; fenced at the router by the switch below`);
    }

    if (replicated) {
      await log.run('promote target', () => act.promote(service, target), (p) => ({ detail: p.detail }));
      // Safe only until the routing switch: before it no client can reach the target.
      if (sourceUp) undo.push(`promote ${target}`, () => act.follow(service, target, source));
    }

    const switched = await log.run('switch routing', () => act.applyRouting(service, newWeights, before.routing.generation), (r) => ({
      detail: `generation ${r.routing.generation}: ${fmtWeights(r.routing.weights)}`,
      numbers: { generation: r.routing.generation, changes: r.changes.length },
    }));
    after = switched.routing;
    switchedAt = Date.now();
    status.routingAfter = after;
    // Past the point of no return: the target may now hold acknowledged writes the source lacks.
    undo.clear();

    await log.run('cut old sessions', () => act.cutSessions(service, source), () => ({ detail: `connections to ${source} closed` }));
    if (replicated && sourceUp) {
      await log.run('demote source', () => act.follow(service, source, target), (f) => ({ detail: f.detail }));
    }
  } catch (err) {
    status.phase = 'rolling-back';
    await undo.unwind(log);
    status.phase = 'failed';
    throw err;
  }

  status.phase = 'validating';
  const check = await log.run('validate', () => act.validateEntrypoint(service, target), (v) => ({
    detail: v.detail,
    numbers: { latencyMs: Math.round(v.latencyMs) },
  }));
  if (!check.ok) {
    status.phase = 'failed';
    refuse(`validation through the entrypoint failed after the switch to ${target}: ${check.detail}`, 'ValidationFailed');
  }

  status.phase = 'done';
  const rtoMs = switchedAt - wf.workflowInfo().startTime.getTime();
  await log.note('done', 'ok', `traffic on ${target}; RTO ${rtoMs}ms; RPO ${rpo.lag ?? 'unknown'}`, { rtoMs, rpo: rpo.lag });
  return {
    service: service.name,
    source,
    target,
    planned: request.planned,
    emergency: status.emergency,
    routingBefore: before.routing,
    routingAfter: after,
    rtoMs,
    rpo,
    steps: log.steps,
  };
}

function fmtWeights(w: Record<string, number>): string {
  return Object.entries(w).map(([id, v]) => `${id}=${v}`).join(' ');
}

function lagNumbers(v: { ok: boolean; verdict: string; waitedMs: number; reading: { lag: number; sourceOffset: number; targetOffset: number } }) {
  return {
    detail: v.verdict,
    numbers: { lag: v.reading.lag, sourceOffset: v.reading.sourceOffset, targetOffset: v.reading.targetOffset, waitedMs: v.waitedMs },
  };
}

