/**
 * Fields of the Istio kinds that the seed examples do not use, one at a time, as they land in the
 * proxy config (the truth tables in src/config/truth/ cite this file for each of them). Every
 * generated config passes the proxy's validator.
 */
import { describe, expect, it } from 'vitest';
import { manifestObjects, parseDocuments, validateResource, type MeshResource } from '../../../src/config/index.js';
import { type ClusterConfig, type ProxyConfig, type RouteSpec } from '../../../src/protocol/proxy-config/index.js';
import { validateProxyConfig } from '../../../src/protocol/proxy-config/validate.js';
import { proxyConfigFor, type MeshSnapshot, type MeshWorkload } from '../../../src/control-plane/translate/index.js';

function resources(yaml: string): MeshResource[] {
  return manifestObjects(parseDocuments(yaml, 'test.yaml')).map((o) => {
    const r = validateResource(o, { defaultNamespace: 'default' });
    if (!r.resource) throw new Error(r.errors.map((e) => e.message).join('; '));
    return r.resource;
  });
}

const workload = (name: string, namespace: string, labels: Record<string, string>, address: string): MeshWorkload => ({
  name,
  namespace,
  serviceAccount: name,
  labels,
  address,
  meshed: true,
});
const web = workload('web-1', 'default', { app: 'web' }, '198.18.0.11');
const client = workload('client-1', 'default', { app: 'client' }, '198.18.0.21');
const other = workload('other-1', 'other', { app: 'other' }, '198.18.0.31');

function generate(yaml: string, w: MeshWorkload = client): ProxyConfig {
  const snapshot: MeshSnapshot = {
    version: '1',
    trustDomain: 'cluster.local',
    rootNamespace: 'mesh-system',
    services: [
      {
        name: 'web',
        namespace: 'default',
        addresses: ['198.19.0.10'],
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 8080, targetPort: 8080, protocol: 'http' },
          { name: 'http-admin', port: 9090, targetPort: 9090, protocol: 'http' },
        ],
      },
    ],
    workloads: [web, client, other],
    resources: resources(yaml),
  };
  const { config } = proxyConfigFor(snapshot, w, { mode: 'capture', outboundPort: 15001 });
  const v = validateProxyConfig({
    ...config,
    identity: { certChain: 'cert.pem', privateKey: 'key.pem', trustRoots: 'root.pem' },
  });
  expect(v.ok ? [] : v.errors).toEqual([]);
  return config;
}

const routesOf = (c: ProxyConfig, port = 8080): RouteSpec[] =>
  c.routes!.find((r) => r.name === String(port))!.virtualHosts.find((h) => h.name.startsWith('web.default'))!.routes;
const clusterOf = (c: ProxyConfig, name: string): ClusterConfig => c.clusters!.find((x) => x.name === name)!;
const WEB = 'web.default.svc.cluster.local';

const vs = (http: string, extra = ''): string => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
${extra}  http:
${http}`;

describe('VirtualService fields in the proxy config', () => {
  it('gateways: a VirtualService bound only to a gateway does not route the sidecars; with `mesh` it does', () => {
    const http = '  - route: [{destination: {host: web, port: {number: 9090}}}]\n';
    // The sidecars keep the service's default route (with Istio's default retry policy), not the gateway's.
    expect(
      routesOf(generate(vs(http, '  gateways: [web-gateway]\n'))).map((r) => ({ name: r.name, route: r.route })),
    ).toEqual([{ name: 'default', route: [{ cluster: `outbound|8080||${WEB}`, weight: 100 }] }]);
    expect(routesOf(generate(vs(http, '  gateways: [web-gateway, mesh]\n')))[0]!.route).toEqual([
      { cluster: `outbound|9090||${WEB}`, weight: 100 },
    ]);
  });

  it('match: scheme, ignoreUriCase and withoutHeaders reach the route match', () => {
    const routes = routesOf(
      generate(
        vs(`  - match:
    - scheme: {exact: https}
      uri: {prefix: /API}
      ignoreUriCase: true
      withoutHeaders: {x-debug: {}}
    route: [{destination: {host: web}}]
