/**
 * The outbound part of a config is computed once per snapshot and client namespace and shared by
 * the proxies of that namespace (the control-plane benchmark's fix for 1000 services x thousands of
 * proxies). What users must still see: each namespace gets its own view, a new snapshot gets the
 * new config, and endpoints are exactly the workloads a selector picks.
 */
import { describe, expect, it } from 'vitest';
import { manifestObjects, parseDocuments, validateResource, type MeshResource } from '../../../src/config/index.js';
import type { ClusterConfig, ProxyConfig } from '../../../src/protocol/proxy-config/index.js';
import {
  proxyConfigFor,
  type MeshService,
  type MeshSnapshot,
  type MeshWorkload,
} from '../../../src/control-plane/translate/index.js';

function resources(yaml: string): MeshResource[] {
  if (!yaml) return [];
  return manifestObjects(parseDocuments(yaml, 'test.yaml')).map(
    (o) => validateResource(o, { defaultNamespace: 'shop' }).resource!,
  );
}

const wl = (name: string, namespace: string, labels: Record<string, string>, address: string): MeshWorkload => ({
  name,
  namespace,
  serviceAccount: name,
  labels,
  address,
  meshed: true,
});
const svc = (name: string, namespace: string, selector: Record<string, string> | undefined): MeshService => ({
  name,
  namespace,
  addresses: [],
  ports: [{ name: 'http', port: 9080, targetPort: 9080, protocol: 'http' }],
  ...(selector ? { selector } : {}),
});

const workloads = [
  wl('cart-v1', 'shop', { app: 'cart', version: 'v1' }, '198.18.1.1'),
  wl('cart-v2', 'shop', { app: 'cart', version: 'v2' }, '198.18.1.2'),
  wl('cart-other-ns', 'web', { app: 'cart', version: 'v2' }, '198.18.1.3'),
  wl('frontend', 'web', { app: 'frontend' }, '198.18.1.4'),
];
const services = [
  svc('cart', 'shop', { app: 'cart' }),
  svc('cart-v2-only', 'shop', { app: 'cart', version: 'v2' }),
  svc('everything', 'shop', {}),
  svc('external', 'shop', undefined),
];

function snapshot(version: string, yaml = ''): MeshSnapshot {
  return {
    version,
    trustDomain: 'cluster.local',
    rootNamespace: 'mesh-system',
    services,
    workloads,
    resources: resources(yaml),
  };
}

const config = (s: MeshSnapshot, w: MeshWorkload): ProxyConfig =>
  proxyConfigFor(s, w, { mode: 'explicit', outboundPort: 15001 }).config;
const cluster = (c: ProxyConfig, name: string): ClusterConfig | undefined => c.clusters?.find((x) => x.name === name);
const endpointNames = (c: ProxyConfig, service: string): string[] =>
  (cluster(c, `outbound|9080||${service}.shop.svc.cluster.local`)?.endpoints ?? []).map(
    (e) => e.labels?.['meshctl.dev/workload'] ?? '?',
  );
const domains = (c: ProxyConfig): string[] =>
  c.routes!.find((r) => r.name === 'outbound')!.virtualHosts.find((v) => v.name === 'cart.shop.svc.cluster.local:9080')!
    .domains;

const shift = (v2: number) => `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cart, namespace: shop}
spec: {host: cart, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart, namespace: shop}
spec:
  hosts: [cart]
  http:
  - route:
    - {destination: {host: cart, subset: v1}, weight: ${100 - v2}}
    - {destination: {host: cart, subset: v2}, weight: ${v2}}
`;

describe('outbound config shared per snapshot and namespace', () => {
  it('endpoints are the workloads of the service namespace carrying every selector label', () => {
    const c = config(snapshot('1'), workloads[3]!);
    expect(endpointNames(c, 'cart')).toEqual(['cart-v1', 'cart-v2']);
    expect(endpointNames(c, 'cart-v2-only')).toEqual(['cart-v2']);
    expect(endpointNames(c, 'everything')).toEqual(['cart-v1', 'cart-v2']);
    expect(endpointNames(c, 'external')).toEqual([]);
  });

  it('each client namespace gets its own authorities, even from one snapshot', () => {
    const s = snapshot('1');
    const inShop = config(s, workloads[0]!);
    const inWeb = config(s, workloads[3]!);
    expect(domains(inShop)).toContain('cart:9080');
    expect(domains(inWeb)).not.toContain('cart:9080');
    expect(domains(inWeb)).toContain('cart.shop:9080');
    // And asking again in the first namespace does not return the other namespace's view.
    expect(domains(config(s, workloads[1]!))).toContain('cart:9080');
  });

  it('a new snapshot with shifted weights gives every proxy the new weights', () => {
    const weights = (c: ProxyConfig) =>
      c
        .routes!.find((r) => r.name === 'outbound')!
        .virtualHosts.find((v) => v.name === 'cart.shop.svc.cluster.local:9080')!
        .routes[0]!.route!.map((d) => `${d.cluster}=${d.weight}`);
    const before = snapshot('1', shift(10));
    expect(weights(config(before, workloads[0]!))).toEqual([
      'outbound|9080|v1|cart.shop.svc.cluster.local=90',
      'outbound|9080|v2|cart.shop.svc.cluster.local=10',
    ]);
    const after = snapshot('2', shift(50));
    for (const w of workloads)
      expect(weights(config(after, w))).toEqual([
        'outbound|9080|v1|cart.shop.svc.cluster.local=50',
        'outbound|9080|v2|cart.shop.svc.cluster.local=50',
      ]);
    // The old snapshot still translates to its own weights (proxy-status diffs read it).
    expect(weights(config(before, workloads[3]!))).toEqual([
      'outbound|9080|v1|cart.shop.svc.cluster.local=90',
      'outbound|9080|v2|cart.shop.svc.cluster.local=10',
    ]);
  });

  it('a proxy config still carries its own inbound cluster next to the shared outbound ones', () => {
    const s = snapshot('1');
    const cart = config(s, workloads[0]!);
    const frontend = config(s, workloads[3]!);
    expect(cluster(cart, 'inbound|9080||')).toBeDefined();
    expect(cluster(frontend, 'inbound|9080||')).toBeUndefined();
    expect(cart.node!.workload).toBe('cart-v1');
  });
});
