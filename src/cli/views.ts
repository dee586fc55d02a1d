import type { ProbeResult } from '../drivers/probes/types';
import type { RouterReadout } from '../drivers/routers/types';
import type { RouterConfig } from '../domain/config';
import type { Routing } from '../domain/routing';
import type { HistoryRun, RunbookResultLike, StatusReport } from '../client/observe';
import type { RunningRunbook } from '../client/runs';
import type { RunbookStatus } from '../api/status';
import { fmtDuration, fmtRouting, fmtRpo, fmtSteps, fmtTime, table } from './format';
import type { LiveStatus } from './progress';

export type { HistoryRun, RunbookResultLike, RunningRunbook, StatusReport };

/**
 * Readable text for each command's result. Pure: the same documents are what --json prints, so
 * these functions are the whole difference between the two outputs.
 */

export interface ServiceSummary {
  name: string;
  description?: string;
  router: string;
  destinations: { id: string; zone: string; region: string; tier: number; weight: number }[];
  routing?: { generation: number; weights: Record<string, number>; primary?: string; detail: RouterReadout['detail'] };
  routingError?: string;
  /** null: no mutating runbook running. Absent with runbookError: Temporal could not be asked. */
  runbook?: RunningRunbook | null;
  runbookError?: string;
}

export function describeRouter(r: RouterConfig): string {
  switch (r.type) {
    case 'haproxy':
      return `haproxy ${r.address ?? r.socket} backend ${r.backend}`;
    case 'file':
      return `file ${r.path}`;
    case 'http-webhook':
      return `http-webhook ${r.url}`;
    case 'nats-kv':
      return `nats-kv ${[r.url].flat().join(',')} ${r.bucket}/${r.key}`;
  }
}

function runbookLine(r: RunningRunbook | null | undefined, error: string | undefined): string {
  if (r === undefined) return `unknown (${error ?? 'not asked'})`;
  if (r === null) return 'idle';
  return `${r.type} running since ${fmtTime(r.startTime)} (${r.workflowId}, run ${r.runId}${r.trigger ? `, trigger ${r.trigger}` : ''})`;
}

export function servicesView(services: readonly ServiceSummary[]): string {
  const out: string[] = [];
  for (const s of services) {
    if (out.length > 0) out.push('');
    out.push(`${s.name}${s.description ? ` — ${s.description}` : ''}`);
    out.push(`  router   ${s.router}`);
    out.push(
      s.routing
        ? `  routing  ${fmtRouting(s.routing)}${s.routing.primary ? `, traffic on ${s.routing.primary}` : ', no destination carries traffic'}`
        : `  routing  unavailable: ${s.routingError ?? 'not read'}`,
    );
    out.push(`  runbook  ${runbookLine(s.runbook, s.runbookError)}`);
    const rows = s.destinations.map((d) => {
      const live = s.routing?.detail[d.id];
      // A server in maintenance is never checked, so its check state says nothing.
      const state = live ? `${live.state}${live.up === false && live.state !== 'maint' ? ' (check down)' : ''}` : '?';
      return [d.id, d.zone, d.region, String(d.tier), String(d.weight), s.routing ? String(s.routing.weights[d.id] ?? 0) : '?', state];
    });
    out.push(...table(['DESTINATION', 'ZONE', 'REGION', 'TIER', 'WEIGHT', 'ROUTED', 'ROUTER STATE'], rows, '  '));
  }
  return out.join('\n');
}

function detectionLines(r: StatusReport): string[] {
  if (r.detectionError) return [`detection  unknown: ${r.detectionError}`];
  if (!r.detection) return ['detection  not running'];
  const h = r.detection.health;
  const lines = [
    `detection  running${h.watching ? ', watching' : ''}${h.primary ? `; traffic on ${h.primary}` : ''} (${r.detection.workflowId}${h.configVersion ? `, config version ${h.configVersion}` : ''})`,
  ];
  // A backup that answers is a usable one only when it is a copy of the primary.
  const syncOf = (id: string) => (id === h.primary ? 'primary' : h.health[id]?.status === 'down' ? '-' : (h.sync?.[id]?.state ?? '-'));
  const rows = Object.entries(h.health).map(([id, d]) => [
    id,
    d.status,
    syncOf(id),
    String(d.score),
    d.lastLatencyMs !== undefined ? fmtDuration(d.lastLatencyMs) : '-',
    String(d.consecutiveFailures),
    d.alerts.length > 0 ? d.alerts.join(',') : '-',
    d.lastError ?? (h.sync?.[id] && h.sync[id].state !== 'in-sync' ? h.sync[id].reason : ''),
  ]);
  lines.push(...table(['DESTINATION', 'HEALTH', 'SYNC', 'SCORE', 'LATENCY', 'FAILS', 'ALERTS', 'NOTE'], rows, '  '));
  for (const [id, r] of Object.entries(h.retries ?? {})) {
    lines.push(
      `  retry    ${r.kind} of ${id}: ${r.attempts} failed (${r.lastError ?? 'no detail'}); next attempt ${fmtTime(new Date(r.nextAtMs).toISOString())}`,
    );
  }
  const last = h.decisions[h.decisions.length - 1];
  if (last) {
    const what = last.held ? ` — held: ${last.held}` : last.runbook ? ` (${last.runbook}${last.outcome ? `: ${last.outcome}` : ''})` : '';
    lines.push(`  last decision ${fmtTime(last.at)}: ${last.event.destination} ${last.event.kind} → ${last.decision.action}${what}`);
  }
  return lines;
}

