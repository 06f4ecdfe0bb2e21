/**
 * The shipped Grafana dashboards (templates/dashboards/*.json) read as `meshctl dashboard` renders
 * them: their template variables (Grafana's `label_values(selector, label)` queries) and their
 * panels (timeseries, stat, table) with each target's PromQL expanded as Grafana would send it
 * (`$__rate_interval`, `$__interval`, `$var`). Pure: JSON in, descriptions out.
 */

/** A dashboard's template variable and where its values come from. */
export interface DashboardVariable {
  readonly name: string;
  readonly label: string;
  /** the series selector and label of `label_values(selector, label)`; the selector may name earlier variables */
  readonly selector: string;
  readonly labelName: string;
}

/** One query of a panel, expanded. */
export interface PanelQuery {
  readonly expr: string;
  /** Grafana's legendFormat (`{{destination_service}} P50`) */
  readonly legend: string;
}

/** One panel to draw, with its place on Grafana's 24-column grid. */
export interface PanelView {
  readonly id: number;
  readonly title: string;
  readonly type: 'timeseries' | 'stat' | 'table' | 'row';
  readonly unit: string;
  readonly grid: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly queries: readonly PanelQuery[];
}

interface RawPanel {
  id?: number;
  title?: string;
  type?: string;
  gridPos?: { x?: number; y?: number; w?: number; h?: number };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: { expr?: string; legendFormat?: string }[];
  panels?: RawPanel[];
}

/** What the renderer needs of a dashboard JSON. */
export interface RawDashboard {
  title?: string;
  time?: { from?: string };
  templating?: { list?: { name?: string; label?: string; type?: string; query?: unknown; definition?: string }[] };
  panels?: RawPanel[];
}

const LABEL_VALUES = /^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/s;

/** The dashboard's query variables (datasource variables are Prometheus itself). */
export function dashboardVariables(d: RawDashboard): DashboardVariable[] {
  const out: DashboardVariable[] = [];
  for (const v of d.templating?.list ?? []) {
    if (v.type !== 'query' || !v.name) continue;
    const text =
      typeof v.query === 'string' ? v.query : ((v.query as { query?: string } | undefined)?.query ?? v.definition);
    const m = LABEL_VALUES.exec(text?.trim() ?? '');
    if (!m) continue;
    out.push({ name: v.name, label: v.label ?? v.name, selector: m[1]!.trim(), labelName: m[2]! });
  }
  return out;
}

/** Seconds of a Grafana relative time (`now-30m` -> 1800), undefined when it is not one (or over 31 days). */
export function relativeSeconds(from: string | undefined): number | undefined {
  const m = /^now-(\d{1,7})([smhd])$/.exec(from ?? '');
  if (!m) return undefined;
  const s = Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return s >= 60 && s <= 31 * 86400 ? s : undefined;
}

/** How far back the dashboard looks (`time.from`, e.g. `now-30m`; 30 min when it says nothing readable). */
export function dashboardRangeSeconds(d: RawDashboard): number {
  return relativeSeconds(d.time?.from) ?? 1800;
}

/**
 * Grafana's vertical gravity: rows of the grid that no panel occupies are taken out, so the panels
 * sit as Grafana shows them whatever gaps the JSON leaves.
 */
export function compactGrid(panels: readonly PanelView[]): PanelView[] {
  const used = new Set<number>();
  for (const p of panels) for (let y = p.grid.y; y < p.grid.y + p.grid.h; y++) used.add(y);
  const rows = [...used].sort((a, b) => a - b);
  const moved = new Map(rows.map((y, i) => [y, i]));
  return panels.map((p) => ({ ...p, grid: { ...p.grid, y: moved.get(p.grid.y) ?? p.grid.y } }));
}

/** Replaces Grafana's built-in and the dashboard's variables in `text`; longer names first ($workload before $work...). */
export function expandVariables(text: string, values: Readonly<Record<string, string>>, stepSeconds: number): string {
  // Grafana's $__rate_interval is at least four scrape intervals; one minute covers Prometheus's default 15 s.
  let out = text
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', `${Math.max(1, Math.round(stepSeconds))}s`)
    .replaceAll('$__range', `${Math.max(1, Math.round(stepSeconds))}s`);
  for (const name of Object.keys(values).sort((a, b) => b.length - a.length)) {
    const v = values[name]!;
    out = out.replaceAll('${' + name + '}', v).replaceAll('$' + name, v);
  }
  return out;
}

/** The dashboard's panels in reading order (rows' nested panels included), queries expanded with `values`. */
export function dashboardPanels(
  d: RawDashboard,
  values: Readonly<Record<string, string>>,
  stepSeconds: number,
): PanelView[] {
  const flat = (ps: RawPanel[]): RawPanel[] => ps.flatMap((p) => [p, ...flat(p.panels ?? [])]);
  const out: PanelView[] = [];
  for (const [i, p] of flat(d.panels ?? []).entries()) {
    const type =
      p.type === 'timeseries' || p.type === 'stat' || p.type === 'table' || p.type === 'row' ? p.type : undefined;
    if (!type) continue;
    out.push({
      id: p.id ?? i + 1,
      title: p.title ?? '',
      type,
      unit: p.fieldConfig?.defaults?.unit ?? '',
      grid: { x: p.gridPos?.x ?? 0, y: p.gridPos?.y ?? 0, w: p.gridPos?.w ?? 12, h: p.gridPos?.h ?? 8 },
      queries: (p.targets ?? [])
        .filter((t) => typeof t.expr === 'string' && t.expr.trim() !== '')
        .map((t) => ({ expr: expandVariables(t.expr!, values, stepSeconds), legend: t.legendFormat ?? '' })),
    });
  }
  return compactGrid(out.sort((a, b) => a.grid.y - b.grid.y || a.grid.x - b.grid.x));
}
