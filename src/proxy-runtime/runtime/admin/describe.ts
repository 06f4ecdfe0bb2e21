/** JSON descriptions of the runtime for the admin API (`/clusters`, `/listeners`, `/routes`). */
import type { Runtime } from '../../http/config-version.js';
import type { ListenerHandle } from '../../listeners/listener.js';

/** `/clusters`: every cluster with its endpoints, their health and outlier state. */
export function describeClusters(rt: Runtime, now: number): unknown {
  return [...rt.clusters.values()].map((c) => {
    const avail = c.outlier.available(c.endpoints, now);
    return {
      name: c.name,
      type: c.type,
      dnsResolution: c.cfg.dnsResolution ?? null,
      protocol: c.protocol,
      service: c.service ?? null,
      tls: c.mtls ? 'mutual' : 'disable',
      loadBalancer: c.cfg.loadBalancer ?? { simple: 'ROUND_ROBIN' },
      connectionPool: c.cfg.connectionPool ?? {},
      outlierDetection: c.cfg.outlierDetection ?? null,
      panic: avail.panic,
      activeRequests: c.limits.counters.activeRequests,
      activeRetries: c.limits.counters.activeRetries,
      overflows: c.limits.counters.overflows,
      connections: c.h1.connectionCount() + c.h2.connectionCount(),
      subsets: [...c.subsets.entries()].map(([name, eps]) => ({ name, endpoints: eps.map((e) => e.key) })),
      endpoints: c.endpoints.map((e) => {
        const h = e.health;
        const ejected = h.isEjected(now);
        return {
          address: e.address,
          port: e.port,
          labels: e.labels,
          weight: e.weight,
          identity: e.identity ?? null,
          tls: e.mtls ? 'mutual' : 'disable',
          health: ejected ? 'EJECTED' : 'HEALTHY',
          outlier: {
            ejected,
            ejectedUntil: ejected ? new Date(h.ejectedUntil).toISOString() : null,
            ejectionCount: h.ejectionCount,
            consecutive5xx: h.consecutive5xx,
            consecutiveGatewayErrors: h.consecutiveGateway,
          },
          activeRequests: h.activeRequests,
          totalRequests: h.totalRequests,
          totalFailures: h.totalFailures,
        };
      }),
    };
  });
}

/** `/listeners`: configured listeners with their bound ports and open connections. */
export function describeListeners(rt: Runtime, handles: ReadonlyMap<string, ListenerHandle>): unknown {
  return [...rt.listeners.values()].map((l) => {
    const h = [...handles.values()].find((x) => x.cfg.name === l.name);
    return {
      name: l.name,
      address: l.cfg.address ?? (l.direction === 'inbound' ? '0.0.0.0' : '127.0.0.1'),
      port: h?.port ?? l.cfg.port,
      direction: l.direction,
      mode: l.mode,
      detectTimeoutMs: l.detectTimeoutMs,
      connections: h?.connectionCount ?? 0,
      chains: l.chains.map((c) => ({
        name: c.name,
        match: c.cfg.match ?? null,
        protocol: c.protocol,
        routeConfig: c.cfg.routeConfig ?? null,
        tcpCluster: c.cfg.tcpCluster ?? null,
        ...(c.cfg.tcpWeightedClusters ? { tcpWeightedClusters: c.cfg.tcpWeightedClusters } : {}),
        tls: c.tls,
      })),
      authz: l.cfg.authz ?? null,
    };
  });
}
