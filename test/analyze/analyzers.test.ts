/**
 * Each analyzer next to its near misses: the configuration that must NOT trigger it, and the
 * platform overlay (a snapshot feeding services and workloads, with -f files overriding it).
 */
import { describe, expect, it } from 'vitest';
import { formatFinding } from '../../src/analyze/render.js';
import { analyzeTexts, BASE, codes } from './support.js';

const vs = (body: string, name = 'reviews') => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${name}, namespace: shop}\nspec:\n${body}`;

describe('analyzers: what does not trigger them', () => {
  it('hosts are not checked when no Service is known (files with mesh config only)', () => {
    const findings = analyzeTexts({ 'vs.yaml': vs('  hosts: [details]\n  http:\n  - route:\n    - destination: {host: details}\n') });
    expect(codes(findings)).toEqual([]);
  });

  it('a ServiceEntry host is a known host, wildcards included', () => {
    const se = 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext, namespace: shop}\nspec:\n  hosts: ["*.example.org"]\n  ports: [{number: 443, name: https, protocol: HTTPS}]\n  resolution: DNS\n';
    const findings = analyzeTexts({ 'base.yaml': BASE, 'se.yaml': se, 'vs.yaml': vs('  hosts: [api.example.org]\n  http:\n  - route:\n    - destination: {host: api.example.org}\n', 'ext') });
    expect(codes(findings)).toEqual([]);
  });

  it('a subset defined by a wildcard DestinationRule counts', () => {
    const dr = 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: all, namespace: shop}\nspec:\n  host: "*.shop.svc.cluster.local"\n  subsets:\n  - {name: canary, labels: {track: canary}}\n';
    const findings = analyzeTexts({ 'dr.yaml': dr, 'vs.yaml': vs('  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: canary}\n') });
    expect(codes(findings)).toEqual([]);
  });

  it('a single destination needs no weight; weights summing to 100 are fine', () => {
    const findings = analyzeTexts({
      'base.yaml': BASE,
      'vs.yaml': vs('  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: /a}}]\n    route:\n    - destination: {host: reviews, subset: v1}\n      weight: 30\n  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 33}\n    - {destination: {host: reviews, subset: v2}, weight: 67}\n'),
    });
    expect(codes(findings)).toEqual([]);
  });

  it('VirtualServices for one host on different gateways do not conflict', () => {
    const gw = 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: shop}\nspec:\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ["*"]\n';
    const findings = analyzeTexts({
      'gw.yaml': gw,
      'a.yaml': vs('  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n', 'a'),
      'b.yaml': vs('  hosts: [reviews]\n  gateways: [gw]\n  http:\n  - route:\n    - destination: {host: reviews}\n', 'b'),
    });
    expect(codes(findings)).toEqual([]);
  });

  it('retries that fit in the timeout, and retries without a route timeout, are fine', () => {
    const findings = analyzeTexts({
      'vs.yaml': vs('  hosts: [reviews]\n  http:\n  - timeout: 6s\n    retries: {attempts: 3, perTryTimeout: 2s}\n    route: [{destination: {host: reviews}}]\n  - retries: {attempts: 10, perTryTimeout: 2s}\n    route: [{destination: {host: reviews}}]\n'),
    });
    expect(codes(findings)).toEqual([]);
  });

  it('a DENY policy without rules and an ALLOW policy with an empty rule are not "deny all"', () => {
    const ap = (name: string, spec: string) => `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: shop}\nspec:\n${spec}---\n`;
    const findings = analyzeTexts({ 'ap.yaml': ap('deny', '  action: DENY\n') + ap('allow-all', '  rules:\n  - {}\n') });
    expect(codes(findings)).toEqual([]);
  });

  it('a RequestAuthentication backed by a mesh-wide policy in the root namespace is enforced', () => {
    const text = `apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: shop}
