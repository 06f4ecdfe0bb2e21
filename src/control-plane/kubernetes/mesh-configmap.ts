/**
 * What the control plane reads from the mesh ConfigMap install writes (`meshctl-config`): the mesh
 * settings (mesh.yaml) once at start, and Istio's MeshConfig (meshConfig.json), followed while it runs.
 */
import type { KubernetesCluster, KubeObject } from '../../cluster/index.js';

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
  private text = '';
  object: Record<string, unknown> | undefined;

  constructor(
    private readonly cluster: KubernetesCluster,
    private readonly namespace: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Reads the ConfigMap; true when the MeshConfig changed. */
  async refresh(): Promise<boolean> {
    const cm = await this.cluster.get<KubeObject & { data?: Record<string, string> }>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: this.namespace,
      name: MESH_CONFIGMAP,
    });
    const text = cm?.data?.['meshConfig.json'] ?? '';
    if (text === this.text) return false;
    if (text === '') {
      this.text = '';
      this.object = undefined;
      return true;
    }
    try {
      const spec = JSON.parse(text) as unknown;
      if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw new Error('not a JSON object');
      this.text = text;
      this.object = spec as Record<string, unknown>;
      this.log(`mesh config loaded from ConfigMap ${this.namespace}/${MESH_CONFIGMAP}`);
      return true;
    } catch (err) {
      this.log(
        `mesh config in ConfigMap ${this.namespace}/${MESH_CONFIGMAP} ignored, keeping the last good one: ${(err as Error).message}`,
      );
      return false;
    }
  }
}

/** A duration as install writes it (`90s`, `15m`, `24h`) in seconds; undefined when it is not one. */
export function seconds(duration: string | undefined): number | undefined {
  const m = /^(\d+)(s|m|h)$/.exec(duration ?? '');
  if (!m) return undefined;
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
}
