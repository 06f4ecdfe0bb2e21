/**
 * The per-type generators of the config stream, cut from one translation per proxy: clusters,
 * listeners and routes of the proxy config the translation computes. The translation runs once per
 * proxy shape and snapshot (cached), whichever type asks first. Each type declares what it reads
 * (as istiod's skipped*Configs), so a DestinationRule edit does not regenerate listeners. The same
 * generators serve both platforms: the push snapshot is the translation's input as it is.
 */
import type { RouteConfigConfig } from '../../protocol/proxy-config/index.js';
import { TypeUrl } from '../../protocol/stream/messages.js';
import { nameResources, splitRouteConfig, type NamedResource } from '../../protocol/stream/resources.js';
import {
  proxyConfigParts,
  trafficOf,
  type MeshWorkload,
  type ProxyConfigParts,
  type SharedOutbound,
} from '../translate/index.js';
import type { ResourceLayer } from '../stream/resource-encoding.js';
import type { ConfigGenerator, KindRef } from '../push/generator.js';
import type { RegistryChange } from '../push/change.js';
import type { PushSnapshot } from '../push/snapshot.js';
import type { ProxyNode } from '../stream/source.js';

/** Caches, per snapshot, each proxy shape's translation parts. */
class TranslationCache {
  private readonly bySnapshot = new WeakMap<PushSnapshot, Map<string, ProxyConfigParts>>();

  translate(proxy: ProxyNode, snap: PushSnapshot): ProxyConfigParts {
    let perProxy = this.bySnapshot.get(snap);
    if (!perProxy) this.bySnapshot.set(snap, (perProxy = new Map()));
    const workload = workloadOf(proxy, snap);
    const key = translationKey(workload);
    let t = perProxy.get(key);
    if (!t) {
      t = proxyConfigParts(snap, workload, trafficOf(workload));
      perProxy.set(key, t);
    }
    return t;
  }
}

/**
 * What a proxy's translation depends on: everything of its workload record but its name and
 * address, so thousands of replicas (pods with the same namespace, service account and labels)
 * cost one translation per snapshot. A workload peers dial by address is its own key (its peers
 * are everyone else).
 */
function translationKey(w: MeshWorkload): string {
  if (w.peersDialAddress) return `self|${w.namespace}|${w.name}`;
  const labels = Object.keys(w.labels)
    .sort()
    .map((k) => `${k}=${w.labels[k]}`)
    .join(',');
  const own = [
    w.services,
    w.ports,
    w.proxyPort,
    w.outboundPort,
    w.outboundPorts,
    w.capture,
    w.meshed,
    w.servicePort,
    w.gateway,
    w.defaultInboundPolicy,
  ];
  return `${w.namespace}|${w.serviceAccount}|${labels}|${JSON.stringify(own)}`;
}

/**
 * The registry's record of a proxy's workload; a proxy with none yet (a pod that is not Ready)
 * is a captured workload as its node metadata describes it.
 */
function workloadOf(proxy: ProxyNode, snap: PushSnapshot): MeshWorkload {
  return (
    snap.workload(proxy.workload, proxy.namespace) ?? {
      name: proxy.workload,
      namespace: proxy.namespace,
      serviceAccount: proxy.serviceAccount,
      labels: { ...proxy.labels },
      address: '0.0.0.0',
      capture: true,
    }
  );
}

const cache = new TranslationCache();

type PartKey = 'clusters' | 'routes' | 'listeners';
const PART: Record<string, PartKey> = {
  [TypeUrl.clusters]: 'clusters',
  [TypeUrl.routes]: 'routes',
  [TypeUrl.listeners]: 'listeners',
};

/** Named resources of a part: route tables split per virtual host, so a change to one service moves one resource. */
function named(part: PartKey, list: readonly unknown[]): NamedResource[] {
  return part === 'routes' ? (list as RouteConfigConfig[]).flatMap((rc) => splitRouteConfig(rc)) : nameResources(list);
}

/** The shared layer of a namespace, one object per (shared part, type): every proxy of it gets the same. */
const sharedLayers = new WeakMap<SharedOutbound, Map<PartKey, ResourceLayer>>();

