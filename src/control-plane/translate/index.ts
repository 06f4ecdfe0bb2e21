/**
 * Mesh resources -> the config of one proxy. Pure: a snapshot and a proxy in, a ProxyConfig (and
 * notes on what could not be expressed) out. The push pipeline calls this per connected proxy.
 */
import {
  PROXY_CONFIG_API_VERSION,
  type ClusterConfig,
  type FilterChainConfig,
  type ListenerConfig,
  type ProxyConfig,
  type RouteConfigConfig,
  type VirtualHostConfig,
} from '../../protocol/proxy-config/index.js';
import { ProxyPorts } from '../../protocol/well-known.js';
import { outboundClusters } from './clusters.js';
import { directAddressing } from './direct-addressing.js';
import { explicitOutboundPorts } from './outbound-ports.js';
import {
  clusterName,
  protocolOf,
  serviceFqdn,
  targetPortOn,
  type MeshService,
  type MeshSnapshot,
  type MeshWorkload,
  type ProxyTraffic,
  type ServicePort,
} from './model.js';
import { inboundTlsMode } from './peer-authentication.js';
import { servicesSelecting } from './selecting.js';
import type { ProxyConfigParts, SharedOutbound } from './parts.js';
import { workloadAuthz } from './authorization.js';
import { routesFor, virtualServiceFor, type TranslationNote } from './routes.js';
import { gatewayApiRoutes } from './gateway-api.js';
import { l4RouteChains, missingChainClusters } from './l4-routes.js';
import { scopedSnapshot, sidecarFor } from './sidecar-scope.js';
import { BLACKHOLE, catchAllVirtualHost, serviceEntryOutbound } from './service-entry.js';
import { gatewayConfig } from './gateway.js';
import { limitGatewayListeners, rateLimitsFor } from './linkerd-rate-limit.js';
import { serverProtocols } from './linkerd-authorization.js';

export * from './model.js';
export { servicesSelecting } from './selecting.js';
export type { ProxyConfigParts, SharedOutbound } from './parts.js';
export { inboundTlsMode } from './peer-authentication.js';
export type { TranslationNote } from './routes.js';

/** The generated config and what could not be expressed in it. */
export interface Translation {
  config: ProxyConfig;
  notes: TranslationNote[];
}

const PASSTHROUGH = 'PassthroughCluster';
const INBOUND_PASSTHROUGH = 'InboundPassthroughCluster';

/** The listener chain protocol of a service port. */
export function chainProtocol(p: ServicePort): FilterChainConfig['protocol'] {
  const protocol = protocolOf(p);
  return protocol === 'tcp'
    ? 'tcp'
    : protocol === 'http'
      ? 'http1'
      : protocol === 'http2' || protocol === 'grpc'
        ? 'http2'
        : 'auto';
}

/** Authorities a client may use for a service port. */
function domainsOf(service: MeshService, port: number, clientNamespace: string, withBare: boolean): string[] {
  const fqdn = serviceFqdn(service);
  const names = [
    fqdn,
    `${service.name}.${service.namespace}.svc`,
    `${service.name}.${service.namespace}`,
    ...(service.addresses ?? []),
  ];
  if (service.namespace === clientNamespace) names.unshift(service.name);
  return [...(withBare ? names : []), ...names.map((n) => `${n}:${port}`)];
}

/** The part of a config every proxy of a namespace shares: outbound clusters, routes and chains. */
interface Outbound {
  readonly clusters: readonly ClusterConfig[];
  /** capture mode: one route config per port. */
  readonly captureRoutes: readonly RouteConfigConfig[];
  /** explicit mode: the HTTP_PROXY listener's route config. */
  readonly explicitRoute: RouteConfigConfig;
  readonly chains: readonly FilterChainConfig[];
  readonly notes: readonly TranslationNote[];
}

/**
 * Outbound config depends only on the snapshot and the client's namespace, so it is computed once
 * per (snapshot, namespace) and its objects are shared by every proxy of that namespace: the push
 * of 1000 services to 2000 proxies translates (and the stream encodes) the outbound part once.
 * Snapshots are immutable, so the memo is keyed by the snapshot object and dies with it.
 */
