/**
 * Workloads that peers dial by address (`peersDialAddress`: local `meshctl run --transparent`, each in
 * its own network namespace behind iptables capture, with no kube-proxy or VIP in front): an
 * unmodified app may call a peer by its address and app port, as it would call a pod IP. For a proxy
 * that is itself such a workload, those calls get a chain of their own in its outbound capture
 * listener, to a one-endpoint cluster with the peer's identity, so they are mTLS between sidecars
 * instead of passing through in plaintext; and its inbound capture listener gets a chain for each
 * app port that no service target port covers. Chains for a peer's IPv6 address are added when
 * both have one (the capture listeners listen on `::`).
 *
 * The outbound capture listener is part of the namespace's shared layer; such a workload's is its
 * own (moved to its own part), since its chains depend on which peers are dialed by address.
 */
import type {
  ClusterConfig,
  FilterChainConfig,
  ListenerConfig,
  RouteConfigConfig,
} from '../../protocol/proxy-config/index.js';
import { inboundTlsMode } from './peer-authentication.js';
import { serviceFqdn, servesAny, spiffeId, type MeshSnapshot, type MeshWorkload } from './model.js';
import type { ProxyConfigParts } from './parts.js';

function singleRoute(name: string): RouteConfigConfig {
  return {
    name,
    virtualHosts: [{ name, domains: ['*'], routes: [{ name: 'default', route: [{ cluster: name, weight: 100 }] }] }],
  };
}

/** Inserts `chains` before a capture listener's default (match-less) passthrough chain. */
function withChains(l: ListenerConfig, chains: FilterChainConfig[]): ListenerConfig {
  if (!chains.length) return l;
  const i = l.chains.findIndex((c) => !c.match);
  const at = i < 0 ? l.chains.length : i;
  return { ...l, chains: [...l.chains.slice(0, at), ...chains, ...l.chains.slice(at)] };
}

/** Adds the address chains (outbound) and app-port chains (inbound) of a workload peers dial by address. */
export function directAddressing(parts: ProxyConfigParts, mesh: MeshSnapshot, self: MeshWorkload): ProxyConfigParts {
  if (!self.capture || !self.peersDialAddress) return parts;
  const clusters: ClusterConfig[] = [...parts.own.clusters];
  const routes: RouteConfigConfig[] = [...parts.own.routes];
  const known = new Set([...parts.shared.clusters, ...clusters].map((c) => c.name));
  const outbound: FilterChainConfig[] = [];
  for (const w of mesh.workloads) {
    if (!w.peersDialAddress || (w.name === self.name && w.namespace === self.namespace)) continue;
    const service = servesAny(mesh.services, w);
    for (const address of [w.address, ...(self.ipv6Address && w.ipv6Address ? [w.ipv6Address] : [])]) {
      for (const port of w.ports ?? []) {
        const name = `outbound|${port}||${address}`;
        if (known.has(name)) continue;
        known.add(name);
        clusters.push({
          name,
          type: 'static',
          ...(service ? { service: serviceFqdn(service) } : {}),
          endpoints: [
            {
              address,
              port,
              identity: spiffeId(mesh.trustDomain, w.namespace, w.serviceAccount),
              tls: 'mutual',
              labels: { ...w.labels, 'meshctl.dev/workload': w.name, 'meshctl.dev/namespace': w.namespace },
            },
          ],
        });
        routes.push(singleRoute(name));
        outbound.push({
          name,
          match: { destinationAddress: address, destinationPort: port },
          protocol: 'auto',
          routeConfig: name,
          tcpCluster: name,
        });
      }
    }
  }
  const ownListeners = parts.own.listeners.map((l) => {
    if (l.mode !== 'capture' || l.direction !== 'inbound') return l;
    const covered = new Set(l.chains.map((c) => c.match?.destinationPort).filter((p) => p !== undefined));
    const inbound: FilterChainConfig[] = [];
    for (const port of self.ports ?? []) {
      if (covered.has(port)) continue;
      const name = `inbound|${port}||`;
      if (!known.has(name)) {
        known.add(name);
        clusters.push({
          name,
          type: 'static',
          endpoints: [{ address: '127.0.0.1', port, tls: 'disable' }],
          tls: 'disable',
        });
        routes.push(singleRoute(name));
      }
      inbound.push({
        name,
        match: { destinationPort: port },
        protocol: 'auto',
        tls: inboundTlsMode(mesh, self, port),
        routeConfig: name,
        tcpCluster: name,
      });
    }
    return withChains(l, inbound);
  });
  const isCaptureOutbound = (l: ListenerConfig): boolean => l.mode === 'capture' && l.direction === 'outbound';
  const movedOutbound = parts.shared.listeners.filter(isCaptureOutbound).map((l) => withChains(l, outbound));
  return {
    ...parts,
    shared: movedOutbound.length
      ? { ...parts.shared, listeners: parts.shared.listeners.filter((l) => !isCaptureOutbound(l)) }
      : parts.shared,
    own: { clusters, routes, listeners: [...ownListeners, ...movedOutbound] },
  };
}
