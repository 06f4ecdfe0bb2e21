/**
 * ServiceEntry -> outbound clusters and virtual hosts, as istiod builds them: one cluster per host
 * and port (`outbound|443||api.external.com`), endpoints by resolution (STATIC: the listed
 * addresses; DNS / DNS_ROUND_ROBIN: the listed names or the host itself, resolved by the proxy
 * with the record's TTL; NONE: wherever the request was going), a virtual host per host and port
 * routed by a VirtualService for that host when there is one, and DestinationRule TLS origination
 * (SIMPLE/MUTUAL) towards the host. Also the catch-all of outboundTrafficPolicy: ALLOW_ANY passes
 * unknown destinations through, REGISTRY_ONLY answers 502 with flag NR (Envoy's BlackHoleCluster).
 */
import type { DestinationRule, ServiceEntry } from '../../config/index.js';
import type {
  ClusterConfig,
  EndpointConfig,
  FilterChainConfig,
  RouteConfigConfig,
  RouteSpec,
  UpstreamTlsConfig,
  VirtualHostConfig,
} from '../../protocol/proxy-config/index.js';
import { l4RouteChains } from './l4-routes.js';
import { credentialFor } from './credentials.js';
import { destinationPolicy } from './destination-rules.js';
import { clusterName, selects, spiffeId, type MeshSnapshot } from './model.js';
import { convertHttpRoute, virtualServiceFor, type TranslationNote } from './routes.js';

/** The cluster that refuses (REGISTRY_ONLY), as Envoy's. */
export const BLACKHOLE = 'BlackHoleCluster';

/** What ServiceEntries add to a proxy's outbound config. */
export interface ExternalOutbound {
  readonly clusters: ClusterConfig[];
  /** virtual hosts for the HTTP_PROXY route table (and the capture tables by port) */
  readonly virtualHosts: { port: number; vhost: VirtualHostConfig }[];
  /**
   * capture mode: chains for the entries' `addresses` (VIPs, CIDRs), matched by the original
   * destination, and the route configs their HTTP chains use (the entry's routes, any Host).
   */
  readonly addressChains: FilterChainConfig[];
  readonly addressRoutes: RouteConfigConfig[];
  readonly notes: TranslationNote[];
}

/** Whether a ServiceEntry of namespace `ns` is visible to a client in `clientNs` (exportTo). */
export function exportedTo(exportTo: readonly string[] | undefined, ns: string, clientNs: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || (e === '.' ? ns === clientNs : e === clientNs));
}

/** The cluster protocol for a port; a port without a protocol is sniffed, as Istio does. */
function upstreamProtocol(protocol: string | undefined): ClusterConfig['protocol'] {
  const p = (protocol ?? '').toUpperCase();
  return p === 'HTTP2' || p === 'GRPC' ? 'http2' : p === 'HTTP' ? 'http1' : 'auto';
}

/** Whether the port carries HTTP the proxy can route (else it is opaque: TLS, TCP, HTTPS). */
export function isHttpPort(protocol: string | undefined): boolean {
  const p = (protocol ?? '').toUpperCase();
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-WEB' || p === '';
}

/**
 * DestinationRule `tls` SIMPLE/MUTUAL as the proxy's upstreamTls: credentialName from a Secret of
 * the rule's namespace, else the file paths as written (read by the proxy).
 */