const outboundMemo = new WeakMap<MeshSnapshot, Map<string, Outbound>>();

function outboundFor(snapshot: MeshSnapshot, ns: string): Outbound {
  let byNamespace = outboundMemo.get(snapshot);
  if (!byNamespace) outboundMemo.set(snapshot, (byNamespace = new Map()));
  let out = byNamespace.get(ns);
  if (!out) byNamespace.set(ns, (out = computeOutbound(snapshot, ns)));
  return out;
}

function computeOutbound(snapshot: MeshSnapshot, ns: string): Outbound {
  const notes: TranslationNote[] = [];
  const clusters = outboundClusters(snapshot, ns);
  // One virtual host per service port.
  const byPort = new Map<number, VirtualHostConfig[]>();
  const allHosts: VirtualHostConfig[] = [];
  const outboundChains: FilterChainConfig[] = [];
  for (const service of snapshot.services) {
    for (const port of service.ports) {
      const fqdn = serviceFqdn(service);
      if (protocolOf(port) === 'tcp') {
        // Opaque ports: the VirtualService's tls (by SNI) then tcp routes for this VIP, then the service itself.
        const vs = virtualServiceFor(snapshot, fqdn, ns);
        for (const vip of service.addresses ?? []) {
          const name = `${fqdn}:${port.port}`;
          const base = { destinationAddress: vip, destinationPort: port.port };
          if (vs)
            for (const kind of ['tls', 'tcp'] as const)
              outboundChains.push(
                ...l4RouteChains(
                  snapshot,
                  vs,
                  { context: 'mesh', port: port.port, clientNamespace: ns, base, kind },
                  name,
                ),
              );
          outboundChains.push({
            name,
            match: base,
            protocol: 'tcp',
            tcpCluster: clusterName.outbound(port.port, fqdn),
          });
        }
        continue;
      }
      // Gateway API mesh routes attached to this port take it unless a VirtualService comes first (Istio's order).
      const vhostRoutes =
        gatewayApiRoutes(snapshot, service, port, ns, () => virtualServiceFor(snapshot, fqdn, ns), notes) ??
        routesFor(snapshot, service, port, ns, notes);
      const capture = {
        name: `${fqdn}:${port.port}`,
        domains: domainsOf(service, port.port, ns, true),
        routes: vhostRoutes,
      };
      (byPort.get(port.port) ?? byPort.set(port.port, []).get(port.port)!).push(capture);
      allHosts.push({ ...capture, domains: domainsOf(service, port.port, ns, port.port === 80) });
      // A port whose protocol is detected: HTTP by the routes, other bytes by the VirtualService's tls/tcp
      // routes, else to the service (as Istio treats sniffed non-HTTP traffic).
      const sniffed = chainProtocol(port) === 'auto';
      const vs = sniffed ? virtualServiceFor(snapshot, fqdn, ns) : undefined;
      for (const vip of service.addresses ?? []) {
        const name = `${fqdn}:${port.port}`;
        const base = { destinationAddress: vip, destinationPort: port.port };
        if (vs)
          for (const kind of ['tls', 'tcp'] as const)
            for (const c of l4RouteChains(
              snapshot,
              vs,
              { context: 'mesh', port: port.port, clientNamespace: ns, base, kind },
              name,
            ))
              outboundChains.push({ ...c, protocol: 'auto', routeConfig: String(port.port) });
        outboundChains.push({
          name,
          match: base,
          protocol: chainProtocol(port),
          routeConfig: String(port.port),
          ...(sniffed ? { tcpCluster: clusterName.outbound(port.port, fqdn) } : {}),
        });
      }
    }
  }
  const external = serviceEntryOutbound(snapshot, ns);
  notes.push(...external.notes);
  for (const { port, vhost } of external.virtualHosts) {
    allHosts.push(vhost);
    (byPort.get(port) ?? byPort.set(port, []).get(port)!).push(vhost);
  }
  return {
    clusters: [...clusters, ...external.clusters],
    captureRoutes: [
      ...[...byPort].sort((a, b) => a[0] - b[0]).map(([port, virtualHosts]) => ({ name: String(port), virtualHosts })),
      ...external.addressRoutes,
    ],
    explicitRoute: { name: 'outbound', virtualHosts: allHosts },
    chains: [...outboundChains, ...external.addressChains],
    notes,
  };
}

