/**
 * Where a service port's traffic goes by default (no VirtualService route): split by weight
 * between an SMI TrafficSplit's backends, else between a Linkerd ServiceProfile's dstOverrides,
 * else all to the service itself. The TrafficSplit wins over dstOverrides as in Linkerd, whose
 * destination controller replaces a profile's overrides with the split's backends.
 */
import { parseQuantity, type ServiceProfile, type TrafficSplit } from '../../config/index.js';
import type { RouteSpec } from '../../protocol/proxy-config/index.js';
import { subsetClusterName } from './clusters.js';
import {
  clusterName,
  resolveHost,
  serviceFqdn,
  type MeshService,
  type MeshSnapshot,
  type ServicePort,
} from './model.js';

/** The cluster for a destination host (as written in a resource of `namespace`), port and subset (`fallbackPort` when the service has several ports and none is named). */
export function destinationCluster(
  snapshot: MeshSnapshot,
  host: string,
  namespace: string,
  port: number | undefined,
  subset: string | undefined,
  fallbackPort: number,
): string {
  const fqdn = resolveHost(host, namespace, snapshot.services);
  const service = snapshot.services.find((s) => serviceFqdn(s) === fqdn);
  const p = port ?? (service && service.ports.length === 1 ? service.ports[0]!.port : fallbackPort);
  return subset ? subsetClusterName(p, subset, fqdn) : clusterName.outbound(p, fqdn);
}

type Destinations = NonNullable<RouteSpec['route']>;

/**
 * Weighted destinations from quantity weights (`1`, `500m`): proxy weights are integers, so
 * fractional weights are scaled by 1000, keeping the ratios. Undefined when every weight is 0.
 */
function weighted(entries: readonly { cluster: string; weight: number | string }[]): Destinations | undefined {
  const weights = entries.map((e) => parseQuantity(e.weight));
  const scale = weights.some((w) => !Number.isInteger(w)) ? 1000 : 1;
  const dests = entries.map((e, i) => {
    const w = weights[i] ?? 0;
    return { cluster: e.cluster, weight: Number.isFinite(w) && w > 0 ? Math.round(w * scale) : 0 };
  });
  return dests.some((d) => d.weight > 0) ? dests : undefined;
}

/**
 * A dstOverrides authority as host and port: `web.ns.svc.cluster.local:80`, or a host alone,
 * which takes the port the client asked for (as Linkerd's profile translator does).
 */
function splitAuthority(authority: string, port: number): { host: string; port: number } {
  const m = /^(.+):([0-9]{1,5})$/.exec(authority.trim());
  return m ? { host: m[1]!, port: Number(m[2]) } : { host: authority.trim(), port };
}

/** The default destinations of a service port (see the module comment); `profile` is the service's ServiceProfile. */
export function defaultDestinations(
  snapshot: MeshSnapshot,
  service: MeshService,
  port: ServicePort,
  profile: ServiceProfile | undefined,
): Destinations {
  const split = snapshot.resources.find(
    (r): r is TrafficSplit =>
      r.kind === 'TrafficSplit' &&
      r.metadata.namespace === service.namespace &&
      resolveHost(r.spec.service, service.namespace, snapshot.services) === serviceFqdn(service),
  );
  const fromSplit =
    split &&
    weighted(
      split.spec.backends.map((b) => ({
        cluster: destinationCluster(snapshot, b.service, service.namespace, port.port, undefined, port.port),
        weight: b.weight,
      })),
    );
  if (fromSplit) return fromSplit;
  const overrides = profile?.spec.dstOverrides;
  const fromProfile =
    overrides &&
    weighted(
      overrides.map((o) => {
        const a = splitAuthority(o.authority, port.port);
        return {
          cluster: destinationCluster(snapshot, a.host, service.namespace, a.port, undefined, port.port),
          weight: o.weight,
        };
      }),
    );
  if (fromProfile) return fromProfile;
  return [{ cluster: clusterName.outbound(port.port, serviceFqdn(service)), weight: 100 }];
}
