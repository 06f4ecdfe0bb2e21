/** The Gateway and Sidecar conflict analyzers: MESH0203 conflicting gateways, MESH0204 gateway ports, MESH0205 Sidecars. */
import { describe, expect, it } from 'vitest';
import { analyzeTexts, codes } from '../support.js';

const gw = (name: string, selector: string, port: number, hosts: string, ns = 'default') =>
  `apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  selector: {${selector}}\n  servers:\n  - port: {number: ${port}, name: http, protocol: HTTP}\n    hosts: [${hosts}]\n`;
const deploy = (name: string, labels: string, ns = 'default') =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  selector: {matchLabels: {${labels}}}\n  template:\n    metadata: {labels: {${labels}}}\n    spec: {containers: [{name: app, image: app}]}\n`;
const svc = (name: string, selector: string, ports: string, ns = 'default') =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n  selector: {${selector}}\n  ports: ${ports}\n`;
const sidecar = (name: string, ns: string, selector?: string) =>
  `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${selector ? `  workloadSelector: {labels: {${selector}}}\n` : ''}  egress: [{hosts: ["./*"]}]\n`;

describe('gateway analyzers', () => {
  it('MESH0203: the same host on the same port of one gateway workload, in two Gateways, names both', () => {
    const f = analyzeTexts({
      'a.yaml': gw('alpha', 'istio: ingressgateway', 80, 'shop.example.com, a.example.com'),
      'b.yaml': gw('beta', 'istio: ingressgateway', 80, 'shop.example.com', 'edge'),
    });
    expect(codes(f)).toEqual(['MESH0203', 'MESH0203']);
    expect(f[0]!.message).toContain('Gateway edge/beta also declares host shop.example.com,a.example.com on port 80');
    expect(f[0]!.field).toBe('spec.servers[0]');
    expect(f[1]!.message).toContain('Gateway default/alpha');
  });

  it('MESH0203: not on another port, another host, or a workload neither selects together', () => {
    const a = gw('alpha', 'istio: ingressgateway', 80, 'shop.example.com');
    expect(
      codes(analyzeTexts({ 'a.yaml': a, 'b.yaml': gw('beta', 'istio: ingressgateway', 443, 'shop.example.com') })),
    ).toEqual([]);
    expect(
      codes(analyzeTexts({ 'a.yaml': a, 'b.yaml': gw('beta', 'istio: ingressgateway', 80, 'api.example.com') })),
    ).toEqual([]);
    // Different selectors: a conflict only where a known workload carries both.
    const b = gw('beta', 'istio: ingressgateway, team: blue', 80, 'shop.example.com');
    expect(codes(analyzeTexts({ 'a.yaml': a, 'b.yaml': b }))).toEqual([]);
    expect(
      codes(
        analyzeTexts({
          'a.yaml': a,
          'b.yaml': b,
          'd.yaml': deploy('ingress', 'istio: ingressgateway, team: blue'),
        }),
      ).filter((c) => c === 'MESH0203'),
    ).toEqual(['MESH0203', 'MESH0203']);
  });

  it("MESH0204: a server port that no Service of the gateway's workload exposes (port or targetPort)", () => {
    const base = {
      'd.yaml': deploy('ingress', 'istio: ingressgateway'),
      's.yaml': svc(
        'ingress',
        'istio: ingressgateway',
        '[{name: http, port: 80, targetPort: 8080}, {name: tls, port: 443}]',
      ),
    };
    const at = (port: number) =>
      codes(analyzeTexts({ ...base, 'g.yaml': gw('web', 'istio: ingressgateway', port, '"*"') }));
    expect(at(8080)).toEqual([]);
    expect(at(80)).toEqual([]);
    expect(at(443)).toEqual([]);
    const f = analyzeTexts({ ...base, 'g.yaml': gw('web', 'istio: ingressgateway', 8004, '"*"') });
    expect(codes(f)).toEqual(['MESH0204']);
    expect(f[0]!.message).toContain('Port 8004 is on no Service of the gateway workload istio=ingressgateway');
    expect(f[0]!.message).toContain('Service default/ingress: 80->8080, 443');
    // Nothing known about the gateway's Services: no judgement.
    expect(
      codes(analyzeTexts({ 'd.yaml': base['d.yaml'], 'g.yaml': gw('web', 'istio: ingressgateway', 8004, '"*"') })),
    ).toEqual([]);
  });
});