export function upstreamTlsOf(
  snapshot: MeshSnapshot,
  dr: DestinationRule | undefined,
  port: number,
  notes: TranslationNote[],
): UpstreamTlsConfig | undefined {
  if (!dr) return undefined;
  const level = dr.spec.trafficPolicy?.portLevelSettings?.find((s) => s.port?.number === port);
  const tls = level?.tls ?? dr.spec.trafficPolicy?.tls;
  if (!tls || (tls.mode !== 'SIMPLE' && tls.mode !== 'MUTUAL')) return undefined;
  const ns = dr.metadata.namespace ?? 'default';
  const where = `DestinationRule ${dr.metadata.name}.${ns}`;
  const out: UpstreamTlsConfig = {};
  if (tls.credentialName) {
    const cred = credentialFor(snapshot, ns, tls.credentialName);
    if (!cred)
      notes.push({
        resource: where,
        message: `tls.credentialName ${tls.credentialName}: no Secret ${ns}/${tls.credentialName}; TLS uses the system roots and no client certificate`,
      });
    if (cred?.caCertificates) out.caCertificates = cred.caCertificates;
    if (tls.mode === 'MUTUAL' && cred?.certChain && cred.privateKey) {
      out.certChain = cred.certChain;
      out.privateKey = cred.privateKey;
    }
  } else {
    if (tls.caCertificates) out.caCertificates = tls.caCertificates;
    if (tls.mode === 'MUTUAL' && tls.clientCertificate && tls.privateKey) {
      out.certChain = tls.clientCertificate;
      out.privateKey = tls.privateKey;
    }
  }
  if (tls.mode === 'MUTUAL' && !out.certChain)
    notes.push({
      resource: where,
      message: 'tls.mode MUTUAL without a client certificate: set clientCertificate and privateKey, or credentialName',
    });
  if (tls.sni) out.sni = tls.sni;
  if (tls.subjectAltNames?.length) out.subjectAltNames = [...tls.subjectAltNames];
  if (tls.insecureSkipVerify) out.insecureSkipVerify = true;
  return out;
}

/**
 * How the proxy resolves the entry's names: DNS as Envoy's STRICT_DNS (every address), DNS_ROUND_ROBIN
 * as LOGICAL_DNS (the first address of each answer), both re-resolved when the record's TTL runs out.
 */
function dnsOf(se: ServiceEntry): Pick<ClusterConfig, 'dnsResolution'> {
  if (se.spec.workloadSelector) return {};
  if (se.spec.resolution === 'DNS') return { dnsResolution: 'strict' };
  if (se.spec.resolution === 'DNS_ROUND_ROBIN') return { dnsResolution: 'logical' };
  return {};
}

/** Endpoints of one host and port of a ServiceEntry. */
function endpointsOf(
  snapshot: MeshSnapshot,
  se: ServiceEntry,
  host: string,
  port: { number: number; name?: string; targetPort?: number },
): EndpointConfig[] | 'originalDst' {
  const spec = se.spec;
  const ns = se.metadata.namespace ?? 'default';
  const internal = spec.location === 'MESH_INTERNAL';
  const target = (ports: Readonly<Record<string, number>> | undefined): number =>
    (port.name && ports?.[port.name]) || port.targetPort || port.number;
  if (spec.workloadSelector) {
    return (
      snapshot.workloads
        // A workload that is not serving (not ready yet, or terminating) is no endpoint, as for a Service.
        .filter(
          (w) => w.serving !== false && w.namespace === ns && selects(spec.workloadSelector!.labels ?? {}, w.labels),
        )
        .map((w) => ({
          address: w.address,
          // A WorkloadEntry's port named as the entry's port, else targetPort, else the port (Istio's order).
          port: w.proxyPort ?? target(w.namedPorts),
          labels: { ...w.labels },
          ...(w.weight !== undefined ? { weight: w.weight } : {}),
          ...(w.meshed !== false
            ? { identity: spiffeId(snapshot.trustDomain, w.namespace, w.serviceAccount), tls: 'mutual' as const }
            : { tls: 'disable' as const }),
        }))
    );
  }
  const resolution = spec.resolution ?? 'NONE';
  if (resolution === 'NONE') return 'originalDst';
  const listed = (spec.endpoints ?? []).filter((e) => e.address && !e.address.startsWith('unix://'));
  if (listed.length) {
    return listed.map((e) => ({
      address: e.address!,
      port: target(e.ports),
      ...(e.labels ? { labels: { ...e.labels } } : {}),
      ...(e.weight ? { weight: e.weight } : {}),
      ...(internal && e.serviceAccount
        ? { identity: spiffeId(snapshot.trustDomain, ns, e.serviceAccount), tls: 'mutual' as const }
        : { tls: 'disable' as const }),
    }));
  }
  // DNS without endpoints: the host itself (a wildcard cannot be resolved).
  if (resolution === 'STATIC' || host.startsWith('*')) return [];
  return [{ address: host, port: target(undefined), tls: 'disable' }];
}

