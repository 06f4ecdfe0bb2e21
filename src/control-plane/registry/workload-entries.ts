/**
 * Istio WorkloadEntries as the registry's workload records, the same on both platforms: a VM or a
 * process outside the mesh becomes an endpoint of every Service (and ServiceEntry with a
 * workloadSelector) of its namespace whose selector matches its labels, as istiod's
 * serviceentry controller makes it one (pilot/pkg/serviceregistry/serviceentry/conversion.go):
 * ports by name, `weight` into load balancing, and mTLS only where it runs a sidecar.
 */
import type { MeshResource, WorkloadEntry } from '../../config/index.js';
import type { WorkloadRecord } from './model.js';

/** Istio's label saying whether an endpoint runs a sidecar: `istio` (mTLS) or `disabled` (plain text). */
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

/**
 * Whether the entry's workload runs a sidecar, as Istio decides its tlsMode: the
 * `security.istio.io/tlsMode` label when present (`istio`: yes), else yes when it names a
 * serviceAccount (an identity only a sidecar can prove), else no: plain text, as to a pod without one.
 */
export function entryRunsSidecar(spec: WorkloadEntry['spec']): boolean {
  const mode = spec.labels?.[TLS_MODE_LABEL];
  if (mode !== undefined) return mode === 'istio';
  return Boolean(spec.serviceAccount);
}

/**
 * The workload record of a WorkloadEntry; undefined when it has no address the proxies can dial (empty:
 * a placeholder a VM fills when it registers; `unix://`: a socket on another machine).
 */
export function workloadFromEntry(entry: WorkloadEntry): WorkloadRecord | undefined {
  const spec = entry.spec;
  const address = spec.address?.trim();
  if (!address || address.startsWith('unix://')) return undefined;
  const ports = spec.ports && Object.keys(spec.ports).length > 0 ? { namedPorts: { ...spec.ports } } : {};
  return {
    name: entry.metadata.name ?? '',
    namespace: entry.metadata.namespace ?? 'default',
    // Its identity when it runs a sidecar: spiffe://<td>/ns/<ns>/sa/<sa>; `default` as a pod without one.
    serviceAccount: spec.serviceAccount || 'default',
    labels: { ...spec.labels },
    address,
    meshed: entryRunsSidecar(spec),
    capture: false,
    source: 'WorkloadEntry',
    ...ports,
    // 0 is unset in the proto: the default weight, as every other endpoint.
    ...(spec.weight ? { weight: spec.weight } : {}),
  };
}

/** The workload records of every WorkloadEntry among `configs`. */
export function workloadsFromEntries(configs: readonly MeshResource[]): WorkloadRecord[] {
  return configs.flatMap((c) => (c.kind === 'WorkloadEntry' ? (workloadFromEntry(c) ?? []) : []));
}

/**
 * A platform's workloads plus its WorkloadEntries': what the push snapshot's `workloads` holds. An
 * entry whose name a running workload of the namespace already has is left out (the proxy's own
 * record wins: it is the one the proxy gets its config for).
 */
export function withEntryWorkloads(
  workloads: readonly WorkloadRecord[],
  configs: readonly MeshResource[],
): WorkloadRecord[] {
  const entries = workloadsFromEntries(configs);
  if (!entries.length) return [...workloads];
  const taken = new Set(workloads.map((w) => `${w.namespace}/${w.name}`));
  return [...workloads, ...entries.filter((e) => !taken.has(`${e.namespace}/${e.name}`))];
}
