/**
 * Local workloads started with `meshctl run --transparent` live in their own network namespace
 * behind iptables capture, like pods. Besides what the translation gives every captured proxy
 * (chains for service VIPs), an unmodified app may call a peer by its namespace address and app
 * port, as it would call a pod IP. Those calls get a chain of their own here, to a one-endpoint
 * cluster with the peer's identity, so they are mTLS between sidecars instead of passing
 * through in plaintext; and the peer's inbound capture gets a chain for each app port that no
 * service target port covers. A workload whose namespace has an IPv6 address gets dual-stack capture
 * listeners (`::`: ip6tables redirects IPv6 connections to them) and chains for its peers' IPv6
 * addresses too.
 *
 * The outbound capture listener is part of the namespace's shared layer; a transparent workload's
 * is its own (moved to its own part), since its chains depend on which peers run transparently.
 */
import type { ClusterConfig, FilterChainConfig, ListenerConfig, RouteConfigConfig } from '../../protocol/proxy-config/index.js';
import { inboundTlsMode, serviceFqdn, selects, spiffeId, type MeshSnapshot, type ProxyConfigParts } from '../translate/index.js';
import type { WorkloadRecord } from '../registry/model.js';

function singleRoute(name: string): RouteConfigConfig {
  return { name, virtualHosts: [{ name, domains: ['*'], routes: [{ name: 'default', route: [{ cluster: name, weight: 100 }] }] }] };
}

/** Inserts `chains` before a capture listener's default (match-less) passthrough chain. */
function withChains(l: ListenerConfig, chains: FilterChainConfig[]): ListenerConfig {
  if (!chains.length) return l;
  const i = l.chains.findIndex((c) => !c.match);
  const at = i < 0 ? l.chains.length : i;
  return { ...l, chains: [...l.chains.slice(0, at), ...chains, ...l.chains.slice(at)] };
}

/** Adds the address chains (outbound) and app-port chains (inbound) of a captured local workload. */
export function localCaptureAddressing(parts: ProxyConfigParts, mesh: MeshSnapshot, records: readonly WorkloadRecord[], self: WorkloadRecord): ProxyConfigParts {
  const clusters: ClusterConfig[] = [...parts.own.clusters];
  const routes: RouteConfigConfig[] = [...parts.own.routes];
  const known = new Set([...parts.shared.clusters, ...clusters].map((c) => c.name));
  const outbound: FilterChainConfig[] = [];
  for (const w of records) {
    if (!w.capture || (w.name === self.name && w.namespace === self.namespace)) continue;
    const meshW = mesh.workloads.find((m) => m.name === w.name && m.namespace === w.namespace);
    const service = meshW && mesh.services.find((s) => s.namespace === w.namespace && selects(s.selector, meshW.labels));
    for (const address of [w.address, ...(self.ipv6Address && w.ipv6Address ? [w.ipv6Address] : [])]) {
      for (const port of w.ports) {
        const name = `outbound|${port}||${address}`;
        if (known.has(name)) continue;
        known.add(name);
        clusters.push({
          name,
          type: 'static',
          ...(service ? { service: serviceFqdn(service) } : {}),
          endpoints: [{ address, port, identity: spiffeId(mesh.trustDomain, w.namespace, w.serviceAccount), tls: 'mutual', labels: { ...w.labels, 'meshctl.dev/workload': w.name, 'meshctl.dev/namespace': w.namespace } }],
        });
        routes.push(singleRoute(name));
        outbound.push({ name, match: { destinationAddress: address, destinationPort: port }, protocol: 'auto', routeConfig: name, tcpCluster: name });
      }
    }
  }
  const dualStack = (l: ListenerConfig): ListenerConfig => (self.ipv6Address ? { ...l, address: '::' } : l);
  const meshSelf = mesh.workloads.find((m) => m.name === self.name && m.namespace === self.namespace);
  const ownListeners = parts.own.listeners.map((l) => {
    if (l.mode !== 'capture' || l.direction !== 'inbound') return l;
    const covered = new Set(l.chains.map((c) => c.match?.destinationPort).filter((p) => p !== undefined));
    const inbound: FilterChainConfig[] = [];
    for (const port of self.ports) {
      if (covered.has(port) || !meshSelf) continue;
      const name = `inbound|${port}||`;
      if (!known.has(name)) {
        known.add(name);
        clusters.push({ name, type: 'static', endpoints: [{ address: '127.0.0.1', port, tls: 'disable' }], tls: 'disable' });
        routes.push(singleRoute(name));
      }
      inbound.push({ name, match: { destinationPort: port }, protocol: 'auto', tls: inboundTlsMode(mesh, meshSelf, port), routeConfig: name, tcpCluster: name });
    }
    return dualStack(withChains(l, inbound));
  });
  const isCaptureOutbound = (l: ListenerConfig): boolean => l.mode === 'capture' && l.direction === 'outbound';
  const movedOutbound = parts.shared.listeners.filter(isCaptureOutbound).map((l) => dualStack(withChains(l, outbound)));
  return {
    ...parts,
    shared: movedOutbound.length ? { ...parts.shared, listeners: parts.shared.listeners.filter((l) => !isCaptureOutbound(l)) } : parts.shared,
    own: { clusters, routes, listeners: [...ownListeners, ...movedOutbound] },
  };
}