function layersOf(typeUrl: string, parts: ProxyConfigParts): ResourceLayer[] {
  const part = PART[typeUrl];
  if (!part) return [];
  let byPart = sharedLayers.get(parts.shared);
  if (!byPart) sharedLayers.set(parts.shared, (byPart = new Map()));
  let shared = byPart.get(part);
  if (!shared) byPart.set(part, (shared = { key: 'shared', resources: named(part, parts.shared[part]) }));
  return [shared, { key: 'own', resources: named(part, parts.own[part]) }];
}

function wholeOf(typeUrl: string, parts: ProxyConfigParts): unknown[] {
  const part = PART[typeUrl];
  return part ? [...parts.shared[part], ...parts.own[part]] : [];
}

// What each type reads. Kinds read by no generator are declared "accepted, not enforced" in
// src/config/enforcement.ts; the generator set refuses to start when a kind is in neither.
// Gateway listeners carry their certificates (Secret) and L4 routes (VirtualService tcp/tls);
// ServiceEntries add clusters and routes; a Linkerd Server's proxyProtocol shapes its port's
// inbound cluster, route and chain. Listeners carry the inbound authz: Istio's
// AuthorizationPolicy and RequestAuthentication (and the key sets fetched for it, announced as
// RequestAuthentication changes), Linkerd's Server and its authorizations, and the rate limits
// of HTTPLocalRateLimitPolicy on the Server's chains.
const CLUSTER_KINDS: KindRef[] = [
  // WorkloadEntries are endpoints of the Services and ServiceEntries selecting them.
  'networking.istio.io/WorkloadEntry',
  'networking.istio.io/DestinationRule',
  'networking.istio.io/VirtualService',
  'split.smi-spec.io/TrafficSplit',
  'networking.istio.io/Sidecar',
  'networking.istio.io/ServiceEntry',
  'networking.istio.io/Gateway',
  '/Secret',
  // A Server's proxyProtocol sets the protocol its port's inbound cluster speaks to the app.
  'policy.linkerd.io/Server',
  // Gateway API mesh routes: an invalid backend's share gets an empty cluster.
  'gateway.networking.k8s.io/HTTPRoute',
  'gateway.networking.k8s.io/GRPCRoute',
];
const ROUTE_KINDS: KindRef[] = [
  'networking.istio.io/VirtualService',
  'networking.istio.io/DestinationRule',
  'split.smi-spec.io/TrafficSplit',
  'linkerd.io/ServiceProfile',
  'networking.istio.io/Sidecar',
  'networking.istio.io/ServiceEntry',
  'networking.istio.io/Gateway',
  // An opaque or TLS Server port has no inbound route table.
  'policy.linkerd.io/Server',
  'gateway.networking.k8s.io/HTTPRoute',
  'gateway.networking.k8s.io/GRPCRoute',
];
const LISTENER_KINDS: KindRef[] = [
  'security.istio.io/PeerAuthentication',
  'networking.istio.io/Sidecar',
  'networking.istio.io/Gateway',
  '/Secret',
  'networking.istio.io/VirtualService',
  'security.istio.io/AuthorizationPolicy',
  'security.istio.io/RequestAuthentication',
  'policy.linkerd.io/Server',
  'policy.linkerd.io/ServerAuthorization',
  'policy.linkerd.io/AuthorizationPolicy',
  'policy.linkerd.io/MeshTLSAuthentication',
  'policy.linkerd.io/NetworkAuthentication',
  'policy.linkerd.io/HTTPLocalRateLimitPolicy',
];

/** The translation-backed generators: clusters, listeners, routes. */
export function translationGenerators(): ConfigGenerator[] {
  const make = (typeUrl: string, kinds: KindRef[], registry: RegistryChange[]): ConfigGenerator => ({
    typeUrl,
    reads: { kinds, registry },
    generate: (proxy, snap) => wholeOf(typeUrl, cache.translate(proxy, snap)),
    layers: (proxy, snap) => layersOf(typeUrl, cache.translate(proxy, snap)),
  });
  return [
    make(TypeUrl.clusters, CLUSTER_KINDS, ['services', 'workloads', 'endpoints']),
    make(TypeUrl.routes, ROUTE_KINDS, ['services']),
    make(TypeUrl.listeners, LISTENER_KINDS, ['services', 'workloads']),
  ];
}

/** The types these generators serve, in the order proxies subscribe to them. */
export const TRANSLATED_TYPES: readonly string[] = [TypeUrl.clusters, TypeUrl.routes, TypeUrl.listeners];
