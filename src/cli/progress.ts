import type { DecisionRecord, RunbookStatus, StepRecord } from '../api/status';
import { fmtDuration, fmtTime } from './format';

/** A runbook's status as the `status` query returns it; maintenance adds its window. */
export type LiveStatus = RunbookStatus & { maintenance?: { destination: string; window: string; windowEndsAt?: string; endedEarly?: { by: string } } };

const ICON: Record<StepRecord['outcome'], string> = { running: '▶', ok: '✔', failed: '✘', skipped: '–', compensated: '↺' };

/** "lag=0 maxLag=1048576": the numbers that decided a step. */
export function fmtNumbers(numbers: StepRecord['numbers']): string {
  if (!numbers) return '';
  const parts = Object.entries(numbers).flatMap(([k, v]) =>
    v === null || v === undefined ? [] : [`${k}=${typeof v === 'number' && /Ms$/.test(k) ? fmtDuration(v) : String(v)}`],
  );
  return parts.length > 0 ? ` [${parts.join(' ')}]` : '';
}

function stepLine(s: StepRecord): string {
  if (s.outcome === 'running') return `  ${ICON.running} ${s.name} …`;
  return `  ${ICON[s.outcome]} ${s.name}${s.detail ? ` — ${s.detail}` : ''}${fmtNumbers(s.numbers)}`;
}

/**
 * What changed between two looks at a running runbook, as lines for a person: steps started and
 * ended (with their numbers), the approval wait with the commands to answer it, a pause and its
 * end, a maintenance window's end, phase changes. Pure: `prev` undefined prints everything so far.
 * `cli`: how printed commands start (the CLI passes how it was itself invoked).
 */
export function progressLines(prev: LiveStatus | undefined, next: LiveStatus, service: string, now: Date = new Date(), cli = 'failover'): string[] {
  const out: string[] = [];
  // A resume comes before the steps it lets run; the phase after the steps that moved it.
  if (!next.controls.paused && prev?.controls.paused) out.push('  ▶ resumed');
  next.steps.forEach((s, i) => {
    const before = prev?.steps[i];
    if (before && before.name === s.name && before.outcome === s.outcome) return;
    // A step seen running and ended since: one line for its end is enough.
    if (s.outcome === 'running' && before?.outcome === 'running') return;
    out.push(stepLine(s));
  });
  const wait = next.controls.awaitingApproval;
  if (wait && wait.since !== prev?.controls.awaitingApproval?.since) {
    out.push(`  ⏸ waiting for approval since ${fmtTime(wait.since)}: ${wait.reason} (after ${wait.timeout}: ${wait.defaultAction})`);
    out.push(`     approve: ${cli} approve ${service} --by <your name>`);
    out.push(`     abort:   ${cli} abort ${service} --by <your name> --reason <why>`);
  }
  if (next.controls.paused && !prev?.controls.paused) {
    out.push(`  ⏸ paused by ${next.controls.pausedBy ?? 'operator'}: holds before its next step; resume: ${cli} resume ${service}`);
  }
  if (next.controls.abort && !prev?.controls.abort) out.push(`  ✘ abort requested by ${next.controls.abort.by}: ${next.controls.abort.reason}`);
  const ends = next.maintenance?.windowEndsAt;
  if (ends && ends !== prev?.maintenance?.windowEndsAt) {
    const left = Date.parse(ends) - now.getTime();
    out.push(
      `  ⏳ maintenance window: ${next.maintenance!.destination} drained for ${next.maintenance!.window}, ends at ${fmtTime(ends)}${left > 0 ? ` (in ${fmtDuration(left)})` : ''}`,
    );
  }
  // The approval wait says it itself; the end is the outcome's line.
  if (next.phase !== prev?.phase && !['awaiting-approval', 'done', 'failed', 'rolled-back'].includes(next.phase)) out.push(`  · phase ${next.phase}`);
  return out;
}

/** Detection decisions not seen before, as lines. */
export function decisionLines(prev: readonly DecisionRecord[], next: readonly DecisionRecord[]): string[] {
  const seen = new Set(prev.map((d) => `${d.at}|${d.event.destination}|${d.event.kind}`));
  return next
    .filter((d) => !seen.has(`${d.at}|${d.event.destination}|${d.event.kind}`))
    .map(
      (d) =>
        `  detection ${fmtTime(d.at)}: ${d.event.destination} ${d.event.kind} → ${d.decision.action}${d.held ? ` — held: ${d.held}` : d.runbook ? ` (${d.runbook})` : ''}: ${d.decision.reason}`,
    );
}