const sharedMemo = new WeakMap<Outbound, Map<string, SharedOutbound>>();

/** How a proxy treats destinations outside the registry: its Sidecar's outboundTrafficPolicy (a root-namespace Sidecar is the mesh default). */
export type OutboundPolicy = 'ALLOW_ANY' | 'REGISTRY_ONLY';

function sharedFor(
  snapshot: MeshSnapshot,
  ns: string,
  mode: ProxyTraffic['mode'],
  policy: OutboundPolicy,
): SharedOutbound {
  const outbound = outboundFor(snapshot, ns);
  let byMode = sharedMemo.get(outbound);
  if (!byMode) sharedMemo.set(outbound, (byMode = new Map()));
  let shared = byMode.get(`${mode}|${policy}`);
  if (shared) return shared;
  const unknown = policy === 'REGISTRY_ONLY' ? BLACKHOLE : PASSTHROUGH;
  const routes =
    mode === 'capture'
      ? outbound.captureRoutes
      : [
          {
            ...outbound.explicitRoute,
            virtualHosts: [...outbound.explicitRoute.virtualHosts, catchAllVirtualHost(policy, PASSTHROUGH)],
          },
        ];
  const listeners: ListenerConfig[] =
    mode === 'capture'
      ? [
          {
            name: 'outbound',
            address: '::',
            port: ProxyPorts.outboundCapture,
            direction: 'outbound',
            mode: 'capture',
            chains: [...outbound.chains, { name: 'passthrough', protocol: 'tcp', tcpCluster: unknown }],
          },
        ]
      : [];
  // A route to a subset no DestinationRule defines gets an empty cluster: requests to it fail with
  // 503 (no healthy upstream), as in Istio, instead of the whole config being rejected.
  const notes: TranslationNote[] = [...outbound.notes];
  const clusters: ClusterConfig[] = [
    ...outbound.clusters,
    ...(policy === 'REGISTRY_ONLY' ? [{ name: BLACKHOLE, type: 'static' as const, endpoints: [] }] : []),
  ];
  const known = new Set([...clusters.map((c) => c.name), PASSTHROUGH, INBOUND_PASSTHROUGH]);
  for (const rc of routes) {
    for (const vh of rc.virtualHosts) {
      for (const r of vh.routes) {
        for (const name of [...(r.route ?? []).map((d) => d.cluster), ...(r.mirror ? [r.mirror.cluster] : [])]) {
          if (known.has(name) || name.startsWith('inbound|')) continue;
          known.add(name);
          clusters.push({ name, type: 'static', endpoints: [] });
          notes.push({
            resource: vh.name,
            message: `route "${r.name ?? 'unnamed'}" sends traffic to ${name}, which has no endpoints (is the subset defined in a DestinationRule?)`,
          });
        }
      }
    }
  }
  for (const l of listeners) clusters.push(...missingChainClusters(l.chains, known, 'outbound', notes));
  shared = { clusters, routes, listeners, notes };
  byMode.set(`${mode}|${policy}`, shared);
  return shared;
}

