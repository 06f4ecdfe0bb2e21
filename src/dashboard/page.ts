/**
 * The page `meshctl dashboard` serves: a Grafana-like grid (24 columns, 30 px rows, as the
 * dashboards' gridPos mean) drawing each panel from Prometheus's query_range through the server.
 * Timeseries with uPlot, stat as the last value, table as the last value per label set. Each
 * variable offers its label values and All (`.*`, as Grafana's includeAll sends it to `=~`). Its script is
 * a file of its own (`/app.js`): the page's Content-Security-Policy allows no inline script.
 */

/** The HTML of the page. */
export function dashboardPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>meshctl dashboard</title>
<link rel="stylesheet" href="/uplot.css">
<style>
  body { margin: 0; background: #111217; color: #ccccdc; font: 13px/1.4 system-ui, sans-serif; }
  header { display: flex; gap: 16px; align-items: center; padding: 8px 16px; background: #181b1f; border-bottom: 1px solid #2c3235; }
  header h1 { font-size: 15px; margin: 0 12px 0 0; font-weight: 600; }
  header .note { margin-left: auto; color: #8e8e9e; font-size: 12px; }
  select { background: #0b0c0e; color: #ccccdc; border: 1px solid #2c3235; padding: 3px 6px; }
  #grid { display: grid; grid-template-columns: repeat(24, 1fr); grid-auto-rows: 30px; gap: 8px; padding: 8px 16px; }
  .panel { background: #181b1f; border: 1px solid #2c3235; border-radius: 2px; overflow: hidden; display: flex; flex-direction: column; }
  .panel h2 { font-size: 13px; font-weight: 500; margin: 0; padding: 6px 8px 2px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .panel .body { flex: 1; position: relative; overflow: hidden; padding: 0 4px 4px; }
  .row { background: none; border: none; font-size: 14px; font-weight: 600; padding-top: 6px; }
  .stat { display: flex; align-items: center; justify-content: center; height: 100%; font-size: 34px; font-weight: 500; color: #73bf69; }
  .empty, .error { color: #8e8e9e; padding: 8px; } .error { color: #f2495c; }
  table { width: 100%; border-collapse: collapse; font-size: 12px; } td, th { padding: 2px 6px; border-bottom: 1px solid #2c3235; text-align: left; }
  .u-legend { font-size: 11px; } .u-legend .u-marker { width: 10px; height: 3px; }
</style>
</head>
<body>
<header><h1>meshctl dashboard</h1><span id="controls"></span>
<span class="note">meshctl's renderer of the shipped Grafana dashboard JSON (not Grafana)</span></header>
<div id="grid"></div>
<script src="/uplot.js"></script>
<script src="/app.js"></script>
</body>
</html>
`;
}

/** The page's script (plain browser JavaScript). */
export function dashboardScript(): string {
  return `'use strict';
const el = (tag, props = {}, ...kids) => { const e = document.createElement(tag); Object.assign(e, props); e.append(...kids); return e; };
async function getJson(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.status);
  return body;
}
const COLORS = ['#73bf69', '#f2cc0c', '#8ab8ff', '#ff780a', '#f2495c', '#5794f2', '#b877d9', '#705da0', '#37872d', '#fade2a'];
function format(unit, v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  const fixed = (n, d) => Number(n.toFixed(d)).toString();
  switch (unit) {
    case 'percentunit': return fixed(v * 100, 2) + '%';
    case 'ms': return v >= 1000 ? fixed(v / 1000, 2) + ' s' : fixed(v, 1) + ' ms';
    case 's': return v < 1 ? fixed(v * 1000, 1) + ' ms' : fixed(v, 2) + ' s';
    case 'reqps': return fixed(v, 2) + ' req/s';
    case 'ops': return fixed(v, 2) + ' ops/s';
    case 'cps': return fixed(v, 2) + ' c/s';
    case 'Bps': return bytes(v) + '/s';
    case 'bytes': case 'decbytes': return bytes(v);
    default: return fixed(v, Math.abs(v) >= 100 ? 0 : 2);
  }
}
function bytes(v) {
  const u = ['B', 'kB', 'MB', 'GB', 'TB']; let i = 0;
  while (Math.abs(v) >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return Number(v.toFixed(1)) + ' ' + u[i];
}
const legendOf = (fmt, metric) =>
  fmt ? fmt.replace(/\\{\\{\\s*(\\w+)\\s*\\}\\}/g, (_, k) => metric[k] ?? '') : Object.entries(metric).map(([k, v]) => k + '=' + v).join(', ') || 'value';

async function main() {
  const params = new URLSearchParams(location.search);
  const dashboards = await getJson('/api/dashboards');
  const dash = dashboards.find((d) => d.file === params.get('dashboard')) || dashboards.find((d) => d.file === 'mesh.json') || dashboards[0];
  const controls = document.getElementById('controls');
  const pick = el('select', { onchange: () => { location.search = '?dashboard=' + encodeURIComponent(pick.value); } },
    ...dashboards.map((d) => el('option', { value: d.file, textContent: d.title, selected: d.file === dash.file })));
  controls.append(pick);
  const query = new URLSearchParams({ dashboard: dash.file });
  const chosen = {};
  for (const v of dash.variables) {
    let selector = v.selector;
    for (const [k, val] of Object.entries(chosen)) selector = selector.split('$' + k).join(val);
    const values = (await getJson('/api/label_values?' + new URLSearchParams({ label: v.labelName, match: selector }))).data || [];
    const value = params.get('var-' + v.name) || values[0] || '.*';
    chosen[v.name] = value;
    query.set('var-' + v.name, value);
    const sel = el('select', { onchange: () => { const p = new URLSearchParams(location.search); p.set('dashboard', dash.file); p.set('var-' + v.name, sel.value); location.search = p; } },
      ...values.map((x) => el('option', { value: x, textContent: x, selected: x === value })),
      el('option', { value: '.*', textContent: 'All', selected: value === '.*' }));
    controls.append(' ', v.label, ' ', sel);
  }
  if (params.get('from')) query.set('from', params.get('from'));
  const { panels, range, step } = await getJson('/api/panels?' + query);
  const end = Math.floor(Date.now() / 1000);
  const start = end - range;
  const grid = document.getElementById('grid');
  await Promise.all(panels.map((p) => {
    const box = el('div', { className: p.type === 'row' ? 'panel row' : 'panel' });
    box.style.gridColumn = (p.grid.x + 1) + ' / span ' + p.grid.w;
    box.style.gridRow = (p.grid.y + 1) + ' / span ' + p.grid.h;
    box.dataset.panel = p.title;
    grid.append(box);
    if (p.type === 'row') { box.textContent = p.title; box.dataset.status = 'row'; return undefined; }
    const body = el('div', { className: 'body' });
    box.append(el('h2', { textContent: p.title, title: p.queries.map((q) => q.expr).join('\\n') }), body);
    return draw(p, body, start, end, step).then(
      (n) => { box.dataset.status = n > 0 ? 'data' : 'empty'; box.dataset.series = String(n); },
      (err) => { box.dataset.status = 'error'; body.append(el('div', { className: 'error', textContent: String(err.message || err) })); });
  }));
  document.body.dataset.ready = 'true';
}

async function draw(p, body, start, end, step) {
  const results = await Promise.all(p.queries.map(async (q) => {
    const r = await getJson('/api/query_range?' + new URLSearchParams({ query: q.expr, start, end, step }));
    return r.data.result.map((s) => ({ name: legendOf(q.legend, s.metric), metric: s.metric, values: s.values }));
  }));
  const series = results.flat();
  if (series.length === 0) { body.append(el('div', { className: 'empty', textContent: 'No data' })); return 0; }
  const last = (s) => { for (let i = s.values.length - 1; i >= 0; i--) { const v = Number(s.values[i][1]); if (!Number.isNaN(v)) return v; } return NaN; };
  if (p.type === 'stat') {
    body.append(el('div', { className: 'stat', textContent: format(p.unit, last(series[0])) }));
    return series.length;
  }
  if (p.type === 'table') {
    const labels = [...new Set(series.flatMap((s) => Object.keys(s.metric)))];
    body.append(el('table', {}, el('tr', {}, ...labels.map((l) => el('th', { textContent: l })), el('th', { textContent: 'Value' })),
      ...series.map((s) => el('tr', {}, ...labels.map((l) => el('td', { textContent: s.metric[l] ?? '' })), el('td', { textContent: format(p.unit, last(s)) })))));
    return series.length;
  }
  const xs = [];
  for (let t = start; t <= end; t += step) xs.push(t);
  const index = new Map(xs.map((t, i) => [t, i]));
  const ys = series.map((s) => { const a = new Array(xs.length).fill(null); for (const [t, v] of s.values) { const i = index.get(t); if (i !== undefined) a[i] = Number(v); } return a; });
  const axis = { stroke: '#8e8e9e', grid: { stroke: '#2c3235', width: 1 }, ticks: { stroke: '#2c3235' } };
  new uPlot({
    width: Math.max(100, body.clientWidth - 8),
    height: Math.max(60, body.clientHeight - 36),
    legend: { show: true, live: false },
    cursor: { show: false },
    series: [{}, ...series.map((s, i) => ({ label: s.name, stroke: COLORS[i % COLORS.length], width: 1.5, points: { show: false }, value: (u, v) => format(p.unit, v) }))],
    axes: [axis, { ...axis, size: 70, values: (u, vals) => vals.map((v) => format(p.unit, v)) }],
  }, [xs, ...ys], body);
  return series.length;
}
main().catch((err) => { document.getElementById('grid').append(el('div', { className: 'error', textContent: String(err.message || err) })); document.body.dataset.ready = 'error'; });
`;
}