/** The ServiceEntries a client in `clientNs` sees, in a stable order. */
export function visibleServiceEntries(snapshot: MeshSnapshot, clientNs: string): ServiceEntry[] {
  return snapshot.resources
    .filter((r): r is ServiceEntry => r.kind === 'ServiceEntry')
    .filter((se) => exportedTo(se.spec.exportTo, se.metadata.namespace ?? 'default', clientNs))
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
    );
}

/** Clusters and virtual hosts of every ServiceEntry visible to `clientNs`. */
export function serviceEntryOutbound(snapshot: MeshSnapshot, clientNs: string): ExternalOutbound {
  const clusters: ClusterConfig[] = [];
  const virtualHosts: { port: number; vhost: VirtualHostConfig }[] = [];
  const addressChains: FilterChainConfig[] = [];
  const addressRoutes: RouteConfigConfig[] = [];
  const notes: TranslationNote[] = [];
  const seen = new Set<string>();
  for (const se of visibleServiceEntries(snapshot, clientNs)) {
    const ns = se.metadata.namespace ?? 'default';
    const ports = se.spec.ports?.length ? se.spec.ports : [];
    if (!ports.length)
      notes.push({
        resource: `ServiceEntry ${se.metadata.name}.${ns}`,
        message: 'no ports: the entry routes nothing; add spec.ports',
      });
    for (const host of se.spec.hosts) {
      for (const port of ports) {
        const name = clusterName.outbound(port.number, host);
        if (seen.has(name)) continue;
        seen.add(name);
        const eps = endpointsOf(snapshot, se, host, port);
        const { policy, subsets, rule } = destinationPolicy(snapshot, port.number, host, clientNs);
        const upstreamTls = upstreamTlsOf(snapshot, rule, port.number, notes);
        const base: ClusterConfig = {
          name,
          ...(eps === 'originalDst' ? { type: 'originalDst' as const } : { type: 'static' as const, endpoints: eps }),
          protocol: upstreamTls ? 'http1' : upstreamProtocol(port.protocol),
          service: host,
          ...policy,
          ...(se.spec.location === 'MESH_INTERNAL' && eps !== 'originalDst' ? {} : { tls: 'disable' as const }),
          ...(upstreamTls ? { upstreamTls } : {}),
          ...dnsOf(se),
        };
        clusters.push(base);
        for (const s of subsets) {
          clusters.push({
            ...base,
            name: `outbound|${port.number}|${s.name}|${host}`,
            ...(base.endpoints
              ? {
                  endpoints: base.endpoints.filter((e) =>
                    Object.entries(s.labels).every(([k, v]) => e.labels?.[k] === v),
                  ),
                }
              : {}),
            ...s.policy,
          });
        }
        const routes = routesOf(snapshot, host, port.number, name, clientNs, notes);
        // Single addresses are authorities too: an HTTP_PROXY client calling http://<address>/ or
        // CONNECT <address>:<port> reaches the entry, as a captured connection to it does.
        const singles = (se.spec.addresses ?? [])
          .map(singleAddress)
          .filter((a): a is string => a !== undefined)
          .map((a) => (a.includes(':') ? `[${a}]` : a));
        virtualHosts.push({
          port: port.number,
          vhost: {
            name: `${host}:${port.number}`,
            domains: [...domainsOf(host, port.number), ...singles.flatMap((a) => domainsOf(a, port.number))],
            routes,
          },
        });
        if (se.spec.addresses?.length) {
          const base = { destinationSubnets: [...se.spec.addresses], destinationPort: port.number };
          const chainName = `${host}:${port.number}|addresses`;
          if (isHttpPort(port.protocol) && port.protocol !== undefined) {
            addressRoutes.push({
              name: chainName,
              virtualHosts: [{ name: `${host}:${port.number}`, domains: ['*'], routes }],
            });
            addressChains.push({
              name: chainName,
              match: base,
              protocol: 'auto',
              routeConfig: chainName,
              tcpCluster: name,
            });
          } else {
            // Opaque (or undeclared: sniffed HTTP still goes to the entry): the host's tls and tcp routes, then the entry.
            const vs = virtualServiceFor(snapshot, host, clientNs);
            if (vs)
              for (const kind of ['tls', 'tcp'] as const)
                addressChains.push(
                  ...l4RouteChains(
                    snapshot,
                    vs,
                    { context: 'mesh', port: port.number, clientNamespace: clientNs, base, kind },
                    chainName,
                  ),
                );
            addressChains.push({ name: chainName, match: base, protocol: 'tcp', tcpCluster: name });
          }
        } else if (['HTTPS', 'TLS'].includes((port.protocol ?? '').toUpperCase()) && !host.startsWith('*')) {
          // No addresses: a captured TLS connection to the port is the entry's when its SNI names the host (Istio's
          // per-port listener with a server-name filter chain), so REGISTRY_ONLY lets it through and it is counted.
          addressChains.push({
            name: `${host}:${port.number}|sni`,
            match: { destinationPort: port.number, serverNames: [host] },
            protocol: 'tcp',
            tcpCluster: name,
          });
        }
      }
    }
  }
  return {
    clusters: clusters.map((c) => JSON.parse(JSON.stringify(c)) as ClusterConfig),
    virtualHosts,
    addressChains,
    addressRoutes,
    notes,
  };
}

