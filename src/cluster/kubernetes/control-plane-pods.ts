/**
 * Reaching every replica of the control plane, not just the one the Service picks: each replica
 * holds the streams of the proxies connected to it, so `proxy-status` merges the `/debug/syncz` of
 * all of them (as istioctl asks every istiod) and `proxy-config` asks each until one holds the proxy.
 * Requests go through the API server's pod proxy (`pods/NAME:15014/proxy/...`) with the user's own
 * credentials: no port-forward, no kubectl, nothing new in the control plane's RBAC.
 */
import { ErrorCode, MeshError, NotFoundError } from '../../errors.js';
import { CONTROL_PLANE_POD_SELECTOR, ControlPlanePorts } from '../../protocol/well-known.js';
import type { KubernetesCluster } from './index.js';
import { podReady, type PodLike } from './readiness.js';

/** The label selector of the control plane's pods (install's Deployment template). */
export const CONTROL_PLANE_SELECTOR = CONTROL_PLANE_POD_SELECTOR;

/** The running (not terminating) control plane pods, ready ones first, by name. */
export async function controlPlanePods(cluster: KubernetesCluster, namespace: string): Promise<PodLike[]> {
  const list = await cluster.list<PodLike>(
    { apiVersion: 'v1', kind: 'Pod', namespace },
    { labelSelector: CONTROL_PLANE_SELECTOR },
  );
  return list.items
    .filter((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running')
    .sort((a, b) => Number(podReady(b)) - Number(podReady(a)) || a.metadata.name.localeCompare(b.metadata.name));
}

/** GET on one replica's debug API through the pod proxy, parsed JSON. */
export async function replicaGet<T>(
  cluster: KubernetesCluster,
  namespace: string,
  pod: string,
  path: string,
): Promise<T> {
  const r = await cluster.proxy(
    { kind: 'pod', namespace, name: pod, port: ControlPlanePorts.debug },
    { path, timeoutMs: 10_000 },
  );
  return JSON.parse(r.text) as T;
}

/** One proxy as a replica's /debug/syncz lists it, plus the replica it is connected to. */
export interface ReplicaProxyView {
  proxy: { id: string; workload: string; namespace: string; proxyVersion: string; [k: string]: unknown };
  /** The control plane pod holding this proxy's stream. */
  controlPlane: string;
  [k: string]: unknown;
}

/**
 * Every connected proxy of every ready replica. Replicas that do not answer are named in
 * `unreachable` (their proxies are then missing from the list, which the caller says).
 */
export async function mergedSyncz(
  cluster: KubernetesCluster,
  namespace: string,
): Promise<{ version: string; proxies: ReplicaProxyView[]; replicas: string[]; unreachable: string[] }> {
  const pods = (await controlPlanePods(cluster, namespace)).filter((p) => podReady(p));
  if (!pods.length) {
    throw new MeshError(ErrorCode.PlatformUnavailable, `no ready control plane pod in namespace ${namespace}`, {
      hint: `install the mesh (meshctl install --wait), or see why its pods are not ready: kubectl -n ${namespace} describe pods -l ${CONTROL_PLANE_SELECTOR}`,
    });
  }
  const answers = await Promise.all(
    pods.map(async (p) => {
      try {
        return {
          pod: p.metadata.name,
          syncz: await replicaGet<{ version: string; proxies: Record<string, unknown>[] }>(
            cluster,
            namespace,
            p.metadata.name,
            '/debug/syncz',
          ),
        };
      } catch (err) {
        return { pod: p.metadata.name, error: err as Error };
      }
    }),
  );
  const ok = answers.filter(
    (a): a is { pod: string; syncz: { version: string; proxies: Record<string, unknown>[] } } => 'syncz' in a,
  );
  if (!ok.length) throw (answers[0] as { error: Error }).error;
  const proxies: ReplicaProxyView[] = [];
  for (const a of ok)
    for (const p of a.syncz.proxies) proxies.push({ ...(p as unknown as ReplicaProxyView), controlPlane: a.pod });
  return {
    version: ok[0]!.syncz.version,
    proxies,
    replicas: ok.map((a) => a.pod),
    unreachable: answers.filter((a) => 'error' in a).map((a) => a.pod),
  };
}

/** `/debug/config_dump?proxy=ID` from the replica that holds the proxy's stream. */
export async function replicaConfigDump<T>(
  cluster: KubernetesCluster,
  namespace: string,
  proxyId: string,
): Promise<T & { controlPlane: string }> {
  const pods = (await controlPlanePods(cluster, namespace)).filter((p) => podReady(p));
  for (const p of pods) {
    try {
      const dump = await replicaGet<T>(
        cluster,
        namespace,
        p.metadata.name,
        `/debug/config_dump?proxy=${encodeURIComponent(proxyId)}`,
      );
      return { ...dump, controlPlane: p.metadata.name };
    } catch (err) {
      // 404: not connected to this replica; try the next.
      if ((err as { status?: number }).status === 404) continue;
      throw err;
    }
  }
  throw new NotFoundError(
    `connected proxy ${proxyId}`,
    `list connected proxies with 'meshctl proxy-status'${pods.length ? '' : ` (no ready control plane pod in ${namespace})`}`,
  );
}
