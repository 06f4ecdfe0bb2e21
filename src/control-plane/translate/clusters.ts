/**
 * Outbound clusters: one per service port (`outbound|9080||reviews.default.svc.cluster.local`) and
 * one per DestinationRule subset (`outbound|9080|v2|...`), with endpoints from the workloads the
 * service selects (pods, `meshctl run` workloads, WorkloadEntries). Endpoints that run a sidecar
 * get mTLS with their expected SPIFFE identity (auto mTLS), unless a DestinationRule disables TLS;
 * a WorkloadEntry's `weight` is its endpoint's load-balancing weight.
 */
import type { ClusterConfig, EndpointConfig } from '../../protocol/proxy-config/index.js';
import { destinationPolicy } from './destination-rules.js';
import {
  clusterName,
  peerPortOn,
  protocolOf,
  serves,
  serviceFqdn,
  spiffeId,
  type MeshService,
  type MeshSnapshot,
  type MeshWorkload,
  type ServicePort,
} from './model.js';

/** Istio's subset cluster name. */
export function subsetClusterName(port: number, subset: string, fqdn: string): string {
  return `outbound|${port}|${subset}|${fqdn}`;
}

function upstreamProtocol(p: ServicePort): ClusterConfig['protocol'] {
  const protocol = protocolOf(p);
  return protocol === 'http2' || protocol === 'grpc' ? 'http2' : protocol === 'http' ? 'http1' : 'auto';
}

/**
 * The workloads that may be endpoints of a service: those of its namespace carrying its selector's
 * first key/value (or the whole namespace for an empty selector), and its members by name. Built once
 * per outboundClusters() call, so finding the endpoints of S services among W workloads costs about
 * S + W instead of S x W.
 */
class WorkloadIndex {
  private readonly byLabel = new Map<string, MeshWorkload[]>();
  private readonly byNamespace = new Map<string, MeshWorkload[]>();
  private readonly byMembership = new Map<string, MeshWorkload[]>();

  constructor(private readonly all: readonly MeshWorkload[]) {
    const workloads = all;
    const add = (map: Map<string, MeshWorkload[]>, key: string, w: MeshWorkload): void => {
      const list = map.get(key);
      if (list) list.push(w);
      else map.set(key, [w]);
    };
    for (const w of workloads) {
      add(this.byNamespace, w.namespace, w);
      for (const [k, v] of Object.entries(w.labels)) add(this.byLabel, `${w.namespace}\0${k}\0${v}`, w);
      for (const name of w.services ?? []) add(this.byMembership, `${w.namespace}\0${name}`, w);
    }
  }

  /** A superset of the workloads `service` selects, in snapshot order. */
  candidates(service: MeshService): readonly MeshWorkload[] {
    const members = this.byMembership.get(`${service.namespace}\0${service.name}`) ?? [];
    if (!service.selector) return members;
    const first = Object.entries(service.selector)[0];
    const selected = first
      ? (this.byLabel.get(`${service.namespace}\0${first[0]}\0${first[1]}`) ?? [])
      : (this.byNamespace.get(service.namespace) ?? []);
    if (!members.length) return selected;
    const set = new Set([...selected, ...members]);
    return this.all.filter((w) => set.has(w));
  }
}

/** The endpoints of a service port: the workloads it selects, at the port peers reach them on. */
export function endpointsOf(
  snapshot: MeshSnapshot,
  service: MeshService,
  port: ServicePort,
  candidates: readonly MeshWorkload[] = snapshot.workloads,
): EndpointConfig[] {
  const out: EndpointConfig[] = [];
  for (const w of candidates) {
    if (w.serving === false || !serves(service, w)) continue;
    // A WorkloadEntry without the port a named targetPort asks for is no endpoint of it (Istio's rule).
    const at = peerPortOn(port, w);
    if (at === undefined) continue;
    out.push({
      address: w.address,
      port: at,
      labels: { ...w.labels, 'meshctl.dev/workload': w.name, 'meshctl.dev/namespace': w.namespace },
      ...(w.weight !== undefined ? { weight: w.weight } : {}),
      ...(w.meshed !== false
        ? { identity: spiffeId(snapshot.trustDomain, w.namespace, w.serviceAccount), tls: 'mutual' as const }
        : { tls: 'disable' as const }),
    });
  }
  return out;
}

/**
 * A DestinationRule's `tls.mode` overrides auto mTLS for every endpoint: DISABLE turns it off,
 * ISTIO_MUTUAL turns it on, also towards endpoints without a known sidecar (a WorkloadEntry whose
 * workload runs one without saying so), as Istio's explicit mode does.
 */
function withTls(endpoints: EndpointConfig[], tls: ClusterConfig['tls']): EndpointConfig[] {
  if (tls === 'disable' || tls === 'mutual') return endpoints.map((e) => ({ ...e, tls }));
  return endpoints;
}

/** Every outbound cluster a proxy in `clientNamespace` needs. */
export function outboundClusters(snapshot: MeshSnapshot, clientNamespace: string): ClusterConfig[] {
  const out: ClusterConfig[] = [];
  const index = new WorkloadIndex(snapshot.workloads);
  for (const service of snapshot.services) {
    const fqdn = serviceFqdn(service);
    for (const port of service.ports) {
      const endpoints = endpointsOf(snapshot, service, port, index.candidates(service));
      const { policy, subsets } = destinationPolicy(snapshot, port.port, fqdn, clientNamespace);
      const base: ClusterConfig = {
        name: clusterName.outbound(port.port, fqdn),
        type: 'static',
        protocol: upstreamProtocol(port),
        service: fqdn,
        endpoints: withTls(endpoints, policy.tls),
        ...policy,
      };
      out.push(base);
      for (const s of subsets) {
        out.push({
          ...base,
          name: subsetClusterName(port.port, s.name, fqdn),
          endpoints: withTls(
            endpoints.filter((e) => Object.entries(s.labels).every(([k, v]) => e.labels?.[k] === v)),
            s.policy.tls,
          ),
          loadBalancer: undefined,
          connectionPool: undefined,
          outlierDetection: undefined,
          ...s.policy,
        });
      }
    }
  }
  // JSON has no undefined: drop the fields a subset cleared.
  return out.map((c) => JSON.parse(JSON.stringify(passthrough(c))) as ClusterConfig);
}

/**
 * A DestinationRule's `loadBalancer.simple: PASSTHROUGH` means what Envoy's ORIGINAL_DST does: no
 * balancing over known endpoints; the connection goes where the client sent it (the address it
 * dialled, or the host of its proxy request). The endpoint is unknown in advance, so is its
 * identity: the connection is plaintext, as Istio's ORIGINAL_DST cluster without a TLS setting.
 */
function passthrough(c: ClusterConfig): ClusterConfig {
  if (c.loadBalancer?.simple !== 'PASSTHROUGH') return c;
  return { ...c, type: 'originalDst', endpoints: undefined, tls: 'disable' };
}
