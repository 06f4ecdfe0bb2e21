/**
 * Gateway API HTTPRoute and GRPCRoute with Service parentRefs (GAMMA) -> the sidecars' routes,
 * field by field (src/config/truth/gateway-api.ts cites this file): attachment by parentRefs
 * (port, sectionName), consumer over producer routes, the spec's precedence between rules, every
 * standard filter, weights, timeouts, and how they combine with a VirtualService of the same host
 * (Istio's order). Every generated config passes the proxy's validator.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { manifestObjects, parseDocuments, validateResource, type MeshResource } from '../../../src/config/index.js';
import { type ProxyConfig, type RouteSpec } from '../../../src/protocol/proxy-config/index.js';
import { validateProxyConfig } from '../../../src/protocol/proxy-config/validate.js';
import {
  proxyConfigFor,
  type MeshService,
  type MeshSnapshot,
  type MeshWorkload,
} from '../../../src/control-plane/translate/index.js';

function resources(yaml: string): MeshResource[] {
  return manifestObjects(parseDocuments(yaml, 'test.yaml')).map((o) => {
    const r = validateResource(o, { defaultNamespace: 'default' });
    if (!r.resource) throw new Error(r.errors.map((e) => `${e.field}: ${e.message}`).join('; '));
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
const client = workload('client-1', 'default', { app: 'client' }, '198.18.0.21');
const other = workload('other-1', 'other', { app: 'other' }, '198.18.0.31');

const service = (name: string, ports: MeshService['ports'], addr: string): MeshService => ({
  name,
  namespace: 'default',
  addresses: [addr],
  selector: { app: name },
  ports,
});
const SERVICES: MeshService[] = [
  service(
    'web',
    [
      { name: 'http', port: 8080, targetPort: 8080, protocol: 'http' },
      { name: 'http-admin', port: 9090, targetPort: 9090, protocol: 'http' },
    ],
    '198.19.0.10',
  ),
  service('web-v1', [{ name: 'http', port: 8080, targetPort: 8080, protocol: 'http' }], '198.19.0.11'),
  service('web-v2', [{ name: 'http', port: 8080, targetPort: 8080, protocol: 'http' }], '198.19.0.12'),
  service('greeter', [{ name: 'grpc', port: 50051, targetPort: 50051, protocol: 'grpc' }], '198.19.0.13'),
];

function generate(yaml: string, w: MeshWorkload = client): { config: ProxyConfig; notes: string[] } {
  const snapshot: MeshSnapshot = {
    version: '1',
    trustDomain: 'cluster.local',
    rootNamespace: 'mesh-system',
    services: SERVICES,
    workloads: [client, other],
    resources: resources(yaml),
  };
  const { config, notes } = proxyConfigFor(snapshot, w, { mode: 'capture', outboundPort: 15001 });
  const v = validateProxyConfig({
    ...config,
    identity: { certChain: 'cert.pem', privateKey: 'key.pem', trustRoots: 'root.pem' },
  });
  expect(v.ok ? [] : v.errors).toEqual([]);
  return { config, notes: notes.map((n) => `${n.resource}: ${n.message}`) };
}

const routesOf = (c: ProxyConfig, port = 8080, host = 'web'): RouteSpec[] =>
  c.routes!.find((r) => r.name === String(port))!.virtualHosts.find((h) => h.name.startsWith(`${host}.default`))!
    .routes;
const C = (name: string, port = 8080): string => `outbound|${port}||${name}.default.svc.cluster.local`;

const route = (rules: string, opts: { name?: string; ns?: string; parent?: string; kind?: string } = {}): string => `
apiVersion: gateway.networking.k8s.io/v1
kind: ${opts.kind ?? 'HTTPRoute'}
metadata: {name: ${opts.name ?? 'web'}, namespace: ${opts.ns ?? 'default'}}
spec:
  parentRefs:
  - ${opts.parent ?? '{group: "", kind: Service, name: web, namespace: default, port: 8080}'}
  rules:
${rules}`;

describe('Gateway API mesh routes -> sidecar routes', () => {
  it('backendRefs split by weight on the parentRefs port only; the other port keeps its default route', () => {
    const { config } = generate(
      route(`  - backendRefs:
    - {name: web-v1, port: 8080, weight: 90}
    - {name: web-v2, port: 8080, weight: 10}
    - {name: web-v2, port: 8080, weight: 0}`),
    );
    const [r] = routesOf(config);
    expect(r!.route).toEqual([
      { cluster: C('web-v1'), weight: 90 },
      { cluster: C('web-v2'), weight: 10 },
    ]);
    // PathPrefix "/" (the default match) is a catch-all: no 404 route after it.
    expect(routesOf(config).length).toBe(1);
    expect(routesOf(config, 9090).map((x) => x.route?.[0]?.cluster)).toEqual([C('web', 9090)]);
  });

  it('sectionName attaches to the Service port of that name; a Gateway parentRef attaches to nothing', () => {
    const admin = generate(
      route('  - backendRefs: [{name: web-v2, port: 8080}]', {
        parent: '{group: "", kind: Service, name: web, sectionName: http-admin}',
      }),
    ).config;
    expect(routesOf(admin, 9090)[0]!.route![0]!.cluster).toBe(C('web-v2'));
    expect(routesOf(admin, 8080)[0]!.route![0]!.cluster).toBe(C('web'));
    const gw = generate(route('  - backendRefs: [{name: web-v2, port: 8080}]', { parent: '{name: ingress}' })).config;
    expect(routesOf(gw)[0]!.route![0]!.cluster).toBe(C('web'));
  });

  it('orders matches as the spec says: Exact, longest PathPrefix, RegularExpression, method, headers, queryParams', () => {
    const { config } = generate(
      route(`  - name: regex
    matches: [{path: {type: RegularExpression, value: "/api/v[0-9]+/.*"}}]
    backendRefs: [{name: web-v1, port: 8080}]
  - name: short-prefix
    matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: web-v1, port: 8080}]
  - name: long-prefix
    matches: [{path: {type: PathPrefix, value: /api/v2/}}]
    backendRefs: [{name: web-v2, port: 8080}]
  - name: exact
    matches: [{path: {type: Exact, value: /api/health}}]
    backendRefs: [{name: web, port: 8080}]
  - name: query
    matches: [{path: {value: /x}, queryParams: [{name: Debug, value: "1"}]}]
    backendRefs: [{name: web-v2, port: 8080}]
  - name: headers
    matches:
    - path: {value: /x}
      headers: [{name: X-User, value: jason}, {name: x-env, type: RegularExpression, value: "prod|stage"}]
    backendRefs: [{name: web-v2, port: 8080}]
  - name: method
    matches: [{path: {value: /x}, method: POST}]
    backendRefs: [{name: web-v2, port: 8080}]`),
    );
    const routes = routesOf(config);
    expect(routes.map((r) => r.name)).toEqual([
      'exact',
      'long-prefix',
      'long-prefix',
      'short-prefix',
      'short-prefix',
      'method',
      'method',
      'headers',
      'headers',
      'query',
      'query',
      'regex',
      'no-rule-matched',
    ]);
    // PathPrefix matches whole segments: /api/v2 exactly, or below /api/v2/; never /api/v2x.
    expect(routes[1]!.match).toEqual([{ uri: { exact: '/api/v2' } }]);
    expect(routes[2]!.match).toEqual([{ uri: { prefix: '/api/v2/' } }]);
    expect(routes[5]!.match).toEqual([{ uri: { exact: '/x' }, method: { exact: 'POST' } }]);
    expect(routes[7]!.match).toEqual([
      { uri: { exact: '/x' }, headers: { 'x-user': { exact: 'jason' }, 'x-env': { regex: 'prod|stage' } } },
    ]);
    // Query parameter names are case-sensitive: kept as written.
    expect(routes[9]!.match).toEqual([{ uri: { exact: '/x' }, queryParams: { Debug: { exact: '1' } } }]);
    expect(routes[11]!.match).toEqual([{ uri: { regex: '/api/v[0-9]+/.*' } }]);
    // No rule matched: 404, as a Gateway API parent answers.
    expect(routes[12]!.directResponse).toEqual({ status: 404 });
  });

  it('between routes the older (creationTimestamp), then namespace/name, wins a tie; rules keep their order', () => {
    const yaml = [
      route('  - {name: b, matches: [{path: {value: /p}}], backendRefs: [{name: web-v2, port: 8080}]}', {
        name: 'b-route',
      }).replace('namespace: default}', 'namespace: default, creationTimestamp: "2026-01-01T00:00:00Z"}'),
      '---',
      route('  - {name: a, matches: [{path: {value: /p}}], backendRefs: [{name: web-v1, port: 8080}]}', {
        name: 'a-route',
      }).replace('namespace: default}', 'namespace: default, creationTimestamp: "2026-02-01T00:00:00Z"}'),
    ].join('\n');
    expect(routesOf(generate(yaml).config).map((r) => r.name)).toEqual(['b', 'b', 'a', 'a', 'no-rule-matched']);
  });

  it('filters: requestHeaderModifier, responseHeaderModifier, requestMirror; backendRefs filters per backend', () => {
    const { config } = generate(
      route(`  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: X-Set, value: a}]
        add: [{name: X-Add, value: b}]
        remove: [X-Gone]
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: X-Served-By, value: mesh}]}
    - type: RequestMirror
      requestMirror: {backendRef: {name: web-v2, port: 8080}, percent: 25}
    - type: RequestMirror
      requestMirror: {backendRef: {name: web-v1, port: 8080}, fraction: {numerator: 1, denominator: 8}}
    backendRefs:
    - name: web-v1
      port: 8080
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier: {set: [{name: X-Backend, value: v1}]}`),
    );
    const [r] = routesOf(config);
    expect(r!.headers).toEqual({
      request: { set: { 'x-set': 'a' }, add: { 'x-add': 'b' }, remove: ['x-gone'] },
      response: { set: { 'x-served-by': 'mesh' } },
    });
    expect(r!.mirrors).toEqual([
      { cluster: C('web-v2'), percentage: { value: 25 } },
      { cluster: C('web-v1'), percentage: { value: 12.5 } },
    ]);
    expect(r!.route).toEqual([
      { cluster: C('web-v1'), weight: 1, headers: { request: { set: { 'x-backend': 'v1' } } } },
    ]);
  });

  it('cors: origins exact, wildcard label and *, methods, headers, maxAge (default 5s), allowCredentials', () => {
    const { config } = generate(
      route(`  - filters:
    - type: CORS
      cors:
        allowOrigins: ["https://app.example.com", "https://*.example.org"]
        allowMethods: [GET, POST]
        allowHeaders: [x-user]
        exposeHeaders: [x-trace]
        allowCredentials: true
    backendRefs: [{name: web-v1, port: 8080}]
  - matches: [{path: {value: /open}}]
    filters: [{type: CORS, cors: {allowOrigins: ["*"], maxAge: 60}}]
    backendRefs: [{name: web-v1, port: 8080}]`),
    );
    const routes = routesOf(config);
    expect(routes[0]!.cors).toEqual({ allowOrigins: [{ prefix: '' }], maxAge: '60000ms' });
    expect(routes[2]!.cors).toEqual({
      allowOrigins: [{ exact: 'https://app.example.com' }, { regex: 'https://[^/]+\\.example\\.org' }],
      allowMethods: ['GET', 'POST'],
      allowHeaders: ['x-user'],
      exposeHeaders: ['x-trace'],
      maxAge: '5000ms',
      allowCredentials: true,
    });
  });

  it('requestRedirect: scheme, hostname, port, statusCode, ReplaceFullPath and ReplacePrefixMatch per segment', () => {
    const { config } = generate(
      route(`  - matches: [{path: {value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}, statusCode: 301}
  - matches: [{path: {type: Exact, value: /moved}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {scheme: https, hostname: www.example.com, path: {type: ReplaceFullPath, replaceFullPath: /here}}
  - matches: [{path: {type: Exact, value: /port}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {hostname: other.example, port: 8443}`),
    );
    const byName = routesOf(config);
    const moved = byName.find(
      (r) => r.match?.[0]?.uri && 'exact' in r.match[0].uri && r.match[0].uri.exact === '/moved',
    );
    expect(moved!.redirect).toEqual({
      scheme: 'https',
      authority: 'www.example.com',
      derivePort: 'FROM_PROTOCOL_DEFAULT',
      uri: '/here',
      redirectCode: 302,
    });
    const port = byName.find((r) => r.match?.[0]?.uri && 'exact' in r.match[0].uri && r.match[0].uri.exact === '/port');
    expect(port!.redirect).toEqual({ authority: 'other.example', port: 8443, redirectCode: 302 });
    const old = byName.filter((r) => r.redirect?.redirectCode === 301);
    expect(old.map((r) => [r.match, r.redirect])).toEqual([
      [[{ uri: { exact: '/old' } }], { derivePort: 'FROM_REQUEST_PORT', uri: '/new', redirectCode: 301 }],
      [[{ uri: { prefix: '/old/' } }], { derivePort: 'FROM_REQUEST_PORT', prefixRewrite: '/new/', redirectCode: 301 }],
    ]);
  });

  it('urlRewrite: hostname, ReplacePrefixMatch (segment-wise) and ReplaceFullPath', () => {
    const { config } = generate(
      route(`  - matches: [{path: {value: /v1/}}]
    filters:
    - type: URLRewrite
      urlRewrite: {hostname: web.internal, path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}
    backendRefs: [{name: web-v1, port: 8080}]
  - matches: [{path: {type: Exact, value: /legacy}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /modern}}
    backendRefs: [{name: web-v1, port: 8080}]`),
    );
    const routes = routesOf(config);
    const legacy = routes.find((r) => r.rewrite?.uriRegex);
    expect(legacy!.rewrite).toEqual({ uriRegex: { match: '/.*', rewrite: '/modern' } });
    expect(routes.filter((r) => r.rewrite?.authority).map((r) => [r.match, r.rewrite])).toEqual([
      [[{ uri: { exact: '/v1' } }], { authority: 'web.internal', uri: '/' }],
      [[{ uri: { prefix: '/v1/' } }], { authority: 'web.internal', uri: '/' }],
    ]);
  });

  it('timeouts: request is the route timeout, backendRequest the per-try timeout; 0s means none', () => {
    const { config } = generate(
      route(`  - matches: [{path: {value: /a}}]
    timeouts: {request: 10s, backendRequest: 2s}
    backendRefs: [{name: web-v1, port: 8080}]
  - timeouts: {request: 0s}
    backendRefs: [{name: web-v1, port: 8080}]`),
    );
    const [a, , all] = routesOf(config);
    expect(a!.timeout).toBe('10000ms');
    expect(a!.retries?.perTryTimeout).toBe('2000ms');
    expect(all!.timeout).toBeUndefined();
  });

  it('retry (experimental channel): attempts, codes and backoff; attempts 0 turns retries off', () => {
    const { config } = generate(
      route(`  - matches: [{path: {value: /a}}]
    retry: {attempts: 3, codes: [500, 502], backoff: 100ms}
    backendRefs: [{name: web-v1, port: 8080}]
  - retry: {attempts: 0}
    backendRefs: [{name: web-v1, port: 8080}]`),
    );
    const [a, , all] = routesOf(config);
    expect(a!.retries).toEqual({
      attempts: 3,
      retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
      retriableStatusCodes: [500, 502],
      backoff: { baseInterval: '100ms' },
    });
    expect(all!.retries?.attempts).toBe(0);
  });

  it('a rule without a valid backend answers 500; an invalid backend among valid ones gets its share failed', () => {
    const { config, notes } = generate(
      route(`  - matches: [{path: {value: /none}}]
    backendRefs: [{name: missing, port: 8080}]
  - backendRefs:
    - {name: web-v1, port: 8080, weight: 3}
    - {name: elsewhere, namespace: other, port: 8080, weight: 1}`),
    );
    const routes = routesOf(config);
    expect(routes[0]!.directResponse).toEqual({ status: 500 });
    expect(routes[2]!.route).toEqual([
      { cluster: C('web-v1'), weight: 3 },
      { cluster: 'gateway-api-invalid-backend', weight: 1 },
    ]);
    expect(config.clusters!.find((c) => c.name === 'gateway-api-invalid-backend')!.endpoints).toEqual([]);
    expect(notes.filter((n) => n.startsWith('HTTPRoute web.default'))).toEqual([
      'HTTPRoute web.default: backendRef not routable, its share of requests fails: Service missing.default does not exist',
      'HTTPRoute web.default: backendRef not routable, its share of requests fails: Service elsewhere.other is in another namespace (ReferenceGrant is not supported)',
    ]);
  });

  it('GRPCRoute: method matches become gRPC paths (service+method exact, service prefix, regex), with headers', () => {
    const { config } = generate(
      route(
        `  - matches: [{method: {service: helloworld.Greeter, method: SayHello}, headers: [{name: x-canary, value: "true"}]}]
    backendRefs: [{name: web-v2, port: 8080}]
  - matches: [{method: {service: helloworld.Greeter}}]
    backendRefs: [{name: web-v1, port: 8080}]
  - matches: [{method: {type: RegularExpression, method: "Say.*"}}]
    backendRefs: [{name: web-v1, port: 8080}]`,
        { kind: 'GRPCRoute', name: 'greeter', parent: '{group: "", kind: Service, name: greeter}' },
      ),
    );
    const routes = routesOf(config, 50051, 'greeter');
    expect(routes.map((r) => r.match)).toEqual([
      [{ uri: { exact: '/helloworld.Greeter/SayHello' }, headers: { 'x-canary': { exact: 'true' } } }],
      [{ uri: { prefix: '/helloworld.Greeter/' } }],
      [{ uri: { regex: '/[^/]+/Say.*' } }],
      undefined,
    ]);
    expect(routes[3]!.directResponse).toEqual({ status: 404 });
  });

  it('a consumer route (client namespace) replaces the producer route for its namespace only', () => {
    const yaml = [
      route('  - backendRefs: [{name: web-v1, port: 8080}]'),
      '---',
      route('  - backendRefs: [{name: web, namespace: default, port: 8080}]', { ns: 'other', name: 'consumer' }),
    ].join('\n');
    expect(routesOf(generate(yaml, client).config)[0]!.route![0]!.cluster).toBe(C('web-v1'));
    // A consumer route may send to its own parent Service across namespaces without a ReferenceGrant.
    expect(routesOf(generate(yaml, other).config)[0]!.route![0]!.cluster).toBe(C('web'));
  });

  describe('with a VirtualService for the same host (Istio: the first in its order takes the whole host)', () => {
    const vs = (meta = ''): string => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-vs, namespace: default${meta}}
spec:
  hosts: [web]
  http:
  - route: [{destination: {host: web-v2}}]`;
    const httpRoute = (meta = ''): string =>
      route('  - backendRefs: [{name: web-v1, port: 8080}]').replace(
        'namespace: default}',
        `namespace: default${meta}}`,
      );
    const first = (yaml: string, w = client): string => routesOf(generate(yaml, w).config)[0]!.route![0]!.cluster;

    it('both public, creation times unknown (local platform): the VirtualService', () => {
      expect(first(`${vs()}\n---\n${httpRoute()}`, other)).toBe(C('web-v2'));
    });
    it('both public: the older one', () => {
      const older = ', creationTimestamp: "2026-01-01T00:00:00Z"';
      const newer = ', creationTimestamp: "2026-03-01T00:00:00Z"';
      expect(first(`${vs(newer)}\n---\n${httpRoute(older)}`, other)).toBe(C('web-v1'));
      expect(first(`${vs(older)}\n---\n${httpRoute(newer)}`, other)).toBe(C('web-v2'));
    });
    it("a route in the client's namespace beats a public VirtualService; a private VirtualService beats it", () => {
      expect(first(`${vs()}\n---\n${httpRoute()}`, client)).toBe(C('web-v1'));
      expect(first(`${vs().replace('  hosts: [web]', '  hosts: [web]\n  exportTo: ["."]')}\n---\n${httpRoute()}`)).toBe(
        C('web-v2'),
      );
    });
  });
});

describe("the README's GAMMA example (producer and consumer route of the faces demo), as written", () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const yaml = /<!-- example:gamma -->\n```yaml\n([\s\S]*?)```\n<!-- \/example:gamma -->/.exec(readme)![1]!;
  const faces = (name: string, addr: string): MeshService => ({
    name,
    namespace: 'faces',
    addresses: [addr],
    selector: { app: name },
    ports: [{ name: 'http', port: 80, targetPort: 8000, protocol: 'http' }],
  });
  const snapshot: MeshSnapshot = {
    version: '1',
    trustDomain: 'cluster.local',
    rootNamespace: 'mesh-system',
    services: [faces('smiley', '198.19.1.10'), faces('smiley2', '198.19.1.11')],
    workloads: [],
    resources: resources(yaml),
  };
  const smileyRoutes = (ns: string): RouteSpec[] => {
    const w = workload('c', ns, { app: 'c' }, '198.18.1.1');
    const { config } = proxyConfigFor(snapshot, w, { mode: 'capture', outboundPort: 15001 });
    return config.routes!.find((r) => r.name === '80')!.virtualHosts.find((h) => h.name.startsWith('smiley.faces'))!
      .routes;
  };
  const SMILEY = 'outbound|80||smiley.faces.svc.cluster.local';

  it('every client but those of fast-clients: 90/10 smiley/smiley2, no timeout', () => {
    for (const ns of ['faces', 'default']) {
      const [r] = smileyRoutes(ns);
      expect(r!.route).toEqual([
        { cluster: SMILEY, weight: 90 },
        { cluster: 'outbound|80||smiley2.faces.svc.cluster.local', weight: 10 },
      ]);
      expect(r!.timeout).toBeUndefined();
    }
  });

  it('clients in fast-clients: smiley alone, 100ms request timeout', () => {
    const [r] = smileyRoutes('fast-clients');
    expect(r!.route).toEqual([{ cluster: SMILEY, weight: 1 }]);
    expect(r!.timeout).toBe('100ms');
  });
});