/** The address of a one-address entry (`198.18.0.1`, `198.18.0.1/32`, `2001:db8::1/128`), else undefined (a wider CIDR). */
function singleAddress(a: string): string | undefined {
  const [addr, bits] = a.split('/');
  if (!addr) return undefined;
  if (bits === undefined) return addr;
  return (addr.includes(':') ? bits === '128' : bits === '32') ? addr : undefined;
}

function domainsOf(host: string, port: number): string[] {
  // A bare host is port 80 (the route table falls back from `host:port` to `host`).
  return port === 80 ? [host, `${host}:${port}`] : [`${host}:${port}`];
}

function routesOf(
  snapshot: MeshSnapshot,
  host: string,
  port: number,
  cluster: string,
  clientNs: string,
  notes: TranslationNote[],
): RouteSpec[] {
  const vs = virtualServiceFor(snapshot, host, clientNs);
  if (vs?.spec.http?.length) {
    const routes = vs.spec.http
      .map((r) => convertHttpRoute(snapshot, vs, r, port, clientNs, notes))
      .filter((r): r is RouteSpec => r !== undefined);
    if (routes.length) return routes;
  }
  return [{ name: 'default', route: [{ cluster, weight: 100 }] }];
}

/** The catch-all virtual host of the HTTP_PROXY table for the outbound traffic policy. */
export function catchAllVirtualHost(policy: 'ALLOW_ANY' | 'REGISTRY_ONLY', passthrough: string): VirtualHostConfig {
  return policy === 'ALLOW_ANY'
    ? {
        name: 'allow_any',
        domains: ['*'],
        routes: [{ name: 'allow_any', route: [{ cluster: passthrough, weight: 100 }] }],
      }
    : {
        name: 'block_all',
        domains: ['*'],
        routes: [
          {
            name: 'block_all',
            directResponse: {
              status: 502,
              body: 'destination not in the mesh registry (outboundTrafficPolicy REGISTRY_ONLY)\n',
              flag: 'NR',
            },
          },
        ],
      };
}
