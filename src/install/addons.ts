/**
 * The observability add-ons `meshctl manifest generate --addons` prints: Prometheus scrape
 * configuration for every sidecar (the `prometheus.io/*` annotations injection sets) and for the
 * control plane's own metrics, and the Grafana dashboards (templates/dashboards/) as a ConfigMap
 * that Grafana's dashboard sidecar picks up by its `grafana_dashboard` label. Nothing here is
 * applied by `install`: users keep their own Prometheus and Grafana and add these to them.
 */
import { readdir, readFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { CONTROL_PLANE_SERVICE } from '../protocol/well-known.js';
import type { KubeObject } from './manifests.js';

const DASHBOARD_DIR = new URL('../../templates/dashboards/', import.meta.url);

/** The shipped dashboards: file name -> Grafana dashboard JSON text. */
export async function loadDashboards(): Promise<Map<string, string>> {
  const files = (await readdir(DASHBOARD_DIR)).filter((f) => f.endsWith('.json')).sort();
  const out = new Map<string, string>();
  for (const f of files) out.set(f, await readFile(new URL(f, DASHBOARD_DIR), 'utf8'));
  return out;
}

/**
 * Prometheus `scrape_configs` for a mesh on Kubernetes: pods that carry `prometheus.io/scrape`
 * (every injected pod: the sidecar's 15020/stats/prometheus) and the control plane's /metrics on
 * its monitoring port, as job `meshctl-control-plane` (the control-plane dashboard selects it).
 */
export function prometheusScrapeConfigs(meshNamespace: string): Record<string, unknown>[] {
  return [
    {
      job_name: 'meshctl-control-plane',
      kubernetes_sd_configs: [{ role: 'endpoints', namespaces: { names: [meshNamespace] } }],
      relabel_configs: [
        {
          source_labels: ['__meta_kubernetes_service_name', '__meta_kubernetes_endpoint_port_name'],
          action: 'keep',
          regex: `${CONTROL_PLANE_SERVICE};http-debug`,
        },
        { target_label: '__metrics_path__', replacement: '/metrics' },
        { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      ],
    },
    {
      job_name: 'meshctl-proxies',
      kubernetes_sd_configs: [{ role: 'pod' }],
      relabel_configs: [
        { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_scrape'], action: 'keep', regex: 'true' },
        // the control plane is scraped by its own job
        { source_labels: ['__meta_kubernetes_pod_label_app'], action: 'drop', regex: CONTROL_PLANE_SERVICE },
        {
          source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_path'],
          action: 'replace',
          target_label: '__metrics_path__',
          regex: '(.+)',
        },
        {
          source_labels: ['__address__', '__meta_kubernetes_pod_annotation_prometheus_io_port'],
          action: 'replace',
          regex: '([^:]+)(?::\\d+)?;(\\d+)',
          replacement: '$1:$2',
          target_label: '__address__',
        },
        { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
        { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      ],
    },
  ];
}

/** The add-on objects: the scrape config (a ConfigMap to mount or merge) and the dashboards' ConfigMap. */
export async function renderAddons(meshNamespace: string): Promise<KubeObject[]> {
  const labels = { 'app.kubernetes.io/managed-by': 'meshctl', 'app.kubernetes.io/part-of': 'meshctl' };
  const dashboards = await loadDashboards();
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'meshctl-prometheus-scrape-configs', namespace: meshNamespace, labels },
      data: { 'meshctl-scrape-configs.yaml': stringify({ scrape_configs: prometheusScrapeConfigs(meshNamespace) }) },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      // grafana_dashboard: the label the Grafana Helm chart's dashboard sidecar watches by default
      metadata: {
        name: 'meshctl-grafana-dashboards',
        namespace: meshNamespace,
        labels: { ...labels, grafana_dashboard: '1' },
      },
      data: Object.fromEntries([...dashboards].map(([f, text]) => [`meshctl-${f}`, text])),
    },
  ];
}