`),
      ),
    );
    expect(routes[0]!.match).toEqual([
      {
        scheme: { exact: 'https' },
        uri: { prefix: '/API' },
        ignoreUriCase: true,
        withoutHeaders: { 'x-debug': { present: true } },
      },
    ]);
  });

  it('match: port, sourceNamespace and gateways decide whether a route applies to this port and client', () => {
    const yaml = vs(`  - name: admin-only
    match: [{port: 9090}]
    route: [{destination: {host: web, port: {number: 9090}}}]
  - name: from-other
    match: [{sourceNamespace: other}]
    route: [{destination: {host: web}}]
  - name: gateway-only
    match: [{gateways: [web-gateway]}]
    route: [{destination: {host: web}}]
  - name: rest
    route: [{destination: {host: web}}]
`);
    expect(routesOf(generate(yaml), 8080).map((r) => r.name)).toEqual(['rest']);
    expect(routesOf(generate(yaml), 9090).map((r) => r.name)).toEqual(['admin-only', 'rest']);
    expect(routesOf(generate(yaml, other), 8080).map((r) => r.name)).toEqual(['from-other', 'rest']);
  });

  it('route[].headers, fault.delay.percent (deprecated), abort.grpcStatus and mirrorPercent (deprecated)', () => {
    const [r] = routesOf(
      generate(
        vs(`  - route:
    - destination: {host: web}
      headers: {request: {set: {x-version: v1}}}
    fault:
      delay: {fixedDelay: 1s, percent: 20}
      abort: {grpcStatus: UNAVAILABLE, percentage: {value: 5}}
    mirror: {host: web, port: {number: 9090}}
    mirrorPercent: 30
`),
      ),
    );
    expect(r!.route).toEqual([
      { cluster: `outbound|8080||${WEB}`, weight: 100, headers: { request: { set: { 'x-version': 'v1' } } } },
    ]);
    expect(r!.fault).toEqual({
      delay: { fixedDelay: '1000ms', percentage: { value: 20 } },
      abort: { grpcStatus: 14, percentage: { value: 5 } },
    });
    expect(r!.mirror).toEqual({ cluster: `outbound|9090||${WEB}`, percentage: { value: 30 } });
    const [old] = routesOf(
      generate(vs('  - route: [{destination: {host: web}}]\n    mirror: {host: web}\n    mirror_percent: 15\n')),
    );
    expect(old!.mirror).toEqual({ cluster: `outbound|8080||${WEB}`, percentage: { value: 15 } });
  });
});

describe('VirtualService redirects, regex rewrites and mirrors in the proxy config', () => {
  it('redirect.derivePort and redirect.prefixRewrite, rewrite.uriRegexRewrite', () => {
    const routes = routesOf(
      generate(
        vs(`  - match: [{uri: {prefix: /old/}}]
    redirect: {prefixRewrite: /new/, derivePort: FROM_REQUEST_PORT}
  - match: [{uri: {prefix: /svc/}}]
    rewrite:
      uriRegexRewrite: {match: "^/svc/([^/]+)/(.*)$", rewrite: '/\\2/of/\\1'}
    route: [{destination: {host: web}}]
`),
      ),
    );
    expect(routes[0]!.redirect).toEqual({ prefixRewrite: '/new/', derivePort: 'FROM_REQUEST_PORT' });
    expect(routes[1]!.rewrite).toEqual({ uriRegex: { match: '^/svc/([^/]+)/(.*)$', rewrite: '/\\2/of/\\1' } });
  });

  it('mirrors: every entry becomes a mirror with its own share (100% when left out)', () => {
    const [r] = routesOf(
      generate(
        vs(`  - route: [{destination: {host: web}}]
    mirrors:
    - destination: {host: web, port: {number: 9090}}
      percentage: {value: 25}
    - destination: {host: web}
