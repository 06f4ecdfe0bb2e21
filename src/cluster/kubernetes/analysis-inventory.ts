/**
 * What `meshctl analyze` reads from a cluster: every mesh config object the analyzers know (all the
 * CRD kinds served), and the inventory around them: Services (hosts), Namespaces (injection labels)
 * and running Pods (workloads, with the annotations that say whether they were injected). Secrets
 * are not read (least privilege: analysis never needs their data), so the analyzers that would need
 * them stay silent. The shapes match src/analyze's PlatformSnapshot; the command joins the two, so
 * analyze (pure) and the cluster layer never import each other.
 */
import type { KubeObject } from './objects.js';
import type { KubernetesPlatform } from './platform.js';

/** The cluster's config and inventory for analysis. */
export interface ClusterAnalysisData {
  objects: unknown[];
  inventory: {
    services: { name: string; namespace: string; selector?: Record<string, string> }[];
    namespaces: { name: string; labels: Record<string, string> }[];
    workloads: {
      kind: string;
      name: string;
      namespace: string;
      labels: Record<string, string>;
      annotations: Record<string, string>;
      serviceAccount?: string;
    }[];
  };
  origin: string;
}

interface Pod extends KubeObject {
  spec?: { serviceAccountName?: string };
  status?: { phase?: string };
}

/** Reads the mesh config and inventory of the whole cluster (findings are filtered by namespace later). */
export async function readClusterForAnalysis(platform: KubernetesPlatform): Promise<ClusterAnalysisData> {
  const cluster = platform.cluster;
  const [objects, services, namespaces, pods] = await Promise.all([
    platform.listConfig(),
    cluster.list<KubeObject & { spec?: { selector?: Record<string, string> } }>({ apiVersion: 'v1', kind: 'Service' }),
    cluster.list({ apiVersion: 'v1', kind: 'Namespace' }),
    cluster.list<Pod>({ apiVersion: 'v1', kind: 'Pod' }),
  ]);
  return {
    objects,
    inventory: {
      services: services.items.map((s) => ({
        name: s.metadata.name,
        namespace: s.metadata.namespace ?? 'default',
        ...(s.spec?.selector ? { selector: s.spec.selector } : {}),
      })),
      namespaces: namespaces.items.map((n) => ({ name: n.metadata.name, labels: n.metadata.labels ?? {} })),
      workloads: pods.items
        .filter((p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
        .map((p) => ({
          kind: 'Pod',
          name: p.metadata.name,
          namespace: p.metadata.namespace ?? 'default',
          labels: p.metadata.labels ?? {},
          annotations: p.metadata.annotations ?? {},
          ...(p.spec?.serviceAccountName ? { serviceAccount: p.spec.serviceAccountName } : {}),
        })),
    },
    origin: `cluster ${cluster.config.contextName}`,
  };
}