function controlLines(service: string, c: RunbookStatus['controls'], cli: string): string[] {
  const lines: string[] = [];
  if (c.awaitingApproval) {
    const a = c.awaitingApproval;
    lines.push(`  control  awaiting approval since ${fmtTime(a.since)}: ${a.reason} (after ${a.timeout}: ${a.defaultAction})`);
    lines.push(`           approve: ${cli} approve ${service}   abort: ${cli} abort ${service}`);
  }
  if (c.paused) lines.push(`  control  paused by ${c.pausedBy ?? 'operator'}; resume: ${cli} resume ${service}`);
  if (c.approval) lines.push(`  control  ${c.approval.outcome} by ${c.approval.by}${c.approval.reason ? `: ${c.approval.reason}` : ''}`);
  if (c.abort) lines.push(`  control  abort requested by ${c.abort.by}: ${c.abort.reason}`);
  return lines;
}

function supervisionLines(r: StatusReport): string[] {
  if (r.supervisionError) return [`control    unknown: ${r.supervisionError}`];
  if (r.supervision === undefined) return [];
  if (r.supervision === null) return ['control    no supervisor runs: nothing keeps detection running (start a worker with supervision.enabled)'];
  const s = r.supervision;
  const brakes = s.suspended
    ? `automatic runbooks SUSPENDED by ${s.suspended.by} since ${fmtTime(s.suspended.at)}: ${s.suspended.reason}`
    : 'automatic runbooks allowed';
  return [`control    config version ${s.version}; ${brakes}`];
}

/** The maintenance part of a maintenance runbook's status. */
interface MaintenanceView {
  destination: string;
  window: string;
  stage: string;
  windowEndsAt?: string;
  endedEarly?: { by: string; reason: string };
}

/** `cli`: how printed commands start (the CLI passes how it was itself invoked). */
export function statusView(r: StatusReport, cli = 'failover', now: Date = new Date()): string {
  const lines = [r.service, ...supervisionLines(r), ...detectionLines(r)];
  if (!r.runbook) {
    lines.push(
      `runbook    idle${r.last ? ` (last: ${r.last.type} ${r.last.status.toLowerCase()}${r.last.closeTime ? ` at ${fmtTime(r.last.closeTime)}` : ''})` : ''}`,
    );
    return lines.join('\n');
  }
  const s = r.runbook.status;
  const kind = `${r.runbook.type}${s.planned ? ' (planned)' : ''}${s.emergency ? ' (emergency)' : ''}`;
  lines.push(
    `runbook    ${kind}: phase ${s.phase}${s.step ? `, step ${s.step}` : ''}${s.controls.paused ? `, PAUSED by ${s.controls.pausedBy ?? 'operator'}` : ''}`,
  );
  lines.push(
    `  run      ${r.runbook.workflowId} run ${r.runbook.runId}, started ${fmtTime(r.runbook.startTime)}${r.runbook.trigger ? `, trigger ${r.runbook.trigger}` : ''}`,
  );
  if (s.source || s.target) lines.push(`  move     ${s.source ?? '?'} → ${s.target ?? '?'}`);
  // A maintenance runbook: its window, and when the hold ends (pause extends it, abort ends it early).
  const m = (s as { maintenance?: MaintenanceView }).maintenance;
  if (m) {
    const left = m.windowEndsAt ? Date.parse(m.windowEndsAt) - now.getTime() : 0;
    const when = m.windowEndsAt ? `${fmtTime(m.windowEndsAt)}${left > 0 ? ` (in ${fmtDuration(left)})` : ''}` : '';
    const ends = m.windowEndsAt ? `; window ends ${when}${s.controls.paused ? ' (paused: extended until resume)' : ''}` : '';
    lines.push(
      `  window   ${m.destination} drained for ${m.window}, stage ${m.stage}${ends}${m.endedEarly ? `; ended early by ${m.endedEarly.by}: ${m.endedEarly.reason}` : ''}`,
    );
  }
  if (s.routingCurrent) lines.push(`  routing  now ${fmtRouting(s.routingCurrent)}${s.routingBefore ? `; before ${fmtRouting(s.routingBefore)}` : ''}`);
  if (s.rtoMs !== undefined) lines.push(`  RTO      ${fmtDuration(s.rtoMs)}`);
  if (s.objective?.exceeded) lines.push(`  RTO      objective max_failover_time ${s.objective.maxFailoverTime} EXCEEDED (alert raised)`);
  lines.push(...controlLines(r.service, s.controls, cli));
  if (s.steps.length > 0) lines.push('  steps', ...fmtSteps(s.steps));
  return lines.join('\n');
}