`),
      ),
    );
    expect(r!.mirrors).toEqual([
      { cluster: `outbound|9090||${WEB}`, percentage: { value: 25 } },
      { cluster: `outbound|8080||${WEB}`, percentage: { value: 100 } },
    ]);
    expect(r!.mirror).toBeUndefined();
  });
});

describe('exportTo: which namespaces see a VirtualService or DestinationRule', () => {
  const yaml = (vsExport: string, drExport: string): string => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  exportTo: ${vsExport}
  http:
  - route: [{destination: {host: web, port: {number: 9090}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: default}
spec:
  host: web
  exportTo: ${drExport}
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
`;
  const seen = (c: ProxyConfig): [string | undefined, unknown] => [
    routesOf(c)[0]!.route?.[0]?.cluster,
    clusterOf(c, `outbound|8080||${WEB}`).loadBalancer,
  ];

  it('`.` keeps them to their own namespace: a client elsewhere gets the default route and policy', () => {
    expect(seen(generate(yaml('["."]', '["."]'), client))).toEqual([`outbound|9090||${WEB}`, { simple: 'RANDOM' }]);
    expect(seen(generate(yaml('["."]', '["."]'), other))).toEqual([`outbound|8080||${WEB}`, undefined]);
  });

  it('a namespace name or `*` exports there; `~` hides from everyone', () => {
    expect(seen(generate(yaml('[other]', '["*"]'), other))).toEqual([`outbound|9090||${WEB}`, { simple: 'RANDOM' }]);
    expect(seen(generate(yaml('[other]', '["~"]'), client))).toEqual([`outbound|8080||${WEB}`, undefined]);
  });
});

describe('DestinationRule fields in the proxy config', () => {
  it('httpQueryParameterName, maxRetries and idleTimeout reach the cluster', () => {
    const c = generate(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  trafficPolicy:
    loadBalancer: {consistentHash: {httpQueryParameterName: user}}
    connectionPool: {http: {maxRetries: 4, idleTimeout: 30s}}
`);
    const cl = clusterOf(c, `outbound|8080||${WEB}`);
    expect(cl.loadBalancer).toEqual({ consistentHash: { httpQueryParameterName: 'user' } });
    expect(cl.connectionPool).toEqual({ http: { maxRetries: 4, idleTimeout: '30000ms' } });
  });

  it('simple: PASSTHROUGH makes an original-destination cluster (Envoy ORIGINAL_DST), for the rule and its subsets', () => {
    const c = generate(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  trafficPolicy:
    loadBalancer: {simple: PASSTHROUGH}
  subsets:
  - {name: v1, labels: {app: web}}
`);
    for (const name of [`outbound|8080||${WEB}`, `outbound|8080|v1|${WEB}`]) {
      const cl = clusterOf(c, name);
      expect(cl).toMatchObject({ type: 'originalDst', loadBalancer: { simple: 'PASSTHROUGH' }, tls: 'disable' });
      expect(cl.endpoints).toBeUndefined();
    }
  });

  it('portLevelSettings: the entry for a port replaces the destination-level policy on that port only', () => {
    const c = generate(`
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  trafficPolicy:
    loadBalancer: {simple: RANDOM}
    portLevelSettings:
    - port: {number: 9090}
      loadBalancer: {simple: LEAST_REQUEST}
  subsets:
  - name: v1
    labels: {app: web}
    trafficPolicy:
      portLevelSettings:
      - port: {number: 8080}
        connectionPool: {tcp: {maxConnections: 7}}
`);
    expect(clusterOf(c, `outbound|8080||${WEB}`).loadBalancer).toEqual({ simple: 'RANDOM' });
    expect(clusterOf(c, `outbound|9090||${WEB}`).loadBalancer).toEqual({ simple: 'LEAST_REQUEST' });
    expect(clusterOf(c, `outbound|8080|v1|${WEB}`).connectionPool).toEqual({ tcp: { maxConnections: 7 } });
    expect(clusterOf(c, `outbound|9090|v1|${WEB}`).connectionPool).toBeUndefined();
  });
});

