/**
 * The per-type generators of the config stream, cut from one translation per proxy: clusters,
 * listeners and routes of the proxy config the translation computes. The translation runs once per
 * proxy and snapshot (cached), whichever type asks first. Each type says which changes concern it
 * (as istiod's skipped*Configs), so an AuthorizationPolicy edit does not regenerate routes.
 */
import type { RouteConfigConfig } from '../../protocol/proxy-config/index.js';
import { TypeUrl } from '../../protocol/stream/messages.js';
import { nameResources, splitRouteConfig, type NamedResource } from '../../protocol/stream/resources.js';
import type { WorkloadRecord } from '../registry/model.js';
import { clusterName, proxyConfigParts, resolveHost, serviceFqdn, type MeshSnapshot, type MeshWorkload, type ProxyConfigParts, type ProxyTraffic, type SharedOutbound } from '../translate/index.js';
import type { ResourceLayer } from '../stream/resource-encoding.js';
import type { ConfigGenerator } from '../push/generator.js';
import { concernsByInputs } from '../push/generator.js';
import type { PushSnapshot } from '../push/snapshot.js';
import type { ProxyNode } from '../stream/source.js';
import { toMeshSnapshot } from './mesh-snapshot.js';
import { localCaptureAddressing } from './local-capture.js';

/** Caches, per snapshot, the mesh view (with a workload index) and each proxy's translation parts. */
class TranslationCache {
  private readonly bySnapshot = new WeakMap<PushSnapshot, { mesh: MeshSnapshot; workloads: Map<string, MeshWorkload>; perProxy: Map<string, ProxyConfigParts> }>();

  translate(proxy: ProxyNode, snap: PushSnapshot): ProxyConfigParts {
    let entry = this.bySnapshot.get(snap);
    if (!entry) {
      const mesh = toMeshSnapshot(snap);
      entry = { mesh, workloads: new Map(mesh.workloads.map((w) => [`${w.namespace}/${w.name}`, w])), perProxy: new Map() };
      this.bySnapshot.set(snap, entry);
    }
    const key = translationKey(proxy, snap);
    let t = entry.perProxy.get(key);
    if (!t) {
      const { workload, traffic } = workloadOf(proxy, entry.workloads.get(`${proxy.namespace}/${proxy.workload}`), snap);
      t = localInboundFix(proxyConfigParts(entry.mesh, workload, traffic), snap, proxy);
      const record = snap.workload(proxy.workload, proxy.namespace);
      if (record?.capture) t = localCaptureAddressing(t, entry.mesh, snap.workloads, record);
      t = explicitOutboundPorts(t, entry.mesh, snap.workload(proxy.workload, proxy.namespace));
      entry.perProxy.set(key, t);
    }
    return t;
  }
}

/**
 * What a proxy's translation depends on: a registered workload is its own key; pods (capture mode)
 * with the same namespace, service account and labels get the same config, so thousands of
 * replicas cost one translation per snapshot.
 */
function translationKey(proxy: ProxyNode, snap: PushSnapshot): string {
  if (snap.workload(proxy.workload, proxy.namespace)) return `workload|${proxy.namespace}|${proxy.workload}`;
  const labels = Object.keys(proxy.labels).sort().map((k) => `${k}=${proxy.labels[k]}`).join(',');
  return `pod|${proxy.namespace}|${proxy.serviceAccount}|${labels}`;
}

/** The registered workload of a proxy (explicit mode, local platform), or a captured pod (capture mode). */
function workloadOf(proxy: ProxyNode, registered: MeshWorkload | undefined, snap: PushSnapshot): { workload: MeshWorkload; traffic: ProxyTraffic } {
  const record = snap.workload(proxy.workload, proxy.namespace);
  if (registered && record) {
    if (record.capture) return { workload: registered, traffic: { mode: 'capture' } };
    return { workload: registered, traffic: { mode: 'explicit', ...(record.outboundPort !== undefined ? { outboundPort: record.outboundPort } : {}) } };
  }
  return {
    workload: { name: proxy.workload, namespace: proxy.namespace, serviceAccount: proxy.serviceAccount, labels: { ...proxy.labels }, address: '0.0.0.0', meshed: true },
    traffic: { mode: 'capture' },
  };
}

/**
 * Instances of one local service each listen on their own app port, while the translation sends
 * inbound traffic to the service's target port: point the inbound clusters at this workload's app port.
 */
