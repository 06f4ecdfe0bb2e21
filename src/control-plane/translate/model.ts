/**
 * What the translation reads: an immutable snapshot of the mesh (services, workloads, validated
 * resources), and who the proxy is. The registry builds it (from Kubernetes informers or the local
 * store); the translation never looks anywhere else, which keeps it pure and testable offline.
 */
import type { MeshResource } from '../../config/index.js';

/** Application protocol of a service port, from its name or appProtocol (Istio's naming rules). */
export type PortProtocol = 'http' | 'http2' | 'grpc' | 'tcp' | 'auto';

/** A port of a service. */
export interface ServicePort {
  name?: string;
  port: number;
  targetPort: number;
  protocol: PortProtocol;
}

/** A service known to the mesh. */
export interface MeshService {
  name: string;
  namespace: string;
  /** Virtual IPs (ClusterIP): capture-mode traffic is matched by them. */
  addresses: string[];
  ports: ServicePort[];
  /** Pod selector; undefined for a service without selector. */
  selector?: Record<string, string>;
}

/** A workload instance (a pod, or a `meshctl run` process). */
export interface MeshWorkload {
  name: string;
  namespace: string;
  serviceAccount: string;
  labels: Record<string, string>;
  /** The address peers connect to. */
  address: string;
  /** Whether it runs a sidecar (and so speaks mTLS). */
  meshed: boolean;
  /**
   * Where peers reach each app port. With traffic capture this is the app port itself (the peer's
   * 15006 intercepts it); on the local platform without capture, the sidecar's inbound listener.
   */
  inboundPorts?: Record<number, number>;
  /** false: not (yet, or no longer) an endpoint of the services that select it (not ready, or withdrawing). */
  serving?: boolean;
}

/** Everything the translation needs, as one immutable value. */
export interface MeshSnapshot {
  version: string;
  trustDomain: string;
  /** Namespace whose namespace-wide policies apply mesh-wide (Istio's root namespace). */
  rootNamespace: string;
  services: readonly MeshService[];
  workloads: readonly MeshWorkload[];
  resources: readonly MeshResource[];
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
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
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
    parts.length === 1 ? [{ name: host, namespace }]
    : parts.length === 2 || (parts.length === 3 && parts[2] === 'svc') ? [{ name: parts[0]!, namespace: parts[1]! }]
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