describe('ServiceProfile fields in the proxy config', () => {
  const profile = (classes: string): string => `
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: web.default.svc.cluster.local, namespace: default}
spec:
  routes:
  - name: GET /items
    condition: {method: GET, pathRegex: /items}
    isRetryable: true
${classes}`;

  it('responseClasses decide which statuses a retryable route retries (first class wins, else 5xx)', () => {
    const [r] = routesOf(
      generate(
        profile(`    responseClasses:
    - condition: {status: {min: 503, max: 503}}
      isFailure: false
    - condition: {any: [{status: {min: 429, max: 429}}, {all: [{status: {min: 500}}, {not: {status: {min: 501, max: 599}}}]}]}
      isFailure: true
`),
      ),
    );
    const codes = r!.retries!.retriableStatusCodes!;
    expect(r!.retries!.retryOn).toBe('retriable-status-codes,reset,connect-failure,refused-stream');
    expect(codes).toContain(429);
    expect(codes).toContain(500);
    expect(codes).toContain(502);
    expect(codes).not.toContain(503);
    expect(codes).not.toContain(404);
    expect(codes.filter((c) => c < 500)).toEqual([429]);
  });

  const overrides = (extra = ''): string => `
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: web.default.svc.cluster.local, namespace: default}
spec:
  dstOverrides:
  - {authority: web-v1.default.svc.cluster.local:8080, weight: 900m}
  - {authority: web, weight: 100m}
  - {authority: web-v3.default.svc.cluster.local:8081, weight: 0}
${extra}`;

  it('dstOverrides split every route of the profile by weight (a bare host keeps the port asked for)', () => {
    const routes = routesOf(
      generate(
        overrides(`  routes:
  - name: GET /items
    condition: {method: GET, pathRegex: /items}
`),
      ),
    );
    expect(routes.map((r) => r.name)).toEqual(['GET /items', 'default']);
    for (const r of routes)
      expect(r.route).toEqual([
        { cluster: 'outbound|8080||web-v1.default.svc.cluster.local', weight: 900 },
        { cluster: `outbound|8080||${WEB}`, weight: 100 },
        { cluster: 'outbound|8081||web-v3.default.svc.cluster.local', weight: 0 },
      ]);
    // On the service's second port a bare host follows that port.
    expect(routesOf(generate(overrides()), 9090)[0]!.route![1]).toEqual({
      cluster: `outbound|9090||${WEB}`,
      weight: 100,
    });
  });

  it('a TrafficSplit of the same service wins over dstOverrides, as in Linkerd', () => {
    const [r] = routesOf(
      generate(`${overrides()}---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: web, namespace: default}
spec:
  service: web
  backends:
  - {service: web-canary.default.svc.cluster.local, weight: 1}
`),
    );
    expect(r!.route).toEqual([{ cluster: 'outbound|8080||web-canary.default.svc.cluster.local', weight: 1 }]);
  });

  it('dstOverrides with only zero weights send traffic to the service itself', () => {
    const [r] = routesOf(
      generate(`
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: {name: web.default.svc.cluster.local, namespace: default}
spec:
  dstOverrides:
  - {authority: web-v1.default.svc.cluster.local:8080, weight: 0}
`),
    );
    expect(r!.route).toEqual([{ cluster: `outbound|8080||${WEB}`, weight: 100 }]);
  });

  it('without responseClasses a retryable route retries 5xx', () => {
    const [r] = routesOf(generate(profile('')));
    expect(r!.retries).toMatchObject({ retryOn: '5xx,gateway-error,reset,connect-failure,refused-stream' });
    expect(r!.retries!.retriableStatusCodes).toBeUndefined();
  });
});
