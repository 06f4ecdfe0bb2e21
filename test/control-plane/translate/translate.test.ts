/**
 * The translation from mesh resources (as users write them; the seed's own examples) to proxy
 * config. Every generated config must pass the proxy's validator: what the control plane sends is
 * what the proxy accepts.
 */
import { describe, expect, it } from 'vitest';
import { manifestObjects, parseDocuments, validateResource, type MeshResource } from '../../../src/config/index.js';
import { type ProxyConfig, type RouteSpec } from '../../../src/protocol/proxy-config/index.js';
import { validateProxyConfig } from '../../../src/protocol/proxy-config/validate.js';
import { proxyConfigFor, type MeshSnapshot, type MeshWorkload } from '../../../src/control-plane/translate/index.js';

function resources(yaml: string): MeshResource[] {
  return manifestObjects(parseDocuments(yaml, 'test.yaml')).map((o) => {
    const r = validateResource(o, { defaultNamespace: 'default' });
    if (!r.resource) throw new Error(r.errors.map((e) => e.message).join('; '));
    return r.resource;
  });
}

const workload = (name: string, labels: Record<string, string>, address: string, sa = name): MeshWorkload => ({
  name,
  namespace: 'default',
  serviceAccount: sa,
  labels,
  address,
  meshed: true,
});
const productV1 = workload('product-v1', { app: 'product-service', version: 'v1' }, '198.18.0.11', 'product');
const productV2 = workload('product-v2', { app: 'product-service', version: 'v2' }, '198.18.0.12', 'product');
const user = workload('user-1', { app: 'user-service' }, '198.18.0.21', 'user-service');

function snapshot(yaml: string, extra: Partial<MeshSnapshot> = {}): MeshSnapshot {
  return {
    version: '7',
    trustDomain: 'cluster.local',
    rootNamespace: 'mesh-system',
    services: [
      {
        name: 'product-service',
        namespace: 'default',
        addresses: ['198.19.0.10'],
        ports: [{ name: 'http', port: 8080, targetPort: 8080, protocol: 'http' }],
        selector: { app: 'product-service' },
      },
      {
        name: 'user-service',
        namespace: 'default',
        addresses: ['198.19.0.20'],
        ports: [{ name: 'http', port: 8080, targetPort: 8080, protocol: 'http' }],
        selector: { app: 'user-service' },
      },
    ],
    workloads: [productV1, productV2, user],
    resources: resources(yaml),
    ...extra,
  };
}

function generate(s: MeshSnapshot, w: MeshWorkload = user, mode: 'capture' | 'explicit' = 'capture'): ProxyConfig {
  const { config } = proxyConfigFor(s, w, { mode, outboundPort: 15001 });
  // The streamed config carries no identity: the sidecar's bootstrap adds it (its CA-issued certificate).
  const v = validateProxyConfig({
    ...config,
    identity: { certChain: 'cert.pem', privateKey: 'key.pem', trustRoots: 'root.pem' },
  });
  expect(v.ok ? [] : v.errors).toEqual([]);
  return config;
}

const productRoutes = (c: ProxyConfig): RouteSpec[] =>
  c.routes!.find((r) => r.name === '8080')!.virtualHosts.find((h) => h.name.startsWith('product-service.default'))!
    .routes;

// The seed's VirtualService (header route + 90/10 canary) and DestinationRule (subsets, LEAST_CONN, circuit breaking).
const SEED_CANARY = `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: product-service
spec:
  hosts:
  - product-service
  http:
  - match:
    - headers:
        user-type:
          exact: premium
    route:
    - destination:
        host: product-service
        subset: v2
      weight: 100
  - route:
    - destination:
        host: product-service
        subset: v1
      weight: 90
    - destination:
        host: product-service
        subset: v2
      weight: 10
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: product-service
spec:
  host: product-service
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
  trafficPolicy:
    loadBalancer:
      simple: LEAST_CONN
    connectionPool:
      tcp:
        maxConnections: 100
      http:
        http1MaxPendingRequests: 10
        http2MaxRequests: 2
        maxRequestsPerConnection: 1
    outlierDetection:
      consecutiveErrors: 3
      interval: 30s
      baseEjectionTime: 30s
      maxEjectionPercent: 50
`;