function localInboundFix(parts: ProxyConfigParts, snap: PushSnapshot, proxy: ProxyNode): ProxyConfigParts {
  const record = snap.workload(proxy.workload, proxy.namespace);
  // Clients tunnelling with CONNECT (Node fetch with NODE_USE_ENV_PROXY) arrive as opaque TCP over
  // mTLS: inbound HTTP chains also name their cluster for such bytes.
  const listeners = parts.own.listeners.map((l) =>
    l.direction !== 'inbound' ? l : { ...l, chains: l.chains.map((c) => (c.routeConfig?.startsWith('inbound|') && !c.tcpCluster ? { ...c, tcpCluster: c.routeConfig } : c)) },
  );
  let clusters = parts.own.clusters;
  const appPort = record?.ports.length === 1 ? record.ports[0] : undefined;
  if (record?.services?.length && appPort !== undefined) {
    clusters = clusters.map((c) =>
      c.name.startsWith('inbound|') && c.endpoints?.length === 1 && c.endpoints[0]!.address === '127.0.0.1' ? { ...c, endpoints: [{ ...c.endpoints[0]!, port: appPort }] } : c,
    );
  }
  return { ...parts, own: { ...parts.own, listeners, clusters } };
}

/**
 * `meshctl run --outbound SVC:PORT=LOCALPORT`: a listener on 127.0.0.1:LOCALPORT to the service
 * port, for clients that ignore HTTP_PROXY: opaque TCP when the port is TCP, else HTTP routed by
 * the service's routes (the client's Host is 127.0.0.1, so the table matches any authority), with
 * other bytes passed to the service as TCP. Either way mTLS to the peer sidecars.
 */
function explicitOutboundPorts(parts: ProxyConfigParts, mesh: MeshSnapshot, record: WorkloadRecord | undefined): ProxyConfigParts {
  if (!record?.outboundPorts?.length) return parts;
  const clusters = [...parts.own.clusters];
  const routes = [...parts.own.routes];
  const listeners = [...parts.own.listeners];
  const known = new Set([...parts.shared.clusters, ...clusters].map((c) => c.name));
  const table = parts.shared.routes.find((r) => r.name === 'outbound');
  for (const o of record.outboundPorts) {
    const fqdn = resolveHost(o.service, record.namespace, mesh.services);
    const port = mesh.services.find((s) => serviceFqdn(s) === fqdn)?.ports.find((p) => p.port === o.port);
    const cluster = clusterName.outbound(o.port, fqdn);
    // An unknown service still gets its listener: connections fail as "no healthy upstream" until it exists.
    if (!known.has(cluster)) {
      clusters.push({ name: cluster, type: 'static', endpoints: [] });
      known.add(cluster);
    }
    const name = `outbound-local|${o.localPort}`;
    const base = { name, address: '127.0.0.1', port: o.localPort, direction: 'outbound' as const, mode: 'explicit' as const };
    if (port?.protocol === 'tcp') {
      listeners.push({ ...base, chains: [{ name, protocol: 'tcp', tcpCluster: cluster }] });
      continue;
    }
    const vhost = table?.virtualHosts.find((v) => v.name === `${fqdn}:${o.port}`);
    routes.push({ name, virtualHosts: [{ name: `${fqdn}:${o.port}`, domains: ['*'], routes: vhost?.routes ?? [{ name: 'default', route: [{ cluster, weight: 100 }] }] }] });
    const protocol = port?.protocol === 'http' ? 'http1' : port?.protocol === 'http2' || port?.protocol === 'grpc' ? 'http2' : 'auto';
    listeners.push({ ...base, chains: [{ name, protocol, routeConfig: name, tcpCluster: cluster }] });
  }
  return { ...parts, own: { clusters, routes, listeners } };
}

const cache = new TranslationCache();

type PartKey = 'clusters' | 'routes' | 'listeners';
const PART: Record<string, PartKey> = { [TypeUrl.clusters]: 'clusters', [TypeUrl.routes]: 'routes', [TypeUrl.listeners]: 'listeners' };

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

// What each type reads. Kinds not listed anywhere (AuthorizationPolicy, RequestAuthentication,
// Linkerd Server policies) are not translated yet, so their changes push nothing.
// Gateway listeners carry their certificates (Secret) and L4 routes (VirtualService tcp/tls).
const CLUSTER_KINDS = ['DestinationRule', 'VirtualService', 'TrafficSplit', 'ServiceEntry', 'Service', 'Sidecar', 'Secret', 'Gateway'];
const ROUTE_KINDS = ['VirtualService', 'DestinationRule', 'TrafficSplit', 'ServiceProfile', 'Service', 'Sidecar', 'ServiceEntry', 'Gateway'];
const LISTENER_KINDS = ['PeerAuthentication', 'Service', 'Sidecar', 'Gateway', 'Secret', 'VirtualService'];

/** The translation-backed generators: clusters, listeners, routes. */
export function translationGenerators(): ConfigGenerator[] {
  const make = (typeUrl: string, kinds: string[], registry: ('services' | 'workloads' | 'endpoints')[]): ConfigGenerator => ({
    typeUrl,
    concerns: concernsByInputs({ kinds, registry }),
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
