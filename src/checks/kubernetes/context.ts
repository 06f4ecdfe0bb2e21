/**
 * What the Kubernetes checks run against: the connected cluster, the mesh platform on it (the
 * control plane's debug API through the API server), and the CLI's own version and clock.
 */
import type { KubernetesCluster, KubeObject, KubernetesPlatform } from '../../cluster/index.js';
import type { KubeObject as ManifestObject } from '../../install/manifests.js';

/** The context handed to every Kubernetes checker. */
export interface KubernetesCheckContext {
  readonly cluster: KubernetesCluster;
  readonly platform: KubernetesPlatform;
  /** The namespace the mesh is (to be) installed in. */
  readonly meshNamespace: string;
  readonly cliVersion: string;
  readonly now: () => Date;
  /** `check --proxy -n NS`: only this namespace's pods; undefined: every namespace. */
  readonly proxyNamespace?: string;
  /** What install would apply (CRDs from templates/crds/, then the components), for permissions and currency. */
  readonly manifests: () => Promise<{ crds: ManifestObject[]; components: ManifestObject[] }>;
}

/** `ns/name`. */
export function podRef(p: KubeObject): string {
  return `${p.metadata.namespace ?? 'default'}/${p.metadata.name}`;
}

/** At most `n` items, then `… and N more`. */
export function listSome(items: readonly string[], n = 10): string {
  return items.length <= n ? items.join(', ') : `${items.slice(0, n).join(', ')}, … and ${items.length - n} more`;
}
