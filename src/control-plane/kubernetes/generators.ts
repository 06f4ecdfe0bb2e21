/**
 * The config stream's generators on Kubernetes: the same translation as the local platform
 * (src/control-plane/translate), read from the registry's MeshSnapshot, which keeps what the
 * local view has no field for: Service ClusterIPs (the outbound capture listener matches them)
 * and pods as capture-mode workloads (iptables sends their traffic to 15001/15006, and peers
 * reach them on their pod IP). A proxy is its pod: its labels and ServiceAccount come from the
 * pod object, even before the pod is Ready.
 */
import type { ProxyConfig } from '../../protocol/proxy-config/index.js';
import { TypeUrl } from '../../protocol/stream/messages.js';
import { proxyConfigFor, type MeshSnapshot, type MeshWorkload, type Translation } from '../translate/index.js';
import type { ConfigGenerator } from '../push/generator.js';
import type { PushSnapshot } from '../push/snapshot.js';
import type { ProxyNode } from '../stream/source.js';
import type { KubernetesRegistry } from './registry.js';
import { telemetryGenerator } from '../generators/telemetry.js';

/** Builds the generators over `registry`. */
export function kubernetesGenerators(registry: KubernetesRegistry): ConfigGenerator[] {
  // One registry view and one translation per (push snapshot, pod shape): replicas share them.
  const bySnapshot = new WeakMap<PushSnapshot, { mesh: MeshSnapshot; perKey: Map<string, Translation> }>();

  const workloadOf = (proxy: ProxyNode, mesh: MeshSnapshot): MeshWorkload => {
    const ready = mesh.workloads.find((w) => w.name === proxy.workload && w.namespace === proxy.namespace);
    if (ready) return ready;
    const pod = registry.pod(proxy.namespace, proxy.workload);
    const labels = { ...(pod?.metadata.labels ?? proxy.labels) };
    return {
      name: proxy.workload,
      namespace: proxy.namespace,
      serviceAccount: pod?.spec?.serviceAccountName || proxy.serviceAccount,
      labels,
      address: pod?.status?.podIP ?? '0.0.0.0',
      // It runs a proxy: it asks for config.
      meshed: true,
    };
  };

  const translate = (proxy: ProxyNode, snap: PushSnapshot): ProxyConfig => {
    let entry = bySnapshot.get(snap);
    if (!entry) {
      entry = { mesh: { ...registry.snapshot(), version: snap.version }, perKey: new Map() };
      bySnapshot.set(snap, entry);
    }
    const workload = workloadOf(proxy, entry.mesh);
    const key = `${workload.namespace}|${workload.serviceAccount}|${Object.keys(workload.labels).sort().map((k) => `${k}=${workload.labels[k]}`).join(',')}`;
    let t = entry.perKey.get(key);
    if (!t) {
      t = proxyConfigFor(entry.mesh, workload, { mode: 'capture' });
      entry.perKey.set(key, t);
    }
    return t.config;
  };

  const make = (typeUrl: string, pick: (c: ProxyConfig) => readonly unknown[] | undefined): ConfigGenerator => ({
    typeUrl,
    // Every registry change is announced as a full change (see kubernetes-daemon.ts): generate anew.
    concerns: () => true,
    generate: (proxy, snap) => [...(pick(translate(proxy, snap)) ?? [])],
  });
  return [make(TypeUrl.clusters, (c) => c.clusters), make(TypeUrl.routes, (c) => c.routes), make(TypeUrl.listeners, (c) => c.listeners), telemetryGenerator()];
}