/** The config of the proxy of `workload`, in its shared and own parts. */
export function proxyConfigParts(
  snapshot: MeshSnapshot,
  workload: MeshWorkload,
  traffic: ProxyTraffic,
): ProxyConfigParts {
  const ns = workload.namespace;
  if (workload.gateway) return gatewayParts(snapshot, workload, workload.gateway);
  // Outbound: the services the workload's Sidecar (egress hosts) lets it see; inbound: all of them.
  const sidecar = sidecarFor(snapshot, workload);
  const policy: OutboundPolicy =
    sidecar?.spec.outboundTrafficPolicy?.mode === 'REGISTRY_ONLY' ? 'REGISTRY_ONLY' : 'ALLOW_ANY';
  const shared = sharedFor(scopedSnapshot(snapshot, ns, sidecar), ns, traffic.mode, policy);
  const clusters: ClusterConfig[] = [{ name: PASSTHROUGH, type: 'originalDst' }];
  const routes: RouteConfigConfig[] = [];
  const listeners: ListenerConfig[] = [];
  if (traffic.mode === 'explicit') {
    listeners.push({
      name: 'outbound',
      address: '127.0.0.1',
      port: traffic.outboundPort ?? ProxyPorts.outboundCapture,
      direction: 'outbound',
      mode: 'http-proxy',
      chains: [
        {
          name: 'http-proxy',
          routeConfig: 'outbound',
          tcpCluster: policy === 'REGISTRY_ONLY' ? BLACKHOLE : PASSTHROUGH,
        },
      ],
    });
  }

  // Inbound: to the app on loopback, with the TLS mode PeerAuthentication asks for, behind the
  // authorization policies and JWT rules that apply to the workload. Each service port goes to its
  // target port on this workload (a port without one: the workload's app port).
  const authz = workloadAuthz(snapshot, workload);
  const limits = rateLimitsFor(snapshot, workload);
  // A Linkerd Server's proxyProtocol decides its port's inbound protocol over the service port's.
  const declared = serverProtocols(snapshot, workload);
  const inboundChains: FilterChainConfig[] = [];
  const seen = new Map<number, { port: ServicePort; service: MeshService }>();
  for (const service of servicesSelecting(snapshot.services, workload)) {
    for (const port of service.ports) {
      const target = targetPortOn(port, workload);
      if (!seen.has(target)) seen.set(target, { port, service });
    }
  }
  for (const [target, { port: p, service }] of [...seen].sort((a, b) => a[0] - b[0])) {
    const name = clusterName.inbound(target);
    const protocol = declared.get(target) ?? chainProtocol(p);
    const upstream = protocol === 'http2' ? 'http2' : 'auto';
    clusters.push({
      name,
      type: 'static',
      protocol: upstream,
      service: serviceFqdn(service),
      endpoints: [{ address: '127.0.0.1', port: target, tls: 'disable' }],
      tls: 'disable',
    });
    const tls = inboundTlsMode(snapshot, workload, target);
    if (protocol !== 'tcp')
      routes.push({
        name,
        virtualHosts: [
          { name: 'inbound', domains: ['*'], routes: [{ name: 'default', route: [{ cluster: name, weight: 100 }] }] },
        ],
      });
    // Clients tunnelling with CONNECT through an HTTP proxy (Node fetch with NODE_USE_ENV_PROXY)
    // arrive as opaque TCP over mTLS: an HTTP chain also names its cluster for such bytes.
    const limit = limits.get(target);
    const chain: FilterChainConfig =
      protocol === 'tcp'
        ? { name, protocol, tls, tcpCluster: name }
        : { name, protocol, tls, routeConfig: name, tcpCluster: name, ...(limit ? { rateLimit: limit } : {}) };
    if (traffic.mode === 'capture') inboundChains.push({ ...chain, match: { destinationPort: target } });
    else {
      // Bound to the workload's own address (local: 127.0.0.1 unless `meshctl run --address`), never to
      // every interface: in PERMISSIVE mode plaintext passes, which would expose an app bound to loopback.
      listeners.push({
        name,
        address: workload.address,
        port: workload.proxyPort ?? target,
        direction: 'inbound',
        mode: 'explicit',
        chains: [chain],
        ...(authz ? { authz: { ...authz, destinationPort: target } } : {}),
      });
    }
  }
  if (traffic.mode === 'capture') {
    clusters.push({ name: INBOUND_PASSTHROUGH, type: 'originalDst', tls: 'disable', inboundPassthrough: true });
    listeners.push({
      name: 'inbound',
      // Dual stack (falls back to 0.0.0.0 where the kernel has no IPv6): ip6tables redirects IPv6 here too.
      address: '::',
      port: ProxyPorts.inboundCapture,
      direction: 'inbound',
      mode: 'capture',
      chains: [
        ...inboundChains,
        {
          name: 'passthrough',
          protocol: 'tcp',
          tls: inboundTlsMode(snapshot, workload),
          tcpCluster: INBOUND_PASSTHROUGH,
        },
      ],
      ...(authz ? { authz } : {}),
    });
  }
  const parts: ProxyConfigParts = {
    shared,
    own: { clusters, routes, listeners },
    node: {
      id: `${workload.name}.${ns}`,
      workload: workload.name,
      namespace: ns,
      serviceAccount: workload.serviceAccount,
      labels: { ...workload.labels },
    },
  };
  return explicitOutboundPorts(directAddressing(parts, snapshot, workload), snapshot, workload);
}

