import { fmtWeights, type Routing } from '../domain/routing';
import type { StepRecord } from '../api/status';

/** "850ms", "1.25s", "2m05s". */
export function fmtDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(2))}s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms - m * 60_000) / 1000);
  return `${m}m${String(s).padStart(2, '0')}s`;
}

/** ISO time to the second, UTC: "2025-03-01T10:04:05Z"; "-" when absent. */
export function fmtTime(t: Date | string | undefined): string {
  if (t === undefined) return '-';
  const d = typeof t === 'string' ? new Date(t) : t;
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export { fmtWeights };

export function fmtRouting(r: Routing): string {
  return `[${fmtWeights(r.weights)}] gen ${r.generation}`;
}

/** RPO as the runbook measured it: a lag in the replication driver's units, or unknown. */
export function fmtRpo(rpo: { lag: number | null; note: string } | undefined): string {
  if (!rpo) return '-';
  return `${rpo.lag === null ? 'unknown' : rpo.lag} (${rpo.note})`;
}

const ICON: Record<StepRecord['outcome'], string> = { running: '▶', ok: '✔', failed: '✘', skipped: '–', compensated: '↺' };

export function fmtSteps(steps: readonly StepRecord[], indent = '    '): string[] {
  return steps.map((s) => `${indent}${ICON[s.outcome]} ${s.name}${s.detail ? ` — ${s.detail}` : ''}`);
}

/** Left-aligned columns, two spaces apart; trailing spaces trimmed. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], indent = ''): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `${indent}${cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')}`.trimEnd();
  return [line(header), ...rows.map(line)];
}
