/**
 * `meshctl run --outbound SVC:PORT=LOCALPORT` (the workload's `outboundPorts`): a listener on
 * 127.0.0.1:LOCALPORT to the service port, for clients that ignore HTTP_PROXY: opaque TCP when the
 * port is TCP, else HTTP routed by the service's routes (the client's Host is 127.0.0.1, so the
 * table matches any authority), with other bytes passed to the service as TCP. Either way mTLS to
 * the peer sidecars.
 */
import type { FilterChainConfig } from '../../protocol/proxy-config/index.js';
import { clusterName, protocolOf, resolveHost, serviceFqdn, type MeshSnapshot, type MeshWorkload } from './model.js';
import type { ProxyConfigParts } from './parts.js';
import { l4RouteChains, missingChainClusters } from './l4-routes.js';
import { virtualServiceFor, type TranslationNote } from './routes.js';

/** Adds a listener (and, for an unknown service, an empty cluster) per outbound port of `workload`. */
export function explicitOutboundPorts(
  parts: ProxyConfigParts,
  mesh: MeshSnapshot,
  workload: MeshWorkload,
): ProxyConfigParts {
  if (!workload.outboundPorts?.length) return parts;
  const clusters = [...parts.own.clusters];
  const routes = [...parts.own.routes];
  const listeners = [...parts.own.listeners];
  const known = new Set([...parts.shared.clusters, ...clusters].map((c) => c.name));
  const notes: TranslationNote[] = [...(parts.own.notes ?? [])];
  const table = parts.shared.routes.find((r) => r.name === 'outbound');
  for (const o of workload.outboundPorts) {
    const fqdn = resolveHost(o.service, workload.namespace, mesh.services);
    const service = mesh.services.find((s) => serviceFqdn(s) === fqdn);
    const port = service?.ports.find((p) => p.port === o.port);
    const protocol = port ? protocolOf(port) : 'auto';
    const cluster = clusterName.outbound(o.port, fqdn);
    // An unknown service still gets its listener: connections fail as "no healthy upstream" until it exists.
    if (!known.has(cluster)) {
      clusters.push({ name: cluster, type: 'static', endpoints: [] });
      known.add(cluster);
    }
    const name = `outbound-local|${o.localPort}`;
    const base = {
      name,
      address: '127.0.0.1',
      port: o.localPort,
      direction: 'outbound' as const,
      mode: 'explicit' as const,
    };
    if (protocol === 'tcp') {
      // The VirtualService's tls (SNI) and tcp routes, decided for this workload: the client dialled
      // the service, so its VIPs are the destination a `destinationSubnets` block is checked against.
      const vs = virtualServiceFor(mesh, fqdn, workload.namespace);
      const routed: FilterChainConfig[] = [];
      if (vs)
        for (const kind of ['tls', 'tcp'] as const)
          routed.push(
            ...l4RouteChains(
              mesh,
              vs,
              {
                context: 'mesh',
                port: o.port,
                clientNamespace: workload.namespace,
                staticAddresses: service?.addresses ?? [],
                kind,
              },
              name,
            ),
          );
      clusters.push(...missingChainClusters(routed, known, `workload ${workload.name}.${workload.namespace}`, notes));
      listeners.push({ ...base, chains: [...routed, { name, protocol: 'tcp', tcpCluster: cluster }] });
      continue;
    }
    const vhost = table?.virtualHosts.find((v) => v.name === `${fqdn}:${o.port}`);
    routes.push({
      name,
      virtualHosts: [
        {
          name: `${fqdn}:${o.port}`,
          domains: ['*'],
          routes: vhost?.routes ?? [{ name: 'default', route: [{ cluster, weight: 100 }] }],
        },
      ],
    });
    const chain = protocol === 'http' ? 'http1' : protocol === 'http2' || protocol === 'grpc' ? 'http2' : 'auto';
    listeners.push({ ...base, chains: [{ name, protocol: chain, routeConfig: name, tcpCluster: cluster }] });
  }
  return { ...parts, own: { clusters, routes, listeners, ...(notes.length ? { notes } : {}) } };
}
