/**
 * Mesh resources -> the config of one proxy. Pure: a snapshot and a proxy in, a ProxyConfig (and
 * notes on what could not be expressed) out. The push pipeline calls this per connected proxy.
 */
import { PROXY_CONFIG_API_VERSION, type ClusterConfig, type FilterChainConfig, type ListenerConfig, type ProxyConfig, type RouteConfigConfig, type VirtualHostConfig } from '../../protocol/proxy-config/index.js';
import { ProxyPorts } from '../../protocol/well-known.js';
import { outboundClusters } from './clusters.js';
import { clusterName, selects, serviceFqdn, type MeshService, type MeshSnapshot, type MeshWorkload, type ProxyTraffic, type ServicePort } from './model.js';
import { inboundTlsMode } from './peer-authentication.js';
import { routesFor, type TranslationNote } from './routes.js';

export * from './model.js';
export { inboundTlsMode } from './peer-authentication.js';
export type { TranslationNote } from './routes.js';

/** The generated config and what could not be expressed in it. */
export interface Translation {
  config: ProxyConfig;
  notes: TranslationNote[];
}

const PASSTHROUGH = 'PassthroughCluster';
const INBOUND_PASSTHROUGH = 'InboundPassthroughCluster';

function chainProtocol(p: ServicePort): FilterChainConfig['protocol'] {
  return p.protocol === 'tcp' ? 'tcp' : p.protocol === 'http' ? 'http1' : p.protocol === 'http2' || p.protocol === 'grpc' ? 'http2' : 'auto';
}

/** Authorities a client may use for a service port. */
function domainsOf(service: MeshService, port: number, clientNamespace: string, withBare: boolean): string[] {
  const fqdn = serviceFqdn(service);
  const names = [fqdn, `${service.name}.${service.namespace}.svc`, `${service.name}.${service.namespace}`, ...service.addresses];
  if (service.namespace === clientNamespace) names.unshift(service.name);
  return [...(withBare ? names : []), ...names.map((n) => `${n}:${port}`)];
}

/** The ports of `workload` that services send traffic to (their targetPorts), with protocols. */
function inboundPorts(snapshot: MeshSnapshot, workload: MeshWorkload): ServicePort[] {
  const seen = new Map<number, ServicePort>();
  for (const s of snapshot.services) {
    if (s.namespace !== workload.namespace || !selects(s.selector, workload.labels)) continue;
    for (const p of s.ports) if (!seen.has(p.targetPort)) seen.set(p.targetPort, p);
  }
  return [...seen.values()].sort((a, b) => a.targetPort - b.targetPort);
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
      if (port.protocol === 'tcp') {
        for (const vip of service.addresses) {
          outboundChains.push({ name: `${fqdn}:${port.port}`, match: { destinationAddress: vip, destinationPort: port.port }, protocol: 'tcp', tcpCluster: clusterName.outbound(port.port, fqdn) });
        }
        continue;
      }
      const vhostRoutes = routesFor(snapshot, service, port, ns, notes);
      const capture = { name: `${fqdn}:${port.port}`, domains: domainsOf(service, port.port, ns, true), routes: vhostRoutes };
      (byPort.get(port.port) ?? byPort.set(port.port, []).get(port.port)!).push(capture);
      allHosts.push({ ...capture, domains: domainsOf(service, port.port, ns, port.port === 80) });
      for (const vip of service.addresses) {
        outboundChains.push({ name: `${fqdn}:${port.port}`, match: { destinationAddress: vip, destinationPort: port.port }, protocol: chainProtocol(port), routeConfig: String(port.port) });
      }
    }
  }
  return {
    clusters,
    captureRoutes: [...byPort].sort((a, b) => a[0] - b[0]).map(([port, virtualHosts]) => ({ name: String(port), virtualHosts })),
    explicitRoute: { name: 'outbound', virtualHosts: allHosts },
    chains: outboundChains,
    notes,
  };
}

