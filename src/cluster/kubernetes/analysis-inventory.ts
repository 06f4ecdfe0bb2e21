/**
 * What `meshctl analyze` reads from a cluster: every mesh config object the analyzers know (all the
 * CRD kinds served), and the inventory around them: Services (hosts), Namespaces (injection labels)
 * and running Pods (workloads, with the annotations that say whether they were injected, and for those with a
 * sidecar the fields that make an app container run as its UID 1337). Secrets
 * are not read (least privilege: analysis never needs their data), so the analyzers that would need
 * them stay silent. The shapes match src/analyze's PlatformSnapshot; the command joins the two, so
 * analyze (pure) and the cluster layer never import each other.
 */
import { proxyUidUses, type ProxyUidUse } from '../../inject/proxy-uid.js';
import { MeshNames } from '../../inject/sidecar.js';
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
      proxyUid?: ProxyUidUse[];
    }[];
  };
  origin: string;
}

interface Pod extends KubeObject {
  spec?: { serviceAccountName?: string; initContainers?: { name?: string }[]; containers?: { name?: string }[] };
  status?: { phase?: string };
}

/** Whether the pod runs the mesh's sidecar (native: an init container; classic: a container). */
function hasSidecar(p: Pod): boolean {
  return [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].some((c) => c?.name === MeshNames.proxy);
}

function withProxyUid(p: Pod): { proxyUid?: ProxyUidUse[] } {
  if (!hasSidecar(p)) return {};
  const uses = proxyUidUses(p as unknown as Record<string, unknown>);
  return uses.length ? { proxyUid: uses } : {};
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
          // Only where a sidecar runs is there a capture to bypass.
          ...withProxyUid(p),
        })),
    },
    origin: `cluster ${cluster.config.contextName}`,
  };
}