spec:
  jwtRules: [{issuer: https://issuer.example}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: mesh-system}
spec:
  action: DENY
  rules:
  - from:
    - source: {notRequestPrincipals: ["*"]}
`;
    expect(codes(analyzeTexts({ 'jwt.yaml': text }))).toEqual([]);
  });

  it('PERMISSIVE mTLS tolerates a DestinationRule that disables TLS', () => {
    const text = 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: shop}\nspec:\n  mtls: {mode: PERMISSIVE}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web, namespace: shop}\nspec:\n  host: web\n  trafficPolicy: {tls: {mode: DISABLE}}\n';
    expect(codes(analyzeTexts({ 'base.yaml': BASE, 'mtls.yaml': text }))).toEqual([]);
  });

  it('mesh-wide STRICT (root namespace) conflicts with a wildcard DestinationRule that disables TLS', () => {
    const text = 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec:\n  mtls: {mode: STRICT}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: plain, namespace: shop}\nspec:\n  host: "*.shop.svc.cluster.local"\n  trafficPolicy: {tls: {mode: DISABLE}}\n';
    const findings = analyzeTexts({ 'base.yaml': BASE, 'mtls.yaml': text });
    expect(codes(findings)).toEqual(['MESH0301']);
    expect(findings[0]!.message).toContain('for the whole mesh');
  });

  it('a workload that opted out of injection is not reported', () => {
    const text = `apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: legacy}
spec: {selector: {app: api}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: legacy}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}, annotations: {meshctl.dev/inject: disabled}}
    spec: {containers: [{name: api, image: x}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: legacy}
spec: {host: api}
`;
    expect(codes(analyzeTexts({ 'legacy.yaml': text }))).toEqual([]);
  });

  it('ServiceProfile names with the service FQDN pass; another cluster domain is reported with the fix', () => {
    const sp = (name: string) => `apiVersion: linkerd.io/v1alpha2\nkind: ServiceProfile\nmetadata: {name: ${name}, namespace: shop}\nspec:\n  routes: [{name: all, condition: {pathRegex: /.*}}]\n`;
    expect(codes(analyzeTexts({ 'sp.yaml': sp('web.shop.svc.cluster.local') }))).toEqual([]);
    const findings = analyzeTexts({ 'sp.yaml': sp('web.shop.svc.example.internal') });
    expect(findings.map((f) => formatFinding(f))).toEqual([
      'Error [MESH0403] (ServiceProfile web.shop.svc.example.internal.shop) sp.yaml:3 ServiceProfile name "web.shop.svc.example.internal" ends in .svc.example.internal but the cluster domain is cluster.local, so Linkerd never applies it; rename it to "web.shop.svc.cluster.local".',
    ]);
  });
});

describe('platform snapshot overlay', () => {
  const platform = {
    origin: 'test cluster',
    objects: [
      { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: 'shop' }, spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] } },
    ],
    inventory: {
      services: [{ name: 'reviews', namespace: 'shop', selector: { app: 'reviews' } }],
      workloads: [{ kind: 'Pod', name: 'reviews-v1-abc', namespace: 'shop', labels: { app: 'reviews', version: 'v1' }, annotations: {} }],
      namespaces: [{ name: 'shop', labels: { 'meshctl.dev/inject': 'enabled' } }],
      secrets: [],
    },
  };

  it('checks -f files against what the platform reports (applied DestinationRule, known services)', () => {
    const findings = analyzeTexts({ 'vs.yaml': vs('  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v2}\n    - destination: {host: details}\n') }, platform);
    expect(codes(findings).sort()).toEqual(['MESH0101', 'MESH0102', 'MESH0103']);
    // applied objects have no file: findings about them carry no position
    expect(findings.every((f) => f.position?.file === 'vs.yaml')).toBe(true);
  });

  it('a -f file replaces the applied object of the same name ("what if I apply this")', () => {
    const dr = 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: shop}\nspec:\n  host: reviews\n  subsets:\n  - {name: v2, labels: {version: v2}}\n';
    const findings = analyzeTexts({ 'dr.yaml': dr, 'vs.yaml': vs('  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n') }, platform);
    // v1 no longer exists once dr.yaml replaces the applied rule; v2 selects no running pod
    expect(codes(findings)).toEqual(['MESH0201', 'MESH0101']);
  });
});
