/** `meshctl manifest generate --addons`: the Prometheus scrape config and the Grafana dashboards' ConfigMap. */
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { runCli } from '../support/cli.js';

interface Cm {
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  data: Record<string, string>;
}

describe('meshctl manifest generate --addons', () => {
  it("prints a scrape config for the sidecars and the control plane, and the dashboards for Grafana's sidecar", async () => {
    const r = await runCli(['manifest', 'generate', '--addons']);
    expect(r.code).toBe(0);
    const objects = parseAllDocuments(r.stdout).map((d) => d.toJS() as Cm);
    for (const o of objects) new ConfigMap(o as never).validate();
    expect(objects.map((o) => [o.kind, o.metadata.name, o.metadata.namespace])).toEqual([
      ['ConfigMap', 'meshctl-prometheus-scrape-configs', 'mesh-system'],
      ['ConfigMap', 'meshctl-grafana-dashboards', 'mesh-system'],
    ]);
    const scrape = parse(objects[0]!.data['meshctl-scrape-configs.yaml']!) as {
      scrape_configs: { job_name: string; relabel_configs: { regex?: string }[] }[];
    };
    expect(scrape.scrape_configs.map((j) => j.job_name)).toEqual(['meshctl-control-plane', 'meshctl-proxies']);
    expect(scrape.scrape_configs[0]!.relabel_configs[0]!.regex).toBe('meshctl-control-plane;http-debug');
    const dashboards = objects[1]!;
    expect(dashboards.metadata.labels.grafana_dashboard).toBe('1');
    expect(Object.keys(dashboards.data).sort()).toEqual([
      'meshctl-control-plane.json',
      'meshctl-mesh.json',
      'meshctl-service.json',
      'meshctl-workload.json',
    ]);
    for (const text of Object.values(dashboards.data)) {
      const d = JSON.parse(text) as { uid: string; panels: { targets?: { expr: string }[] }[] };
      expect(d.uid).toMatch(/^meshctl-/);
      expect(d.panels.flatMap((p) => p.targets ?? []).length).toBeGreaterThan(3);
    }
    // Istio's metric names, so Istio's own dashboards and alerts read the same data
    expect(dashboards.data['meshctl-mesh.json']).toContain('istio_requests_total');
    expect(dashboards.data['meshctl-control-plane.json']).toContain('pilot_xds_pushes');
  });

  it('follows --set namespace and refuses to mix with --crds-only', async () => {
    const r = await runCli(['manifest', 'generate', '--addons', '--set', 'namespace=observability-test']);
    expect(r.stdout).toContain('namespace: observability-test');
    const bad = await runCli(['manifest', 'generate', '--addons', '--crds-only']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('--addons prints only the add-ons');
  });
});
