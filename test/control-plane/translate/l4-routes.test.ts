/**
 * VirtualService tcp/tls routes as filter chains (the truth table cites this file for the L4 match
 * fields the end-to-end test cannot reach on loopback): at a capture listener, per service VIP, with
 * destinationSubnets matched by the proxy; at an explicit `--outbound` listener, destinationSubnets
 * decided against the service's VIPs; sourceNamespace, gateways and sourceSubnet decided at
 * translation; weighted destinations at sidecars and gateways. Every config passes the validator.
 */
import { describe, expect, it } from 'vitest';
import { manifestObjects, parseDocuments, validateResource, type MeshResource } from '../../../src/config/index.js';
import { type FilterChainConfig, type ProxyConfig } from '../../../src/protocol/proxy-config/index.js';
import { validateProxyConfig } from '../../../src/protocol/proxy-config/validate.js';
import {
  proxyConfigFor,
  type MeshService,
  type MeshSnapshot,
  type MeshWorkload,
  type ProxyTraffic,
} from '../../../src/control-plane/translate/index.js';

function resources(yaml: string): MeshResource[] {
  return manifestObjects(parseDocuments(yaml, 'test.yaml')).map((o) => {
    const r = validateResource(o, { defaultNamespace: 'default' });
    if (!r.resource && !r.coreObject) throw new Error(r.errors.map((e) => e.message).join('; '));
    return (r.resource ?? r.coreObject) as MeshResource;
  });
}

const db: MeshService = {
  name: 'db',
  namespace: 'default',
  ports: [{ name: 'tcp-db', port: 5432, protocol: 'tcp' }],
  selector: { app: 'db' },
  addresses: ['198.18.10.5'],
};
const dbV1 = {
  name: 'db-v1',
  namespace: 'default',
  serviceAccount: 'db',
  labels: { app: 'db', version: 'v1' },
  address: '198.18.0.11',
  proxyPort: 15006,
  ports: [5432],
} as MeshWorkload;
const dbV2 = { ...dbV1, name: 'db-v2', labels: { app: 'db', version: 'v2' }, address: '198.18.0.12' } as MeshWorkload;
const client = {
  name: 'client-1',
  namespace: 'default',
  serviceAccount: 'client',
  labels: { app: 'client' },
  address: '198.18.0.21',
  capture: true,
} as unknown as MeshWorkload;
const explicitClient = {
  ...client,
  name: 'client-2',
  capture: false,
  outboundPorts: [{ service: 'db', port: 5432, localPort: 15432 }],
} as unknown as MeshWorkload;
const gw = {
  name: 'ingress-1',
  namespace: 'default',
  serviceAccount: 'ingress',
  labels: { istio: 'ingressgateway' },
  address: '127.0.0.1',
  gateway: { address: '127.0.0.1', ports: { 31400: 31400 } },
} as unknown as MeshWorkload;

const subsets = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db}
spec:
  host: db
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

function generate(yaml: string, w: MeshWorkload, traffic: ProxyTraffic): ProxyConfig {
  const snapshot = {
    version: '1',
    trustDomain: 'cluster.local',
    rootNamespace: 'mesh-system',
    services: [db],
    workloads: [dbV1, dbV2, client, explicitClient, gw],
    resources: resources(`${subsets}---\n${yaml}`),
  } as unknown as MeshSnapshot;
  const { config } = proxyConfigFor(snapshot, w, traffic);
  const v = validateProxyConfig({
    ...config,
    identity: { certChain: 'cert.pem', privateKey: 'key.pem', trustRoots: 'root.pem' },
  });
  expect(v.ok ? [] : v.errors).toEqual([]);
  return config;
}

const chainsOf = (c: ProxyConfig, listener: string): FilterChainConfig[] =>
  c.listeners.find((l) => l.name === listener)!.chains.filter((ch) => ch.name !== 'passthrough');

const V1 = 'outbound|5432|v1|db.default.svc.cluster.local';
const V2 = 'outbound|5432|v2|db.default.svc.cluster.local';
const ALL = 'outbound|5432||db.default.svc.cluster.local';

const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: [db]
  tcp:
  - match:
    - destinationSubnets: [198.18.10.0/24]
      sourceLabels: {app: client}
    - sourceNamespace: other          # another namespace's clients: not for default
    - sourceSubnet: 198.18.0.0/16     # not matched by sidecars: never applies
    route:
    - destination: {host: db, subset: v2}
  - match:
    - gateways: [mesh]
    route:
    - destination: {host: db, subset: v1}
      weight: 90
    - destination: {host: db, subset: v2}
      weight: 10
