/**
 * VirtualService `tcp` and `tls` routes as filter chains, for sidecars (VirtualServices without
 * `gateways` or naming `mesh`) and gateways alike, as istiod builds Envoy's tcp_proxy chains: each
 * applicable match block becomes a chain (first match wins, in route order), matching on the
 * destination port and address the caller gives, `destinationSubnets`, `sourceLabels` (this proxy's
 * own labels) and, for `tls` routes, `sniHosts`; a route with several destinations picks one per
 * connection by weight. `port`, `gateways` and `sourceNamespace` are decided here, where the
 * proxy's context is known.
 */
import type { VirtualService } from '../../config/index.js';
import type { ClusterConfig, FilterChainConfig } from '../../protocol/proxy-config/index.js';
import { compileSubnets } from '../../protocol/proxy-config/index.js';
import type { MeshSnapshot } from './model.js';
import { namesGateway, type TranslationNote } from './routes.js';
import { destinationCluster } from './splits.js';

/** One L4 match block as a VirtualService writes it (tcp and tls share these fields). */
interface L4Match {
  port?: number;
  gateways?: string[];
  sourceNamespace?: string;
  sourceLabels?: Record<string, string>;
  destinationSubnets?: string[];
  sourceSubnet?: string;
  sniHosts?: string[];
}

/** An L4 route as a VirtualService writes it. */
interface L4Route {
  match?: L4Match[];
  route?: { destination: { host: string; subset?: string; port?: { number?: number } }; weight?: number }[];
}

/** Where the chains go and who they are for. */
export interface L4Context {
  /** `mesh` for sidecars, `ns/name` of the Gateway for a gateway. */
  readonly context: string;
  /** The port the client addressed (the service port, or the gateway server's port). */
  readonly port: number;
  /** The namespace of the proxy (for `sourceNamespace`). */
  readonly clientNamespace: string;
  /** The chain's own match (a VIP and port at a capture listener); none for an explicit listener. */
  readonly base?: FilterChainConfig['match'];
  /**
   * The addresses the client dialled, known when the listener is explicit (the service's VIPs): a
   * block's `destinationSubnets` is then decided here (no address in them: the block never applies).
   */
  readonly staticAddresses?: readonly string[];
  /** `tls` routes (SNI) or `tcp` routes. */
  readonly kind: 'tls' | 'tcp';
}

/** The weighted clusters of a route; undefined when it has no destination. */
function destinations(
  snapshot: MeshSnapshot,
  vs: VirtualService,
  r: L4Route,
  port: number,
): { cluster: string; weight: number }[] | undefined {
  const ns = vs.metadata.namespace ?? 'default';
  const route = r.route ?? [];
  if (!route.length) return undefined;
  return route.map((d) => ({
    cluster: destinationCluster(
      snapshot,
      d.destination.host,
      ns,
      d.destination.port?.number,
      d.destination.subset,
      port,
    ),
    weight: d.weight ?? (route.length === 1 ? 100 : 0),
  }));
}

/** Whether a block applies to this proxy and port (the fields decided at translation). */
function applies(m: L4Match, vsNs: string, at: L4Context): boolean {
  if (m.port !== undefined && m.port !== at.port) return false;
  if (m.gateways?.length && !namesGateway(m.gateways, vsNs, at.context)) return false;
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== at.clientNamespace) return false;
  // A source subnet is not matched (it warns at apply): a block that needs one never applies, rather than applying to every source.
  if (m.sourceSubnet !== undefined) return false;
  if (m.destinationSubnets?.length && at.staticAddresses) {
    const inSubnets = compileSubnets(m.destinationSubnets);
    if (!at.staticAddresses.some((a) => inSubnets(a))) return false;
  }
  return true;
}

/**
 * The chains of `vs`'s tcp or tls routes for one port, in order; empty when none applies. The
 * caller appends its default chain after them (the service itself, or passthrough).
 */
export function l4RouteChains(
  snapshot: MeshSnapshot,
  vs: VirtualService,
  at: L4Context,
  name: string,
): FilterChainConfig[] {
  const vsNs = vs.metadata.namespace ?? 'default';
  const routes = ((at.kind === 'tls' ? vs.spec.tls : vs.spec.tcp) ?? []) as L4Route[];
  const chains: FilterChainConfig[] = [];
  for (const r of routes) {
    const dests = destinations(snapshot, vs, r, at.port);
    if (!dests || !dests.some((d) => d.weight > 0)) continue;
    const blocks = r.match?.length ? r.match : [{}];
    for (const m of blocks) {
      if (!applies(m, vsNs, at)) continue;
      const match: NonNullable<FilterChainConfig['match']> = { ...(at.base ?? {}) };
      if (m.destinationSubnets?.length && !at.staticAddresses) match.destinationSubnets = [...m.destinationSubnets];
      if (m.sourceLabels && Object.keys(m.sourceLabels).length) match.sourceLabels = { ...m.sourceLabels };
      if (at.kind === 'tls' && m.sniHosts?.length) match.serverNames = [...m.sniHosts];
      const live = dests.filter((d) => d.weight > 0);
      chains.push({
        name,
        ...(Object.keys(match).length ? { match } : {}),
        protocol: 'tcp',
        tcpCluster: live[0]!.cluster,
        ...(live.length > 1 ? { tcpWeightedClusters: live } : {}),
      });
    }
  }
  return chains;
}

/**
 * Clusters the chains name that the config does not have (a subset no DestinationRule defines):
 * created empty, so such connections fail as "no healthy upstream" instead of the config being refused.
 */
export function missingChainClusters(
  chains: readonly FilterChainConfig[],
  known: Set<string>,
  resource: string,
  notes: TranslationNote[],
): ClusterConfig[] {
  const out: ClusterConfig[] = [];
  for (const c of chains) {
    for (const name of [c.tcpCluster, ...(c.tcpWeightedClusters ?? []).map((w) => w.cluster)]) {
      if (!name || known.has(name)) continue;
      known.add(name);
      out.push({ name, type: 'static', endpoints: [] });
      notes.push({ resource, message: `a tcp/tls route sends connections to ${name}, which has no endpoints` });
    }
  }
  return out;
}