/** Istio's default retry policy, on every forwarding route that sets none. */
const ISTIO_DEFAULT_RETRIES = {
  attempts: 2,
  retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
  retriableStatusCodes: [503],
};

describe('translation of Istio traffic management', () => {
  it('reads connection pool limits of 0 as unset, as Istio does (they were sent as written and NACKed)', () => {
    const c = generate(
      snapshot(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: product-service}
spec:
  host: product-service
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 0, connectTimeout: 1s}
      http: {http1MaxPendingRequests: 0, http2MaxRequests: 0, maxRequestsPerConnection: 0, maxRetries: 0, idleTimeout: 5s}
`),
    );
    const cluster = c.clusters!.find((x) => x.name === 'outbound|8080||product-service.default.svc.cluster.local')!;
    expect(cluster.connectionPool).toEqual({ tcp: { connectTimeout: '1000ms' }, http: { idleTimeout: '5000ms' } });
  });

  it("gives routes without retries Istio's default policy, keeps retryOn as written, and attempts: 0 turns retries off", () => {
    const c = generate(
      snapshot(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: product-service}
spec:
  hosts: [product-service]
  http:
  - match: [{uri: {prefix: /off}}]
    retries: {attempts: 0}
    route: [{destination: {host: product-service}}]
  - match: [{uri: {prefix: /grpc}}]
    retries: {attempts: 3, retryOn: 'unavailable,cancelled,retriable-status-codes,409'}
    route: [{destination: {host: product-service}}]
  - match: [{uri: {prefix: /attempts-only}}]
    retries: {attempts: 4}
    route: [{destination: {host: product-service}}]
  - match: [{uri: {prefix: /old}}]
    redirect: {uri: /new}
  - route: [{destination: {host: product-service}}]
`),
    );
    const routes = productRoutes(c);
    expect(routes.map((r) => r.retries)).toEqual([
      { attempts: 0, retryOn: ISTIO_DEFAULT_RETRIES.retryOn, retriableStatusCodes: [503] },
      { attempts: 3, retryOn: 'unavailable,cancelled,retriable-status-codes,409' },
      { ...ISTIO_DEFAULT_RETRIES, attempts: 4 },
      undefined,
      ISTIO_DEFAULT_RETRIES,
    ]);
  });

  it('routes the header match to v2 and splits the rest 90/10 over subset clusters', () => {
    const c = generate(snapshot(SEED_CANARY));
    const routes = productRoutes(c);
    expect(routes[0]).toEqual({
      match: [{ headers: { 'user-type': { exact: 'premium' } } }],
      route: [{ cluster: 'outbound|8080|v2|product-service.default.svc.cluster.local', weight: 100 }],
      // No retries in the route: Istio's default policy.
      retries: ISTIO_DEFAULT_RETRIES,
    });
    expect(routes[1]!.route).toEqual([
      { cluster: 'outbound|8080|v1|product-service.default.svc.cluster.local', weight: 90 },
      { cluster: 'outbound|8080|v2|product-service.default.svc.cluster.local', weight: 10 },
    ]);
    const v2 = c.clusters!.find((x) => x.name === 'outbound|8080|v2|product-service.default.svc.cluster.local')!;
    expect(v2.endpoints!.map((e) => e.address)).toEqual(['198.18.0.12']);
    expect(v2.endpoints![0]).toMatchObject({
      port: 8080,
      tls: 'mutual',
      identity: 'spiffe://cluster.local/ns/default/sa/product',
    });
    expect(v2.loadBalancer).toEqual({ simple: 'LEAST_CONN' });
    expect(v2.connectionPool).toEqual({
      tcp: { maxConnections: 100 },
      http: { http1MaxPendingRequests: 10, http2MaxRequests: 2, maxRequestsPerConnection: 1 },
    });
    expect(v2.outlierDetection).toEqual({
      consecutiveErrors: 3,
      interval: '30000ms',
      baseEjectionTime: '30000ms',
      maxEjectionPercent: 50,
    });
  });

  it('carries retries, timeouts, fault injection and mirroring as written in the seed', () => {
    const c = generate(
      snapshot(`
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: product-service
spec:
  hosts:
  - product-service
  http:
  - timeout: 5s
    retries:
      attempts: 3
      perTryTimeout: 2s
      retryOn: 5xx,reset,connect-failure
    fault:
      delay:
        percentage:
          value: 10
        fixedDelay: 5s
      abort:
        percentage:
          value: 5
        httpStatus: 503
    route:
    - destination:
        host: product-service
        subset: v1
      weight: 100
    mirror:
      host: product-service
      subset: v2
    mirrorPercentage:
      value: 100
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: product-service
spec:
  host: product-service
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`),
    );
    expect(productRoutes(c)[0]).toEqual({
      route: [{ cluster: 'outbound|8080|v1|product-service.default.svc.cluster.local', weight: 100 }],
      timeout: '5000ms',
      retries: { attempts: 3, perTryTimeout: '2000ms', retryOn: '5xx,reset,connect-failure' },
      fault: {
        delay: { fixedDelay: '5000ms', percentage: { value: 10 } },
        abort: { httpStatus: 503, percentage: { value: 5 } },
      },
      mirror: { cluster: 'outbound|8080|v2|product-service.default.svc.cluster.local', percentage: { value: 100 } },
    });
  });

  it('sends a route to an undefined subset to an empty cluster (503), with a note', () => {
    const s = snapshot(SEED_CANARY.split('---')[0]!);
    const { config, notes } = proxyConfigFor(s, user, { mode: 'capture' });
    expect(
      config.clusters!.find((c) => c.name === 'outbound|8080|v2|product-service.default.svc.cluster.local'),
    ).toEqual({
      name: 'outbound|8080|v2|product-service.default.svc.cluster.local',
      type: 'static',
      endpoints: [],
    });
    expect(notes.map((n) => n.message)).toContain(
      'route "unnamed" sends traffic to outbound|8080|v2|product-service.default.svc.cluster.local, which has no endpoints (is the subset defined in a DestinationRule?)',
    );
  });

  it('lets a DestinationRule turn mTLS off, and gives unmeshed endpoints plaintext', () => {
    const s = snapshot(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: plain
spec:
  host: product-service
  trafficPolicy:
    tls:
      mode: DISABLE
`);
    const c = generate({
      ...s,
      workloads: [...s.workloads.filter((w) => w !== productV2), { ...productV2, meshed: false }],
    });
    expect(
      c
        .clusters!.find((x) => x.name === 'outbound|8080||product-service.default.svc.cluster.local')!
        .endpoints!.map((e) => e.tls),
    ).toEqual(['disable', 'disable']);
    const c2 = generate(snapshot(''));
    expect(
      c2
        .clusters!.find((x) => x.name === 'outbound|8080||product-service.default.svc.cluster.local')!
        .endpoints!.map((e) => e.tls),
    ).toEqual(['mutual', 'mutual']);
  });
});

describe('translation of PeerAuthentication', () => {
  const inbound = (c: ProxyConfig) => c.listeners.find((l) => l.name === 'inbound')!.chains;

  it('is PERMISSIVE by default and STRICT when the namespace says so, with port-level overrides', () => {
    expect(inbound(generate(snapshot(''), productV1))[0]).toMatchObject({
      match: { destinationPort: 8080 },
      tls: 'permissive',
    });
    const strict = snapshot(`
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
spec:
  mtls:
    mode: STRICT
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: product-metrics
spec:
  selector:
    matchLabels:
      app: product-service
  portLevelMtls:
    "9090":
      mode: DISABLE
`);
    expect(inbound(generate(strict, productV1))[0]).toMatchObject({ tls: 'strict' });
    expect(inbound(generate(strict, user))[0]).toMatchObject({ tls: 'strict' });
  });

  it('applies a mesh-wide policy from the root namespace', () => {
    const s = snapshot(`
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
  namespace: mesh-system
spec:
  mtls:
    mode: STRICT
`);
    expect(inbound(generate(s, productV1))[0]).toMatchObject({ tls: 'strict' });
  });
});

describe('translation of Linkerd and SMI', () => {
  it('turns a TrafficSplit into weighted routes over the backend services', () => {
    const s = snapshot(`
apiVersion: split.smi-spec.io/v1alpha1
kind: TrafficSplit
metadata:
  name: product-service-split
spec:
  service: product-service
  backends:
  - service: product-service-v1
    weight: 900m
  - service: product-service-v2
    weight: 100m
`);
    const backends = ['v1', 'v2'].map((v) => ({
      name: `product-service-${v}`,
      namespace: 'default',
      addresses: [],
      ports: [{ port: 8080, targetPort: 8080, protocol: 'http' as const }],
      selector: { app: 'product-service', version: v },
    }));
    const c = generate({ ...s, services: [...s.services, ...backends] });
    expect(productRoutes(c)).toEqual([
      {
        name: 'default',
        route: [
          { cluster: 'outbound|8080||product-service-v1.default.svc.cluster.local', weight: 900 },
          { cluster: 'outbound|8080||product-service-v2.default.svc.cluster.local', weight: 100 },
        ],
        retries: ISTIO_DEFAULT_RETRIES,
      },
    ]);
  });

  it('turns ServiceProfile routes into matched routes with timeouts and a retry budget', () => {
    const c = generate(
      snapshot(`
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata:
  name: product-service.default.svc.cluster.local
  namespace: default
spec:
  retryBudget:
    retryRatio: 0.2
    minRetriesPerSecond: 10
    ttl: 10s
  routes:
  - name: GET /products
    condition:
      method: GET
      pathRegex: /products
    timeout: 500ms
    isRetryable: true
  - name: POST /products
    condition:
      method: POST
      pathRegex: /products
    timeout: 1s
`),
    );
    const routes = productRoutes(c);
    expect(routes.map((r) => r.name)).toEqual(['GET /products', 'POST /products', 'default']);
    expect(routes[0]).toMatchObject({
      match: [{ method: { exact: 'GET' }, uri: { regex: '/products' } }],
      timeout: '500ms',
      retries: { budget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: '10000ms' } },
    });
    // Not retryable: only what never reached the app is retried (Istio's default, 503 for idempotent methods).
    expect(routes[1]!.retries).toEqual(ISTIO_DEFAULT_RETRIES);
  });
});

describe('listeners', () => {
  it('capture mode: 15001 matches service VIPs, everything else passes through; 15006 serves the app ports', () => {
    const c = generate(snapshot(''), productV1, 'capture');
    const out = c.listeners.find((l) => l.name === 'outbound')!;
    expect(out).toMatchObject({ port: 15001, mode: 'capture', direction: 'outbound' });
    expect(out.chains.map((ch) => ch.match)).toContainEqual({
      destinationAddress: '198.19.0.10',
      destinationPort: 8080,
    });
    expect(out.chains.at(-1)).toMatchObject({ tcpCluster: 'PassthroughCluster' });
    expect(c.listeners.find((l) => l.name === 'inbound')).toMatchObject({ port: 15006, mode: 'capture' });
    expect(c.clusters!.find((x) => x.name === 'inbound|8080||')!.endpoints).toEqual([
      { address: '127.0.0.1', port: 8080, tls: 'disable' },
    ]);
  });

  it('explicit mode: an HTTP_PROXY listener with host:port domains, and an inbound listener on the sidecar port', () => {
    const s = snapshot('');
    const v1 = { ...productV1, proxyPort: 18080 };
    const c = generate({ ...s, workloads: [v1, productV2, user] }, v1, 'explicit');
    expect(c.listeners.find((l) => l.name === 'outbound')).toMatchObject({
      address: '127.0.0.1',
      port: 15001,
      mode: 'http-proxy',
    });
    const hosts = c.routes!.find((r) => r.name === 'outbound')!.virtualHosts;
    expect(hosts.find((h) => h.name.startsWith('product-service'))!.domains).toContain('product-service:8080');
    expect(c.listeners.find((l) => l.name === 'inbound|8080||')).toMatchObject({
      port: 18080,
      address: v1.address,
      mode: 'explicit',
    });
    // Peers reach v1 on its sidecar's inbound port.
    expect(
      c
        .clusters!.find((x) => x.name === 'outbound|8080||product-service.default.svc.cluster.local')!
        .endpoints!.find((e) => e.address === '198.18.0.11')!.port,
    ).toBe(18080);
  });
});
