/**
 * Renders the Grafana dashboard JSON as a static page from query results (no Grafana here: Debian
 * does not package it), so the README can show what the panels showed after the test's runbooks.
 * Layout follows each panel's gridPos; stat, bargauge, table and timeseries are drawn plainly.
 */
export interface RenderedSeries {
  labels: Record<string, string>;
  values: [number, number][];
  legend: string;
}

export interface RenderedPanel {
  title: string;
  type: string;
  gridPos: { h: number; w: number; x: number; y: number };
  unit?: string;
  series: RenderedSeries[];
}

const COL = 1600 / 24;
const ROW = 34;
const COLORS = ['#73bf69', '#f2cc0c', '#5794f2', '#ff780a', '#b877d9', '#f2495c', '#8ab8ff', '#ca95e5'];

export function legendOf(format: string | undefined, labels: Record<string, string>): string {
  if (!format)
    return (
      Object.entries(labels)
        .filter(([k]) => k !== '__name__')
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || 'value'
    );
  return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k: string) => labels[k] ?? '');
}

function fmt(v: number, unit?: string): string {
  if (!Number.isFinite(v)) return '–';
  if (unit === 'percentunit') return `${(v * 100).toFixed(v >= 0.9995 ? 0 : 2)}%`;
  if (unit === 's') return v < 1 ? `${Math.round(v * 1000)} ms` : `${v.toFixed(v < 10 ? 2 : 1)} s`;
  if (unit === 'decbytes') return v < 1024 ? `${Math.round(v)} B` : `${(v / 1024).toFixed(1)} KiB`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const last = (s: RenderedSeries) => [...s.values].reverse().find(([, v]) => Number.isFinite(v))?.[1] ?? NaN;

function body(p: RenderedPanel, range: { start: number; end: number }, w: number, h: number): string {
  const series = p.series.filter((s) => s.values.some(([, v]) => Number.isFinite(v)));
  if (series.length === 0) return '<div class="nodata">No data</div>';
  if (p.type === 'stat') {
    return `<div class="stats">${series.map((s, i) => `<div class="stat"><div class="big" style="color:${COLORS[i % COLORS.length]}">${esc(fmt(last(s), p.unit))}</div><div class="lg">${esc(s.legend)}</div></div>`).join('')}</div>`;
  }
  if (p.type === 'bargauge' || p.type === 'table') {
    const rows = series
      .map((s) => ({ s, v: last(s) }))
      .sort((a, b) => b.v - a.v)
      .slice(0, 12);
    const max = Math.max(...rows.map((r) => r.v), 1e-9);
    return `<div class="bars">${rows.map((r, i) => `<div class="bar"><span class="bl">${esc(r.s.legend || Object.values(r.s.labels).join(' '))}</span><span class="bt"><span style="width:${Math.max(2, (r.v / max) * 100)}%;background:${COLORS[i % COLORS.length]}"></span></span><span class="bv">${esc(fmt(r.v, p.unit))}</span></div>`).join('')}</div>`;
  }
  // timeseries, state-timeline: lines over the time range
  const all = series.flatMap((s) => s.values.map(([, v]) => v)).filter(Number.isFinite);
  const lo = Math.min(0, ...all);
  const hi = Math.max(...all) === lo ? lo + 1 : Math.max(...all);
  const pw = w - 20;
  const ph = h - 58;
  const x = (t: number) => 10 + ((t - range.start) / (range.end - range.start)) * pw;
  const y = (v: number) => 8 + ph - ((v - lo) / (hi - lo)) * ph;
  const lines = series.map((s, i) => {
    const pts = s.values
      .filter(([, v]) => Number.isFinite(v))
      .map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`)
      .join(' ');
    return `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${pts}"/>`;
  });
  const legend = series
    .slice(0, 6)
    .map((s, i) => `<span><i style="background:${COLORS[i % COLORS.length]}"></i>${esc(s.legend)}</span>`)
    .join('');
  return `<svg width="${w - 4}" height="${ph + 16}"><text x="10" y="12" class="ax">${esc(fmt(hi, p.unit))}</text><line x1="10" x2="${pw + 10}" y1="${ph + 8}" y2="${ph + 8}" class="axl"/>${lines.join('')}</svg><div class="legend">${legend}</div>`;
}

export function renderDashboardHtml(
  title: string,
  panels: (RenderedPanel | { type: 'row'; title: string; gridPos: RenderedPanel['gridPos'] })[],
  range: { start: number; end: number },
  note: string,
): string {
  const height = Math.max(...panels.map((p) => (p.gridPos.y + p.gridPos.h) * ROW)) + 60;
  const boxes = panels.map((p) => {
    const left = p.gridPos.x * COL;
    const top = 50 + p.gridPos.y * ROW;
    const w = p.gridPos.w * COL - 8;
    const h = p.gridPos.h * ROW - 8;
    if (p.type === 'row') return `<div class="row" style="left:${left}px;top:${top}px;width:${1600 - 8}px">${esc(p.title)}</div>`;
    return `<div class="panel" style="left:${left}px;top:${top}px;width:${w}px;height:${h}px"><div class="pt">${esc(p.title)}</div>${body(p as RenderedPanel, range, w, h)}</div>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#ccccdc;font:13px -apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;width:1600px;height:${height}px;position:relative}
.hdr{position:absolute;left:8px;top:12px;font-size:18px;color:#fff}.hdr small{font-size:12px;color:#8e8e9e;margin-left:12px}
.row{position:absolute;height:24px;font-weight:600;color:#fff;border-bottom:1px solid #2c2f36}
.panel{position:absolute;background:#181b1f;border:1px solid #25282d;border-radius:3px;overflow:hidden}
.pt{padding:6px 8px;font-weight:600;color:#d8d9da}.nodata{color:#6e6e7e;text-align:center;margin-top:30px}
.stats{display:flex;flex-wrap:wrap;gap:14px;padding:4px 10px}.stat .big{font-size:30px;font-weight:600}.lg{color:#8e8e9e;font-size:11px}
.bars{padding:2px 8px}.bar{display:flex;align-items:center;gap:6px;margin:3px 0}.bl{width:45%;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;font-size:11px}
.bt{flex:1;background:#22252b;height:12px}.bt span{display:block;height:12px}.bv{width:60px;text-align:right;font-size:11px}
.ax{fill:#8e8e9e;font-size:10px}.axl{stroke:#2c2f36}.legend{padding:0 10px;font-size:11px;color:#8e8e9e}.legend span{margin-right:10px}.legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
</style></head><body><div class="hdr">${esc(title)}<small>${esc(note)}</small></div>${boxes.join('')}</body></html>`;
}
