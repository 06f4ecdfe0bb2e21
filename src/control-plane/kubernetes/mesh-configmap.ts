/**
 * What the control plane reads from the mesh ConfigMap install writes (`meshctl-config`): the mesh
 * settings (mesh.yaml) once at start, and Istio's MeshConfig (meshConfig.json), followed while it runs.
 */
import type { KubernetesCluster, KubeObject } from '../../cluster/index.js';
import { MeshConfigText } from '../store/mesh-config-text.js';

/** Names the control plane shares with install (src/install/manifests.ts InstallNames). */
const MESH_CONFIGMAP = 'meshctl-config';

/** The mesh settings install wrote into the `meshctl-config` ConfigMap (mesh.yaml). */
export async function meshSettings(cluster: KubernetesCluster, namespace: string): Promise<Record<string, string>> {
  const cm = await cluster.get<KubeObject & { data?: Record<string, string> }>({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace,
    name: MESH_CONFIGMAP,
  });
  const out: Record<string, string> = {};
  for (const line of (cm?.data?.['mesh.yaml'] ?? '').split('\n')) {
    const m = /^([A-Za-z]+):\s*(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Follows Istio's MeshConfig in the mesh ConfigMap (`meshConfig.json`, which install renders from an
 * IstioOperator): polled, since a ConfigMap edit (install, kubectl edit) must reach running proxies
 * without a restart; content that does not parse keeps the last good config.
 */
export class MeshConfigMap {
  private readonly last: MeshConfigText;

  constructor(
    private readonly cluster: KubernetesCluster,
    private readonly namespace: string,
    log: (line: string) => void,
  ) {
    this.last = new MeshConfigText(log);
  }

  /** The MeshConfig (undefined when there is none). */
  get object(): Record<string, unknown> | undefined {
    return this.last.object;
  }

  /** Reads the ConfigMap; true when the MeshConfig changed. */
  async refresh(): Promise<boolean> {
    const cm = await this.cluster.get<KubeObject & { data?: Record<string, string> }>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: this.namespace,
      name: MESH_CONFIGMAP,
    });
    return this.last.take(cm?.data?.['meshConfig.json'] ?? '', `ConfigMap ${this.namespace}/${MESH_CONFIGMAP}`);
  }
}

/** A duration as install writes it (`90s`, `15m`, `24h`) in seconds; undefined when it is not one. */
export function seconds(duration: string | undefined): number | undefined {
  const m = /^(\d+)(s|m|h)$/.exec(duration ?? '');
  if (!m) return undefined;
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
}
