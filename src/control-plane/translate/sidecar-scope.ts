/**
 * Istio's Sidecar egress scoping: which services a proxy sees. The Sidecar that applies to a
 * workload is the first (by name) of its namespace whose workloadSelector matches it, else its
 * namespace's Sidecar without selector, else the root namespace's; with egress hosts
 * (`namespace/host`: `./*`, `*` / `~` namespaces, `*`, `*.suffix` or exact hosts), the proxy's
 * outbound config holds only the services they match, which is what keeps a large mesh's per-proxy
 * config small. A view of the snapshot with those services is built once per (snapshot, Sidecar,
 * namespace), so proxies sharing a Sidecar share its outbound translation and encoding.
 */
import type { Sidecar } from '../../config/index.js';
import { hostMatches, selects, serviceFqdn, type MeshService, type MeshSnapshot, type MeshWorkload } from './model.js';

const sidecarsBySnapshot = new WeakMap<MeshSnapshot, readonly Sidecar[]>();
const views = new WeakMap<MeshSnapshot, Map<string, MeshSnapshot>>();

function sidecars(snapshot: MeshSnapshot): readonly Sidecar[] {
  let list = sidecarsBySnapshot.get(snapshot);
  if (!list) {
    list = snapshot.resources
      .filter((r): r is Sidecar => r.kind === 'Sidecar')
      .sort((a, b) =>
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
      );
    sidecarsBySnapshot.set(snapshot, list);
  }
  return list;
}

/** The Sidecar that applies to `workload`, if any. */
export function sidecarFor(snapshot: MeshSnapshot, workload: MeshWorkload): Sidecar | undefined {
  const all = sidecars(snapshot);
  if (all.length === 0) return undefined;
  const ns = (s: Sidecar): string => s.metadata.namespace ?? 'default';
  const selector = (s: Sidecar): Record<string, string> | undefined => s.spec.workloadSelector?.labels;
  return (
    all.find((s) => ns(s) === workload.namespace && selector(s) && selects(selector(s), workload.labels)) ??
    all.find((s) => ns(s) === workload.namespace && !s.spec.workloadSelector) ??
    all.find((s) => ns(s) === snapshot.rootNamespace && !s.spec.workloadSelector)
  );
}

/** Whether an egress host entry (`namespace/host`), for a proxy in `clientNs`, matches `service`. */
export function egressHostMatches(entry: string, clientNs: string, service: MeshService): boolean {
  const slash = entry.indexOf('/');
  const nsPart = slash < 0 ? '*' : entry.slice(0, slash);
  const host = slash < 0 ? entry : entry.slice(slash + 1);
  if (nsPart === '~') return false;
  // `.` is the Sidecar's namespace, which is the proxy's; for a root-namespace default Istio reads it as the proxy's too.
  const wantNs = nsPart === '.' ? clientNs : nsPart;
  if (wantNs !== '*' && wantNs !== service.namespace) return false;
  return (
    hostMatches(host, serviceFqdn(service)) || host === service.name || host === `${service.name}.${service.namespace}`
  );
}

/** The snapshot as a proxy in `clientNs` under `sidecar` sees it: only the services its egress hosts name. */
export function scopedSnapshot(snapshot: MeshSnapshot, clientNs: string, sidecar: Sidecar | undefined): MeshSnapshot {
  const egress = sidecar?.spec.egress;
  if (!sidecar || !egress?.length) return snapshot;
  const sidecarNs = sidecar.metadata.namespace ?? 'default';
  const key = `${sidecarNs}/${sidecar.metadata.name}|${clientNs}`;
  let byKey = views.get(snapshot);
  if (!byKey) views.set(snapshot, (byKey = new Map()));
  let view = byKey.get(key);
  if (!view) {
    const hosts = egress.flatMap((e) => e.hosts);
    view = {
      ...snapshot,
      services: snapshot.services.filter((s) => hosts.some((h) => egressHostMatches(h, clientNs, s))),
    };
    byKey.set(key, view);
  }
  return view;
}
