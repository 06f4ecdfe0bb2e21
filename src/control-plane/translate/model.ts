/**
 * What the translation reads: an immutable snapshot of the mesh (services, workloads, validated
 * resources), and who the proxy is. The services and workloads are the registry's records as both
 * platforms fill them (src/control-plane/registry/model.ts); the push snapshot is one. The
 * translation never looks anywhere else, which keeps it pure and testable offline.
 */
import type { MeshResource } from '../../config/index.js';
import {
  serves,
  type PortProtocol,
  type ServicePortRecord,
  type ServiceRecord,
  type WorkloadRecord,
} from '../registry/model.js';

export { peerPortOn, serves, targetPortOn, type PortProtocol } from '../registry/model.js';

/** A port of a service. */
export type ServicePort = ServicePortRecord;

/** A service known to the mesh. */
export type MeshService = ServiceRecord;

/** A workload instance (a pod, or a `meshctl run` process). */
export type MeshWorkload = WorkloadRecord;

/** Everything the translation needs, as one immutable value (the push snapshot). */
export interface MeshSnapshot {
  readonly version: string;
  readonly trustDomain: string;
  /** Namespace whose namespace-wide policies apply mesh-wide (Istio's root namespace). */
  readonly rootNamespace: string;
  readonly services: readonly MeshService[];
  readonly workloads: readonly MeshWorkload[];
  readonly resources: readonly MeshResource[];
  /** JSON Web Key Sets the control plane fetched, by jwksUri (RequestAuthentication keys pushed inline) */
  readonly jwks?: ReadonlyMap<string, string>;
  /** Linkerd's install-wide default inbound policy; a workload's (pod or namespace annotation) wins */
  readonly defaultInboundPolicy?: string | undefined;
}

/** The protocol of a service port; absent: detected. */
export function protocolOf(p: ServicePort): PortProtocol {
  return p.protocol ?? 'auto';
}

/** How the proxy receives traffic. */
export interface ProxyTraffic {
  /** capture: iptables redirects to 15001/15006; explicit: HTTP_PROXY listener and per-port inbound listeners. */
  mode: 'capture' | 'explicit';
  /** explicit: the HTTP_PROXY port on 127.0.0.1. */
  outboundPort?: number;
}

/** The cluster-name scheme, as Istio's: `outbound|<port>||<fqdn>` and `inbound|<port>||`. */
export const clusterName = {
  outbound: (port: number, fqdn: string) => `outbound|${port}||${fqdn}`,
  inbound: (port: number) => `inbound|${port}||`,
};

/** `reviews.default.svc.cluster.local` */
export function serviceFqdn(s: { name: string; namespace: string }, domain = 'cluster.local'): string {
  return `${s.name}.${s.namespace}.svc.${domain}`;
}

/** The SPIFFE identity of a workload. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

/** Whether `labels` carry every key/value of `selector` (an empty selector matches everything). */
export function selects(
  selector: Readonly<Record<string, string>> | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (!selector) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/**
 * Resolves a host as written in a resource of `namespace` to the FQDN of a known service:
 * `reviews` -> `reviews.<namespace>.svc.cluster.local`, `reviews.prod` -> `reviews.prod.svc.cluster.local`.
 * Unknown hosts (ServiceEntry, external) come back unchanged.
 */
export function resolveHost(host: string, namespace: string, services: readonly MeshService[]): string {
  const parts = host.split('.');
  const candidates =
    parts.length === 1
      ? [{ name: host, namespace }]
      : parts.length === 2 || (parts.length === 3 && parts[2] === 'svc')
        ? [{ name: parts[0]!, namespace: parts[1]! }]
        : [];
  for (const c of candidates) {
    const s = services.find((x) => x.name === c.name && x.namespace === c.namespace);
    if (s) return serviceFqdn(s);
  }
  return host;
}

/** Matches a host against an Istio host pattern (`*.local`, `*`, or exact). */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

/** The first service (in snapshot order) that has `workload` as an endpoint. */
export function servesAny(services: readonly MeshService[], workload: MeshWorkload): MeshService | undefined {
  return services.find((s) => serves(s, workload));
}
