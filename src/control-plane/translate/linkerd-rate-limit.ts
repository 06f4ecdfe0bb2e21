/**
 * Linkerd's HTTPLocalRateLimitPolicy -> the `rateLimit` of the inbound chains (sidecars) and
 * gateway listeners serving the targeted Server's port. Client ServiceAccounts become the SPIFFE
 * IDs the proxy sees on the peer's certificate. One policy per Server, as Linkerd admits only one:
 * when several target the same Server, the oldest by name wins and the others get a note.
 */
import type { HTTPLocalRateLimitPolicy } from '../../config/index.js';
import type { ListenerConfig, RateLimitConfig } from '../../protocol/proxy-config/index.js';
import type { MeshSnapshot, MeshWorkload } from './model.js';
import { labelSelectorMatches, serverPort } from './linkerd-authorization.js';

type Selector = Parameters<typeof labelSelectorMatches>[0];

/** The rate limits of `workload`'s ports (container port -> limits), from the policies targeting its Servers. */
export function rateLimitsFor(snapshot: MeshSnapshot, workload: MeshWorkload): Map<number, RateLimitConfig> {
  const out = new Map<number, RateLimitConfig>();
  const ns = workload.namespace;
  const inNs = snapshot.resources.filter(
    (r) => r.apiVersion.startsWith('policy.linkerd.io/') && (r.metadata.namespace ?? 'default') === ns,
  );
  const policies = inNs
    .filter((r): r is HTTPLocalRateLimitPolicy => r.kind === 'HTTPLocalRateLimitPolicy')
    .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  if (policies.length === 0) return out;
  for (const server of inNs) {
    if (server.kind !== 'Server') continue;
    const spec = server.spec as { podSelector?: Selector; port: number | string };
    if (!labelSelectorMatches(spec.podSelector, workload.labels)) continue;
    const policy = policies.find(
      (p) => p.spec.targetRef.kind === 'Server' && p.spec.targetRef.name === server.metadata.name,
    );
    if (!policy) continue;
    const port = serverPort(spec.port, snapshot, workload);
    if (port !== undefined && !out.has(port)) out.set(port, rateLimitConfig(policy, snapshot.trustDomain));
  }
  return out;
}

/** One policy as the proxy runs it. */
export function rateLimitConfig(policy: HTTPLocalRateLimitPolicy, trustDomain: string): RateLimitConfig {
  const ns = policy.metadata.namespace ?? 'default';
  const s = policy.spec;
  const overrides = (s.overrides ?? []).map((o) => ({
    requestsPerSecond: o.requestsPerSecond,
    identities: o.clientRefs.map((c) => `spiffe://${trustDomain}/ns/${c.namespace || ns}/sa/${c.name}`),
  }));
  return {
    ...(s.total ? { total: s.total.requestsPerSecond } : {}),
    ...(s.identity ? { identity: s.identity.requestsPerSecond } : {}),
    ...(overrides.length ? { overrides } : {}),
    policy: `${ns}/${policy.metadata.name ?? ''}`,
  };
}

/**
 * Puts the limits on a gateway's HTTP chains: a Server selecting the gateway pod names the
 * Gateway server port (as the container port on Kubernetes) or the local port it is served on.
 */
export function limitGatewayListeners(
  listeners: ListenerConfig[],
  limits: ReadonlyMap<number, RateLimitConfig>,
): ListenerConfig[] {
  if (limits.size === 0) return listeners;
  return listeners.map((l) => {
    const gwPort = Number(l.name.split('|')[1]);
    const rl = limits.get(gwPort) ?? limits.get(l.port);
    if (!rl) return l;
    return {
      ...l,
      chains: l.chains.map((c) => (c.protocol === 'tcp' || c.routeConfig === undefined ? c : { ...c, rateLimit: rl })),
    };
  });
}
