/**
 * DestinationRule -> cluster policies: subsets, load balancing, connection pool (circuit breaking),
 * outlier detection and TLS, with Istio's precedence (a rule in the client's namespace, then in the
 * service's, then the root namespace; exact host before wildcard; port-level settings replace the
 * destination-level policy for their port).
 */
import { exportedTo, parseDuration, type DestinationRule, type TrafficPolicy } from '../../config/index.js';
import type { ClusterConfig } from '../../protocol/proxy-config/index.js';
import { hostMatches, resolveHost, type MeshSnapshot } from './model.js';

/** The DestinationRule that governs `fqdn` for a client in `clientNamespace`, if any. */
export function destinationRuleFor(
  snapshot: MeshSnapshot,
  fqdn: string,
  clientNamespace: string,
): DestinationRule | undefined {
  const rules = snapshot.resources.filter((r): r is DestinationRule => r.kind === 'DestinationRule');
  const serviceNamespace = fqdn.split('.')[1];
  const rank = (dr: DestinationRule): number | undefined => {
    const ns = dr.metadata.namespace ?? 'default';
    if (!exportedTo(dr.spec.exportTo, ns, clientNamespace)) return undefined;
    const host = resolveHost(dr.spec.host, ns, snapshot.services);
    if (!hostMatches(host, fqdn)) return undefined;
    const nsRank =
      ns === clientNamespace ? 0 : ns === serviceNamespace ? 1 : ns === snapshot.rootNamespace ? 2 : undefined;
    if (nsRank === undefined) return undefined;
    // Exact hosts beat wildcards; longer wildcards beat shorter ones.
    return nsRank * 1_000 + (host === fqdn ? 0 : 500 - host.length);
  };
  let best: { dr: DestinationRule; r: number } | undefined;
  for (const dr of rules) {
    const r = rank(dr);
    if (r !== undefined && (best === undefined || r < best.r)) best = { dr, r };
  }
  return best?.dr;
}

const ms = (d: string | undefined): string | undefined => {
  if (d === undefined) return undefined;
  const v = parseDuration(d);
  return Number.isFinite(v) ? `${v}ms` : undefined;
};

/** Drops undefined fields, so generated config carries only what was set. */
export function compact<T extends object>(o: T): T {
  return Object.fromEntries(
    Object.entries(o).filter(
      ([, v]) => v !== undefined && !(typeof v === 'object' && v !== null && Object.keys(v).length === 0),
    ),
  ) as T;
}

type Policy = NonNullable<TrafficPolicy>;

/** The policy for one port: a port-level entry replaces the destination-level policy. */
function policyForPort(policy: Policy | undefined, port: number): Policy | undefined {
  const level = policy?.portLevelSettings?.find((s) => s.port?.number === port);
  return level ? (level as Policy) : policy;
}

/** Converts an Istio traffic policy into the cluster fields of the proxy config. */
export function clusterPolicy(
  policy: Policy | undefined,
): Pick<ClusterConfig, 'loadBalancer' | 'connectionPool' | 'outlierDetection' | 'tls'> {
  if (!policy) return {};
  const lb = policy.loadBalancer;
  const pool = policy.connectionPool;
  const od = policy.outlierDetection;
  const out: Pick<ClusterConfig, 'loadBalancer' | 'connectionPool' | 'outlierDetection' | 'tls'> = {};
  if (lb?.simple && lb.simple !== 'UNSPECIFIED') out.loadBalancer = { simple: lb.simple as 'ROUND_ROBIN' };
  else if (lb?.consistentHash) {
    const h = lb.consistentHash;
    out.loadBalancer = {
      consistentHash: compact({
        httpHeaderName: h.httpHeaderName,
        httpCookie: h.httpCookie
          ? compact({ name: h.httpCookie.name, path: h.httpCookie.path, ttl: ms(h.httpCookie.ttl) })
          : undefined,
        useSourceIp: h.useSourceIp,
        httpQueryParameterName: h.httpQueryParameterName,
      }),
    };
  }
  if (pool) {
    // As Istio applies them: a limit of 0 is unset (Envoy's default), never "admit nothing"
    // (maxConnections: 0 was sent as written and NACKed by every proxy).
    const set = (n: number | undefined): number | undefined => (n !== undefined && n > 0 ? n : undefined);
    out.connectionPool = compact({
      tcp: pool.tcp
        ? compact({ maxConnections: set(pool.tcp.maxConnections), connectTimeout: ms(pool.tcp.connectTimeout) })
        : undefined,
      http: pool.http
        ? compact({
            http1MaxPendingRequests: set(pool.http.http1MaxPendingRequests),
            http2MaxRequests: set(pool.http.http2MaxRequests),
            maxRequestsPerConnection: set(pool.http.maxRequestsPerConnection),
            maxRetries: set(pool.http.maxRetries),
            idleTimeout: ms(pool.http.idleTimeout),
          })
        : undefined,
    });
  }
  if (od) {
    out.outlierDetection = compact({
      consecutive5xxErrors: od.consecutive5xxErrors,
      consecutiveGatewayErrors: od.consecutiveGatewayErrors,
      consecutiveErrors: od.consecutiveErrors,
      interval: ms(od.interval),
      baseEjectionTime: ms(od.baseEjectionTime),
      maxEjectionPercent: od.maxEjectionPercent,
      minHealthPercent: od.minHealthPercent,
    });
  }
  if (policy.tls?.mode === 'DISABLE') out.tls = 'disable';
  else if (policy.tls?.mode === 'ISTIO_MUTUAL') out.tls = 'mutual';
  return compact(out);
}

/** A subset as the translation uses it: labels, and its policy (its own, else the rule's). */
export interface ResolvedSubset {
  name: string;
  labels: Record<string, string>;
  policy: ReturnType<typeof clusterPolicy>;
}

/** The policy and subsets the clusters of `fqdn:port` get from their DestinationRule. */
export function destinationPolicy(snapshot: MeshSnapshot, port: number, fqdn: string, clientNamespace: string) {
  const dr = destinationRuleFor(snapshot, fqdn, clientNamespace);
  const base = policyForPort(dr?.spec.trafficPolicy as Policy | undefined, port);
  const subsets: ResolvedSubset[] = (dr?.spec.subsets ?? []).map((s) => ({
    name: s.name,
    labels: s.labels ?? {},
    // Istio: a subset's policy overrides the destination-level one (field by field at the top level).
    policy: clusterPolicy(
      s.trafficPolicy ? ({ ...base, ...policyForPort(s.trafficPolicy as Policy, port) } as Policy) : base,
    ),
  }));
  return { policy: clusterPolicy(base), subsets, rule: dr };
}