/** What the start command knows of a runbook it waited for. */
export interface RunOutcome {
  service: string;
  kind: string;
  workflowId: string;
  runId: string;
  status: 'completed' | 'failed';
  result?: RunbookResultLike;
  failure?: { type?: string; message: string };
}

/** `steps: false` when they were printed live already. */
export function outcomeView(o: RunOutcome, show: { steps?: boolean } = {}): string {
  const head = `${o.kind} of ${o.service}`;
  if (o.status === 'failed') {
    return `${head} failed${o.failure?.type ? ` (${o.failure.type})` : ''}: ${o.failure?.message ?? 'unknown failure'}\n  run ${o.workflowId} ${o.runId}`;
  }
  const r = o.result ?? {};
  const move = r.source && r.target ? ` ${r.source} → ${r.target}` : r.destination ? ` ${r.destination}` : '';
  const lines = [`${head}: ${r.outcome ?? (r.restored ? 'restored' : 'completed')}${move}${r.emergency ? ' (emergency)' : ''}`];
  lines.push(`  run      ${o.workflowId} ${o.runId}`);
  if (r.rtoMs !== undefined)
    lines.push(
      `  RTO      ${fmtDuration(r.rtoMs)}${r.objective ? ` (objective max_failover_time ${r.objective.maxFailoverTime}: ${r.objective.exceeded ? 'EXCEEDED, alert raised' : 'met'})` : ''}`,
    );
  if (r.rpo) lines.push(`  RPO      ${fmtRpo(r.rpo)}`);
  if (r.routingBefore && r.routingAfter) lines.push(`  routing  ${fmtRouting(r.routingBefore)} → ${fmtRouting(r.routingAfter)}`);
  if (r.approval) lines.push(`  approval ${r.approval.outcome} by ${r.approval.by}${r.approval.reason ? `: ${r.approval.reason}` : ''}`);
  if (r.steps?.length && show.steps !== false) lines.push('  steps', ...fmtSteps(r.steps));
  return lines.join('\n');
}

function shorten(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

export function historyView(service: string, runs: readonly HistoryRun[]): string {
  if (runs.length === 0) return `no runbooks recorded for ${service}`;
  const rows = runs.map((r) => [
    fmtTime(r.startTime),
    fmtTime(r.closeTime),
    r.type === 'failover' && r.planned ? 'switchover' : r.type,
    r.trigger ?? '-',
    r.status.toLowerCase(),
    r.failure ? shorten(r.failure, 70) : [r.outcome, r.source && r.target ? `${r.source} → ${r.target}` : undefined].filter(Boolean).join(' ') || '-',
    r.rtoMs !== undefined ? `${fmtDuration(r.rtoMs)}${r.objectiveExceeded ? ` (>${r.objectiveExceeded})` : ''}` : '-',
    r.rpo ? (r.rpo.lag === null ? 'unknown' : String(r.rpo.lag)) : '-',
    r.runId,
  ]);
  return table(['STARTED', 'CLOSED', 'KIND', 'TRIGGER', 'STATUS', 'OUTCOME', 'RTO', 'RPO', 'RUN'], rows).join('\n');
}

export function probesLine(probes: Readonly<Record<string, ProbeResult>>): string {
  const one = ([id, p]: [string, ProbeResult]) =>
    p.up
      ? `${id} up ${fmtDuration(p.latencyMs)}${p.role ? ` ${p.role}` : ''}${p.offset !== undefined ? ` offset ${p.offset}` : ''}`
      : `${id} down (${p.failure ?? 'error'}${p.error ? `: ${shorten(p.error, 60)}` : ''})`;
  return `probes: ${Object.entries(probes).map(one).join(', ')}`;
}
