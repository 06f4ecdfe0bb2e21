/**
 * Sidecar egress scoping: a proxy's outbound config holds only the services its Sidecar's egress
 * hosts name (the namespace's Sidecar, else the root namespace's default), so large meshes send
 * each proxy what it calls. Its inbound side is untouched.
 */
import { describe, expect, it } from 'vitest';
import { manifestObjects, parseDocuments, validateResource, type MeshResource } from '../../../src/config/index.js';
import type { ProxyConfig } from '../../../src/protocol/proxy-config/index.js';
import {
  proxyConfigFor,
  type MeshService,
  type MeshSnapshot,
  type MeshWorkload,
} from '../../../src/control-plane/translate/index.js';

function resources(yaml: string): MeshResource[] {
  return manifestObjects(parseDocuments(yaml, 'sidecar.yaml')).map((o) => {
    const v = validateResource(o, { defaultNamespace: 'shop' });
    if (!v.resource) throw new Error(`invalid test resource: ${JSON.stringify(v)}`);
    return v.resource;
  });
}

const svc = (name: string, namespace: string): MeshService => ({
  name,
  namespace,
  addresses: [],
  ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'http' }],
  selector: { app: name },
});
const wl = (name: string, namespace: string, app: string): MeshWorkload => ({
  name,
  namespace,
  serviceAccount: name,
  labels: { app },
  address: '198.18.2.1',
  meshed: true,
});
const services = [
  svc('cart', 'shop'),
  svc('pay', 'shop'),
  svc('ads', 'web'),
  svc('search', 'web'),
  svc('audit', 'mesh-system'),
];
const workloads = [wl('cart-1', 'shop', 'cart'), wl('front-1', 'web', 'front')];

function snapshot(yaml: string): MeshSnapshot {
  return {
    version: '1',
    trustDomain: 'cluster.local',
    rootNamespace: 'mesh-system',
    services,
    workloads,
    resources: yaml ? resources(yaml) : [],
  };
}
// The services' virtual hosts (not the outboundTrafficPolicy catch-all, `allow_any` or `block_all`).
const hosts = (c: ProxyConfig): string[] =>
  c
    .routes!.find((r) => r.name === 'outbound')!
    .virtualHosts.filter((v) => !v.domains.includes('*'))
    .map((v) => v.name.replace('.svc.cluster.local:9080', ''))
    .sort();
const outboundClusters = (c: ProxyConfig): string[] =>
  c
    .clusters!.filter((x) => x.name.startsWith('outbound|'))
    .map((x) => x.name.split('|')[3]!.replace('.svc.cluster.local', ''))
    .sort();
const config = (s: MeshSnapshot, w: MeshWorkload) =>
  proxyConfigFor(s, w, { mode: 'explicit', outboundPort: 15001 }).config;

describe('Sidecar egress scoping', () => {
  it('without a Sidecar, a proxy sees every service', () => {
    expect(hosts(config(snapshot(''), workloads[0]!))).toEqual([
      'ads.web',
      'audit.mesh-system',
      'cart.shop',
      'pay.shop',
      'search.web',
    ]);
  });

  it("a namespace's Sidecar limits its proxies to the egress hosts; other namespaces fall back to the root default", () => {
    const s = snapshot(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress:
  - hosts: ["./*", "web/search.web.svc.cluster.local"]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: mesh-system}
spec:
  egress:
  - hosts: ["./*", "mesh-system/*"]
`);
    const shop = config(s, workloads[0]!);
    expect(hosts(shop)).toEqual(['cart.shop', 'pay.shop', 'search.web']);
    expect(outboundClusters(shop)).toEqual(['cart.shop', 'pay.shop', 'search.web']);
    // The inbound side still serves cart.
    expect(shop.listeners.some((l) => l.direction === 'inbound')).toBe(true);
    const web = config(s, workloads[1]!);
    expect(hosts(web)).toEqual(['ads.web', 'audit.mesh-system', 'search.web']);
  });

  it('a workload-selecting Sidecar wins over the namespace one; "~/*" sees nothing', () => {
    const s = snapshot(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress:
  - hosts: ["~/*"]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: cart, namespace: shop}
spec:
  workloadSelector: {labels: {app: cart}}
  egress:
  - hosts: ["*/pay.shop.svc.cluster.local", "web/*"]
`);
    expect(hosts(config(s, workloads[0]!))).toEqual(['ads.web', 'pay.shop', 'search.web']);
    expect(hosts(config(s, { ...workloads[0]!, name: 'other', labels: { app: 'other' } }))).toEqual([]);
  });
});