/** How a workload's proxy receives traffic, from its record. */
export function trafficOf(workload: MeshWorkload): ProxyTraffic {
  if (workload.capture) return { mode: 'capture' };
  return { mode: 'explicit', ...(workload.outboundPort !== undefined ? { outboundPort: workload.outboundPort } : {}) };
}

/**
 * A gateway proxy: the namespace's outbound clusters (shared with its sidecars), and as its own
 * part the listeners and routes of the Gateways selecting it. Clusters a gateway route names that
 * do not exist (an undefined subset) are created empty: requests to them answer 503, as in Istio.
 */
function gatewayParts(
  snapshot: MeshSnapshot,
  workload: MeshWorkload,
  router: NonNullable<MeshWorkload['gateway']>,
): ProxyConfigParts {
  const shared = sharedFor(snapshot, workload.namespace, 'explicit', 'ALLOW_ANY');
  const gw = gatewayConfig(snapshot, workload, router);
  const known = new Set(shared.clusters.map((c) => c.name));
  const clusters: ClusterConfig[] = [{ name: PASSTHROUGH, type: 'originalDst' }];
  const need = (name: string | undefined): void => {
    if (!name || known.has(name)) return;
    known.add(name);
    clusters.push({ name, type: 'static', endpoints: [] });
    gw.notes.push({
      resource: `gateway ${workload.name}.${workload.namespace}`,
      message: `a route sends traffic to ${name}, which has no endpoints`,
    });
  };
  known.add(PASSTHROUGH);
  for (const rc of gw.routes)
    for (const vh of rc.virtualHosts) for (const r of vh.routes) for (const d of r.route ?? []) need(d.cluster);
  for (const l of gw.listeners)
    for (const c of l.chains)
      for (const n of [c.tcpCluster, ...(c.tcpWeightedClusters ?? []).map((w) => w.cluster)]) need(n);
  return {
    shared,
    own: {
      clusters,
      routes: gw.routes,
      listeners: limitGatewayListeners(gw.listeners, rateLimitsFor(snapshot, workload)),
      notes: gw.notes,
    },
    node: {
      id: `${workload.name}.${workload.namespace}`,
      workload: workload.name,
      namespace: workload.namespace,
      serviceAccount: workload.serviceAccount,
      labels: workload.labels,
    },
  };
}

/** The config of the proxy of `workload`, as one document. */
export function proxyConfigFor(snapshot: MeshSnapshot, workload: MeshWorkload, traffic: ProxyTraffic): Translation {
  return flattenParts(snapshot.version, proxyConfigParts(snapshot, workload, traffic));
}

/** Shared and own parts as one config: shared outbound first, then the proxy's own. */
export function flattenParts(version: string, parts: ProxyConfigParts): Translation {
  const { shared, own } = parts;
  return {
    config: {
      apiVersion: PROXY_CONFIG_API_VERSION,
      version,
      node: parts.node,
      listeners: [...shared.listeners, ...own.listeners],
      routes: [...shared.routes, ...own.routes],
      clusters: [...shared.clusters, ...own.clusters],
    },
    notes: [...shared.notes, ...(own.notes ?? [])],
  };
}
