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

/** The config of the proxy of `workload`. */
export function proxyConfigFor(snapshot: MeshSnapshot, workload: MeshWorkload, traffic: ProxyTraffic): Translation {
  const notes: TranslationNote[] = [];
  const ns = workload.namespace;
  const clusters: ClusterConfig[] = outboundClusters(snapshot, ns);
  const routes: RouteConfigConfig[] = [];
  const listeners: ListenerConfig[] = [];

  // Outbound: one virtual host per service port.
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
  clusters.push({ name: PASSTHROUGH, type: 'originalDst' });

  if (traffic.mode === 'capture') {
    for (const [port, virtualHosts] of [...byPort].sort((a, b) => a[0] - b[0])) routes.push({ name: String(port), virtualHosts });
    listeners.push({
      name: 'outbound',
      address: '0.0.0.0',
      port: ProxyPorts.outboundCapture,
      direction: 'outbound',
      mode: 'capture',
      chains: [...outboundChains, { name: 'passthrough', protocol: 'tcp', tcpCluster: PASSTHROUGH }],
    });
  } else {
    routes.push({ name: 'outbound', virtualHosts: allHosts });
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