describe('VirtualService hosts on their Gateway', () => {
  const bound = (hosts: string, gateway: string, ns = 'shop') =>
    `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web, namespace: ${ns}}\nspec:\n  hosts: [${hosts}]\n  gateways: [${gateway}]\n  http:\n  - route:\n    - destination: {host: web}\n`;
  const gateway = gw('edge', 'istio: ingressgateway', 80, '"shop/*.shop.example.com", "./edge.example.com"', 'ingress');

  it('MESH0111: no host of the VirtualService is exposed to its namespace by the named Gateway', () => {
    const f = analyzeTexts({ 'g.yaml': gateway, 'v.yaml': bound('api.example.com', 'ingress/edge') });
    expect(codes(f)).toEqual(['MESH0111']);
    expect(f[0]!.message).toBe(
      'Gateway ingress/edge exposes none of the hosts api.example.com to namespace "shop" (its servers: shop/*.shop.example.com, ./edge.example.com): it never routes this VirtualService; add a host to a server of the Gateway, or fix spec.hosts.',
    );
    expect(f[0]!.field).toBe('spec.gateways[0]');
    // ./edge.example.com is for the Gateway's own namespace only.
    expect(codes(analyzeTexts({ 'g.yaml': gateway, 'v.yaml': bound('edge.example.com', 'ingress/edge') }))).toEqual([
      'MESH0111',
    ]);
  });

  it('MESH0111: not for a wildcard match, a host for its namespace, mesh, or a missing Gateway (MESH0105)', () => {
    for (const v of [
      bound('www.shop.example.com', 'ingress/edge'),
      bound('edge.example.com', 'edge', 'ingress'),
      bound('"*"', 'ingress/edge'),
      bound('web', 'mesh'),
    ])
      expect(codes(analyzeTexts({ 'g.yaml': gateway, 'v.yaml': v }))).toEqual([]);
    expect(codes(analyzeTexts({ 'g.yaml': gateway, 'v.yaml': bound('x.example.com', 'ingress/nope') }))).toEqual([
      'MESH0105',
    ]);
  });
});

describe('VirtualService hosts on a Gateway API Gateway', () => {
  const k8sGw = (listeners: string) =>
    `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: edge, namespace: ingress}\nspec:\n  gatewayClassName: istio\n  listeners:\n${listeners}`;
  const listener = (hostname: string | undefined, from?: string) =>
    `  - name: http\n    port: 80\n    protocol: HTTP\n${hostname ? `    hostname: ${hostname}\n` : ''}${from ? `    allowedRoutes: {namespaces: {from: ${from}}}\n` : ''}`;
  // The Gateway API Gateway itself is passed over with an Info (MESH0008): not what these cases are about.
  const mesh = (f: Parameters<typeof codes>[0]) => codes(f).filter((c) => c !== 'MESH0008');
  const vs = (hosts: string, ns: string) =>
    `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web, namespace: ${ns}}\nspec:\n  hosts: [${hosts}]\n  gateways: [ingress/edge]\n  http:\n  - route:\n    - destination: {host: web}\n`;

  it('MESH0111: no listener hostname matches, or the listener admits routes of its own namespace only', () => {
    const f = analyzeTexts({ 'g.yaml': k8sGw(listener('example.com')), 'v.yaml': vs('wrong.example.com', 'ingress') });
    expect(mesh(f)).toEqual(['MESH0111']);
    expect(f.find((x) => x.type.code === 'MESH0111')!.message).toBe(
      'Gateway ingress/edge exposes none of the hosts wrong.example.com to namespace "ingress" (its listeners: example.com): it never routes this VirtualService; add a host to a listener of the Gateway, or fix spec.hosts.',
    );
    // allowedRoutes defaults to Same: a VirtualService of another namespace is not bound.
    expect(
      mesh(analyzeTexts({ 'g.yaml': k8sGw(listener('example.com')), 'v.yaml': vs('example.com', 'shop') })),
    ).toEqual(['MESH0111']);
  });

  it('MESH0111: not for a matching or wildcard hostname, a listener without hostname, or from: All', () => {
    for (const [l, v] of [
      [listener('example.com'), vs('example.com', 'ingress')],
      [listener('"*.example.com"'), vs('api.example.com', 'ingress')],
      [listener(undefined), vs('anything.test', 'ingress')],
      [listener('example.com', 'All'), vs('example.com', 'shop')],
    ] as const)
      expect(mesh(analyzeTexts({ 'g.yaml': k8sGw(l), 'v.yaml': v }))).toEqual([]);
  });
});

describe('sidecar analyzers', () => {
  it('MESH0205: two Sidecars selecting one workload, and two namespace-wide Sidecars in a namespace', () => {
    const f = analyzeTexts({
      'd.yaml': deploy('ratings', 'app: ratings, tier: back'),
      'a.yaml': sidecar('by-app', 'default', 'app: ratings'),
      'b.yaml': sidecar('by-tier', 'default', 'tier: back'),
      'c.yaml': sidecar('only-one', 'default'),
    });
    expect(codes(f)).toEqual(['MESH0205', 'MESH0205']);
    expect(f[0]!.message).toContain(
      'Sidecars by-app, by-tier all select Deployment default/ratings: it gets only by-app',
    );
    const wide = analyzeTexts({
      'd.yaml': deploy('ratings', 'app: ratings', 'shop'),
      'a.yaml': sidecar('one', 'shop'),
      'b.yaml': sidecar('two', 'shop'),
    });
    expect(codes(wide)).toEqual(['MESH0205', 'MESH0205']);
    expect(wide[0]!.message).toContain('only one (the first by name) applies');
  });
});