`;

describe('VirtualService tcp routes as chains', () => {
  it('capture: per VIP, in route order, destinationSubnets and sourceLabels matched by the proxy, weights per connection, then the service', () => {
    const c = generate(vs, client, { mode: 'capture' });
    const base = { destinationAddress: '198.18.10.5', destinationPort: 5432 };
    expect(chainsOf(c, 'outbound')).toEqual([
      {
        name: 'db.default.svc.cluster.local:5432',
        match: { ...base, destinationSubnets: ['198.18.10.0/24'], sourceLabels: { app: 'client' } },
        protocol: 'tcp',
        tcpCluster: V2,
      },
      {
        name: 'db.default.svc.cluster.local:5432',
        match: base,
        protocol: 'tcp',
        tcpCluster: V1,
        tcpWeightedClusters: [
          { cluster: V1, weight: 90 },
          { cluster: V2, weight: 10 },
        ],
      },
      { name: 'db.default.svc.cluster.local:5432', match: base, protocol: 'tcp', tcpCluster: ALL },
    ]);
  });

  it('explicit --outbound listener: destinationSubnets decided against the service VIPs', () => {
    const inside = generate(vs, explicitClient, { mode: 'explicit', outboundPort: 15001 });
    expect(chainsOf(inside, 'outbound-local|15432').map((ch) => [ch.match ?? null, ch.tcpCluster])).toEqual([
      [{ sourceLabels: { app: 'client' } }, V2],
      [null, V1],
      [null, ALL],
    ]);
    const outside = generate(vs.replace('198.18.10.0/24', '10.0.0.0/8'), explicitClient, {
      mode: 'explicit',
      outboundPort: 15001,
    });
    expect(chainsOf(outside, 'outbound-local|15432').map((ch) => ch.tcpCluster)).toEqual([V1, ALL]);
  });

  it('a VirtualService bound to a Gateway only does not change sidecars; the gateway splits by weight', () => {
    const bound = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: tcp-gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db}
spec:
  hosts: ["*"]
  gateways: [tcp-gw]
  tcp:
  - route:
    - destination: {host: db, subset: v1, port: {number: 5432}}
      weight: 30
    - destination: {host: db, subset: v2, port: {number: 5432}}
      weight: 70
`;
    const sidecar = generate(bound, client, { mode: 'capture' });
    expect(chainsOf(sidecar, 'outbound').map((ch) => ch.tcpCluster)).toEqual([ALL]);
    const gateway = generate(bound, gw, { mode: 'explicit' });
    const chain = gateway.listeners.find((l) => l.name === 'gateway|31400')!.chains[0]!;
    expect(chain.tcpWeightedClusters).toEqual([
      { cluster: V1, weight: 30 },
      { cluster: V2, weight: 70 },
    ]);
  });
});

describe('ServiceEntry addresses as chains', () => {
  const entries = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: mysql}
spec:
  hosts: [mysql.legacy]
  addresses: [198.18.200.0/24]
  ports: [{number: 3306, name: tcp-mysql, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 198.18.200.10, labels: {zone: a}}, {address: 198.18.200.11, labels: {zone: b}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mysql}
spec:
  host: mysql.legacy
  subsets: [{name: a, labels: {zone: a}}, {name: b, labels: {zone: b}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mysql}
spec:
  hosts: [mysql.legacy]
  tcp:
  - route:
    - {destination: {host: mysql.legacy, subset: a}, weight: 80}
    - {destination: {host: mysql.legacy, subset: b}, weight: 20}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web}
spec:
  hosts: [web.legacy]
  addresses: [198.18.201.1]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: NONE
`;

  it("capture: opaque ports by CIDR and port, with the host's tcp routes; HTTP ports routed whatever the Host", () => {
    const c = generate(entries, client, { mode: 'capture' });
    const chains = chainsOf(c, 'outbound').filter((ch) => ch.name?.endsWith('|addresses'));
    expect(chains).toEqual([
      {
        name: 'mysql.legacy:3306|addresses',
        match: { destinationSubnets: ['198.18.200.0/24'], destinationPort: 3306 },
        protocol: 'tcp',
        tcpCluster: 'outbound|3306|a|mysql.legacy',
        tcpWeightedClusters: [
          { cluster: 'outbound|3306|a|mysql.legacy', weight: 80 },
          { cluster: 'outbound|3306|b|mysql.legacy', weight: 20 },
        ],
      },
      {
        name: 'mysql.legacy:3306|addresses',
        match: { destinationSubnets: ['198.18.200.0/24'], destinationPort: 3306 },
        protocol: 'tcp',
        tcpCluster: 'outbound|3306||mysql.legacy',
      },
      {
        name: 'web.legacy:80|addresses',
        match: { destinationSubnets: ['198.18.201.1'], destinationPort: 80 },
        protocol: 'auto',
        routeConfig: 'web.legacy:80|addresses',
        tcpCluster: 'outbound|80||web.legacy',
      },
    ]);
    const table = c.routes!.find((r) => r.name === 'web.legacy:80|addresses')!;
    expect(table.virtualHosts.map((v) => v.domains)).toEqual([['*']]);
    // The passthrough chain stays last: addresses no entry has still go where they were going (ALLOW_ANY).
    expect(c.listeners.find((l) => l.name === 'outbound')!.chains.at(-1)!.name).toBe('passthrough');
  });

  it('explicit (HTTP_PROXY): a single address is an authority of the entry', () => {
    const c = generate(entries, explicitClient, { mode: 'explicit', outboundPort: 15001 });
    const vh = c.routes!.find((r) => r.name === 'outbound')!.virtualHosts.find((v) => v.name === 'web.legacy:80')!;
    expect(vh.domains).toEqual(['web.legacy', 'web.legacy:80', '198.18.201.1', '198.18.201.1:80']);
  });

  it('apply refuses an address that is no IP or CIDR, naming the field', () => {
    expect(() => resources(entries.replace('198.18.201.1', '198.18.201.1/40'))).toThrow(/invalid prefix|not an IP/);
  });
});