/** The config of the proxy of `workload`. */
export function proxyConfigFor(snapshot: MeshSnapshot, workload: MeshWorkload, traffic: ProxyTraffic): Translation {
  const ns = workload.namespace;
  const outbound = outboundFor(snapshot, ns);
  const notes: TranslationNote[] = [...outbound.notes];
  const clusters: ClusterConfig[] = [...outbound.clusters];
  const routes: RouteConfigConfig[] = [];
  const listeners: ListenerConfig[] = [];
  clusters.push({ name: PASSTHROUGH, type: 'originalDst' });

  if (traffic.mode === 'capture') {
    routes.push(...outbound.captureRoutes);
    listeners.push({
      name: 'outbound',
      address: '0.0.0.0',
      port: ProxyPorts.outboundCapture,
      direction: 'outbound',
      mode: 'capture',
      chains: [...outbound.chains, { name: 'passthrough', protocol: 'tcp', tcpCluster: PASSTHROUGH }],
    });
  } else {
    routes.push(outbound.explicitRoute);
    listeners.push({
      name: 'outbound',
      address: '127.0.0.1',
      port: traffic.outboundPort ?? ProxyPorts.outboundCapture,
      direction: 'outbound',
      mode: 'http-proxy',
      chains: [{ name: 'http-proxy', routeConfig: 'outbound', tcpCluster: PASSTHROUGH }],
    });
  }

  // Inbound: to the app on loopback, with the TLS mode PeerAuthentication asks for.
  const inboundChains: FilterChainConfig[] = [];
  for (const p of inboundPorts(snapshot, workload)) {
    const name = clusterName.inbound(p.targetPort);
    clusters.push({ name, type: 'static', protocol: p.protocol === 'http2' || p.protocol === 'grpc' ? 'http2' : 'auto', service: serviceFqdn(snapshot.services.find((s) => s.ports.includes(p))!), endpoints: [{ address: '127.0.0.1', port: p.targetPort, tls: 'disable' }], tls: 'disable' });
    const tls = inboundTlsMode(snapshot, workload, p.targetPort);
    const protocol = chainProtocol(p);
    if (protocol !== 'tcp') routes.push({ name, virtualHosts: [{ name: 'inbound', domains: ['*'], routes: [{ name: 'default', route: [{ cluster: name, weight: 100 }] }] }] });
    const chain: FilterChainConfig = protocol === 'tcp' ? { name, protocol, tls, tcpCluster: name } : { name, protocol, tls, routeConfig: name };
    if (traffic.mode === 'capture') inboundChains.push({ ...chain, match: { destinationPort: p.targetPort } });
    else {
      listeners.push({ name, address: '0.0.0.0', port: workload.inboundPorts?.[p.targetPort] ?? p.targetPort, direction: 'inbound', mode: 'explicit', chains: [chain] });
    }
  }
  if (traffic.mode === 'capture') {
    clusters.push({ name: INBOUND_PASSTHROUGH, type: 'originalDst', tls: 'disable' });
    listeners.push({
      name: 'inbound',
      address: '0.0.0.0',
      port: ProxyPorts.inboundCapture,
      direction: 'inbound',
      mode: 'capture',
      chains: [...inboundChains, { name: 'passthrough', protocol: 'tcp', tls: inboundTlsMode(snapshot, workload), tcpCluster: INBOUND_PASSTHROUGH }],
    });
  }

  // A route to a subset no DestinationRule defines gets an empty cluster: requests to it fail with
  // 503 (no healthy upstream), as in Istio, instead of the whole config being rejected.
  const known = new Set(clusters.map((c) => c.name));
  for (const rc of routes) {
    for (const vh of rc.virtualHosts) {
      for (const r of vh.routes) {
        for (const name of [...(r.route ?? []).map((d) => d.cluster), ...(r.mirror ? [r.mirror.cluster] : [])]) {
          if (known.has(name)) continue;
          known.add(name);
          clusters.push({ name, type: 'static', endpoints: [] });
          notes.push({ resource: vh.name, message: `route "${r.name ?? 'unnamed'}" sends traffic to ${name}, which has no endpoints (is the subset defined in a DestinationRule?)` });
        }
      }
    }
  }

  return {
    config: {
      apiVersion: PROXY_CONFIG_API_VERSION,
      version: snapshot.version,
      node: { id: `${workload.name}.${ns}`, workload: workload.name, namespace: ns, serviceAccount: workload.serviceAccount, labels: workload.labels },
      listeners,
      routes,
      clusters,
    },
    notes,
  };
}
