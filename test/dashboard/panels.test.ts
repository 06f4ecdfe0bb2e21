/** The shipped dashboards as `meshctl dashboard` reads them: variables, panels, expanded PromQL, Grafana's gravity. */
import { describe, expect, it } from 'vitest';
import { loadDashboards } from '../../src/install/addons.js';
import {
  compactGrid,
  dashboardPanels,
  dashboardRangeSeconds,
  dashboardVariables,
  expandVariables,
  relativeSeconds,
  type RawDashboard,
} from '../../src/dashboard/panels.js';

describe('dashboard panels', () => {
  it("reads the workload dashboard's label_values variables, in order, the second naming the first", async () => {
    const d = JSON.parse((await loadDashboards()).get('workload.json')!) as RawDashboard;
    expect(dashboardVariables(d)).toEqual([
      {
        name: 'namespace',
        label: expect.any(String),
        selector: 'istio_requests_total',
        labelName: 'destination_workload_namespace',
      },
      {
        name: 'workload',
        label: expect.any(String),
        selector: 'istio_requests_total{destination_workload_namespace=~"$namespace"}',
        labelName: 'destination_workload',
      },
    ]);
    expect(dashboardRangeSeconds(d)).toBe(1800);
  });

  it('expands Grafana built-ins and variables (longest name first), leaving no $ in any shipped query', async () => {
    expect(
      expandVariables(
        'rate(x{a=~"$work",b=~"$workload"}[$__rate_interval]) [$__interval]',
        { work: 'A', workload: 'B' },
        8,
      ),
    ).toBe('rate(x{a=~"A",b=~"B"}[1m]) [8s]');
    for (const [file, text] of await loadDashboards()) {
      const d = JSON.parse(text) as RawDashboard;
      const values = Object.fromEntries(dashboardVariables(d).map((v) => [v.name, '.*']));
      const panels = dashboardPanels(d, values, 8);
      expect(
        panels.filter((p) => p.type !== 'row').every((p) => p.queries.length > 0),
        file,
      ).toBe(true);
      for (const p of panels) for (const q of p.queries) expect(q.expr, `${file} ${p.title}`).not.toContain('$');
    }
  });

  it('takes out grid rows no panel occupies, as Grafana floats panels up', () => {
    const p = (y: number, h: number) => ({
      id: y,
      title: String(y),
      type: 'stat' as const,
      unit: '',
      grid: { x: 0, y, w: 6, h },
      queries: [],
    });
    expect(compactGrid([p(0, 1), p(1, 5), p(9, 1), p(10, 8)]).map((x) => x.grid.y)).toEqual([0, 1, 6, 7]);
  });

  it('reads Grafana relative times, refusing what is not one or is out of bounds', () => {
    expect(relativeSeconds('now-5m')).toBe(300);
    expect(relativeSeconds('now-6h')).toBe(21600);
    expect(relativeSeconds('now-10s')).toBeUndefined();
    expect(relativeSeconds('now-400d')).toBeUndefined();
    expect(relativeSeconds('2026-01-01')).toBeUndefined();
  });
});
