/**
 * Each analyzer next to its near misses: the configuration that must NOT trigger it, and the
 * platform overlay (a snapshot feeding services and workloads, with -f files overriding it).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatFinding } from '../../src/analyze/render.js';
import { renderComponents } from '../../src/install/manifests.js';
import { defaultValues } from '../../src/install/values.js';
import { analyzeTexts, BASE, codes } from './support.js';

const vs = (body: string, name = 'reviews') =>
  `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ${name}, namespace: shop}\nspec:\n${body}`;

describe('analyzers: what does not trigger them', () => {
  it('hosts are not checked when no Service is known (files with mesh config only)', () => {
    const findings = analyzeTexts({
      'vs.yaml': vs('  hosts: [details]\n  http:\n  - route:\n    - destination: {host: details}\n'),
    });
    expect(codes(findings)).toEqual([]);
  });

  it('a ServiceEntry host is a known host, wildcards included', () => {
    const se =
      'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext, namespace: shop}\nspec:\n  hosts: ["*.example.org"]\n  ports: [{number: 443, name: https, protocol: HTTPS}]\n  resolution: DNS\n';
    const findings = analyzeTexts({
      'base.yaml': BASE,
      'se.yaml': se,
      'vs.yaml': vs(
        '  hosts: [api.example.org]\n  http:\n  - route:\n    - destination: {host: api.example.org}\n',
        'ext',
      ),
    });
    expect(codes(findings)).toEqual([]);
  });

  it('a subset defined by a wildcard DestinationRule counts', () => {
    const dr =
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: all, namespace: shop}\nspec:\n  host: "*.shop.svc.cluster.local"\n  subsets:\n  - {name: canary, labels: {track: canary}}\n';
    const findings = analyzeTexts({
      'dr.yaml': dr,
      'vs.yaml': vs('  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: canary}\n'),
    });
    expect(codes(findings)).toEqual([]);
  });

  it('a single destination needs no weight; weights summing to 100 are fine', () => {
    const findings = analyzeTexts({
      'base.yaml': BASE,
      'vs.yaml': vs(
        '  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: /a}}]\n    route:\n    - destination: {host: reviews, subset: v1}\n      weight: 30\n  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 33}\n    - {destination: {host: reviews, subset: v2}, weight: 67}\n',
      ),
    });
    expect(codes(findings)).toEqual([]);
  });

  it('VirtualServices for one host on different gateways do not conflict', () => {
    const gw =
      'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: shop}\nspec:\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ["*"]\n';
    const findings = analyzeTexts({
      'gw.yaml': gw,
      'a.yaml': vs('  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n', 'a'),
      'b.yaml': vs(
        '  hosts: [reviews]\n  gateways: [gw]\n  http:\n  - route:\n    - destination: {host: reviews}\n',
        'b',
      ),
    });
    expect(codes(findings)).toEqual([]);
  });

  it('retries that fit in the timeout, and retries without a route timeout, are fine', () => {
    const findings = analyzeTexts({
      'vs.yaml': vs(
        '  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: /slow}}]\n    timeout: 6s\n    retries: {attempts: 3, perTryTimeout: 2s}\n    route: [{destination: {host: reviews}}]\n  - retries: {attempts: 10, perTryTimeout: 2s}\n    route: [{destination: {host: reviews}}]\n',
      ),
    });
    expect(codes(findings)).toEqual([]);
  });

  it('a DENY policy without rules and an ALLOW policy with an empty rule are not "deny all"', () => {
    const ap = (name: string, spec: string) =>
      `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: shop}\nspec:\n${spec}---\n`;
    const findings = analyzeTexts({
      'ap.yaml': ap('deny', '  action: DENY\n') + ap('allow-all', '  rules:\n  - {}\n'),
    });
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
    const text =
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: shop}\nspec:\n  mtls: {mode: PERMISSIVE}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web, namespace: shop}\nspec:\n  host: web\n  trafficPolicy: {tls: {mode: DISABLE}}\n';
    expect(codes(analyzeTexts({ 'base.yaml': BASE, 'mtls.yaml': text }))).toEqual([]);
  });

  it('mesh-wide STRICT (root namespace) conflicts with a wildcard DestinationRule that disables TLS', () => {
    const text =
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: istio-system}\nspec:\n  mtls: {mode: STRICT}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: plain, namespace: shop}\nspec:\n  host: "*.shop.svc.cluster.local"\n  trafficPolicy: {tls: {mode: DISABLE}}\n';
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

  it('a WorkloadEntry is a workload: a subset only it matches selects it, and namespace injection is not asked of it', () => {
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
    metadata: {labels: {app: api, version: v1}, annotations: {meshctl.dev/inject: disabled}}
    spec: {containers: [{name: api, image: x}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-vm, namespace: legacy}
spec: {address: 198.18.0.41, labels: {app: api, version: vm}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: legacy}
spec:
  host: api
  subsets: [{name: v1, labels: {version: v1}}, {name: vm, labels: {version: vm}}, {name: v2, labels: {version: v2}}]
`;
    // Only the subset nothing carries is reported.
    const findings = analyzeTexts({ 'legacy.yaml': text });
    expect(codes(findings)).toEqual(['MESH0201']);
    expect(findings[0]!.message).toContain('Subset "v2" selects no workload');
    expect(findings[0]!.message).toContain('WorkloadEntry api-vm');
  });

  it('ServiceProfile names with the service FQDN pass; another cluster domain is reported with the fix', () => {
    const sp = (name: string) =>
      `apiVersion: linkerd.io/v1alpha2\nkind: ServiceProfile\nmetadata: {name: ${name}, namespace: shop}\nspec:\n  routes: [{name: all, condition: {pathRegex: /.*}}]\n`;
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
      {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'reviews', namespace: 'shop' },
        spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] },
      },
    ],
    inventory: {
      services: [{ name: 'reviews', namespace: 'shop', selector: { app: 'reviews' } }],
      workloads: [
        {
          kind: 'Pod',
          name: 'reviews-v1-abc',
          namespace: 'shop',
          labels: { app: 'reviews', version: 'v1' },
          annotations: {},
        },
      ],
      namespaces: [{ name: 'shop', labels: { 'meshctl.dev/inject': 'enabled' } }],
      secrets: [],
    },
  };

  it('checks -f files against what the platform reports (applied DestinationRule, known services)', () => {
    const findings = analyzeTexts(
      {
        'vs.yaml': vs(
          '  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v2}\n    - destination: {host: details}\n',
        ),
      },
      platform,
    );
    expect(codes(findings).sort()).toEqual(['MESH0101', 'MESH0102', 'MESH0103']);
    // applied objects have no file: findings about them carry no position
    expect(findings.every((f) => f.position?.file === 'vs.yaml')).toBe(true);
  });

  it('a -f file replaces the applied object of the same name ("what if I apply this")', () => {
    const dr =
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: shop}\nspec:\n  host: reviews\n  subsets:\n  - {name: v2, labels: {version: v2}}\n';
    const findings = analyzeTexts(
      {
        'dr.yaml': dr,
        'vs.yaml': vs('  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n'),
      },
      platform,
    );
    // v1 no longer exists once dr.yaml replaces the applied rule; v2 selects no running pod
    expect(codes(findings)).toEqual(['MESH0201', 'MESH0101']);
  });
});

describe('the false positives istioctl analyze does not have, and the destination port checks', () => {
  const se = (exportTo: string) =>
    `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: any, namespace: ingress}\nspec:\n  hosts: ["*"]\n  exportTo: ${exportTo}\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n`;
  const toDetails = vs('  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: details.example.org}\n');

  it('exportTo: a ServiceEntry exported only to its own namespace hides no missing host elsewhere', () => {
    // (ServiceEntry exportTo itself is MESH0002 until a test shows it on traffic: not what this test is about.)
    const mistakes = (f: ReturnType<typeof analyzeTexts>) => codes(f).filter((c) => c !== 'MESH0002');
    expect(mistakes(analyzeTexts({ 'base.yaml': BASE, 'se.yaml': se('["."]'), 'vs.yaml': toDetails }))).toEqual([
      'MESH0102',
    ]);
    expect(mistakes(analyzeTexts({ 'base.yaml': BASE, 'se.yaml': se('["*"]'), 'vs.yaml': toDetails }))).toEqual([]);
  });

  it('exportTo: a Service annotated networking.istio.io/exportTo: "." is no host for other namespaces', () => {
    const svc =
      'apiVersion: v1\nkind: Service\nmetadata: {name: secret, namespace: ingress, annotations: {networking.istio.io/exportTo: "."}}\nspec:\n  ports: [{port: 80}]\n';
    const route = vs(
      '  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: secret.ingress.svc.cluster.local}\n',
    );
    const findings = analyzeTexts({ 'base.yaml': BASE, 'svc.yaml': svc, 'vs.yaml': route });
    expect(codes(findings)).toEqual(['MESH0102']);
    expect(findings[0]!.resource).toMatchObject({ kind: 'VirtualService', name: 'reviews', namespace: 'shop' });
  });

  it('a VirtualService bound to a Gateway API Gateway finds it', () => {
    const gw =
      'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: public, namespace: shop}\nspec:\n  gatewayClassName: meshctl\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n';
    const route = vs(
      '  hosts: [reviews]\n  gateways: [public, missing]\n  http:\n  - route:\n    - destination: {host: reviews}\n',
    );
    const findings = analyzeTexts({ 'gw.yaml': gw, 'vs.yaml': route });
    expect(findings.filter((f) => f.type.code === 'MESH0105').map((f) => f.message)).toEqual([
      expect.stringContaining('"missing"'),
    ]);
  });

  it('topology labels in a subset (zone, region, network) are not judged against pod labels', () => {
    const dr =
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: shop}\nspec:\n  host: reviews\n  subsets:\n  - {name: zone-a, labels: {version: v1, topology.kubernetes.io/zone: a}}\n  - {name: net, labels: {topology.istio.io/network: n1}}\n  - {name: v9, labels: {version: v9, topology.kubernetes.io/zone: a}}\n';
    const findings = analyzeTexts({ 'base.yaml': BASE, 'dr.yaml': dr });
    expect(codes(findings)).toEqual(['MESH0201']);
    expect(findings[0]!.message).toContain('Subset "v9"');
    expect(findings[0]!.message).not.toContain('topology');
  });

  it('a topology label asking for an empty value selects nothing (no endpoint carries one)', () => {
    const dr =
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: shop}\nspec:\n  host: reviews\n  subsets:\n  - {name: nowhere, labels: {topology.kubernetes.io/region: ""}}\n  - {name: v1, labels: {version: v1}}\n';
    const findings = analyzeTexts({ 'base.yaml': BASE, 'dr.yaml': dr });
    expect(codes(findings)).toEqual(['MESH0201']);
    expect(findings[0]!.message).toContain('Subset "nowhere"');
    expect(findings[0]!.message).toContain('topology label topology.kubernetes.io/region has an empty value');
  });

  it('exportTo: a VirtualService exported to a namespace that cannot see its destination names that namespace', () => {
    const svc =
      'apiVersion: v1\nkind: Service\nmetadata: {name: hello, namespace: shop, annotations: {networking.istio.io/exportTo: "shop,front"}}\nspec:\n  ports: [{port: 80}]\n';
    const exported = (to: string) =>
      vs(`  hosts: [hello]\n  exportTo: ${to}\n  http:\n  - route:\n    - destination: {host: hello}\n`);
    const mistakes = (to: string) =>
      analyzeTexts({ 'base.yaml': BASE, 'svc.yaml': svc, 'vs.yaml': exported(to) }).filter(
        (f) => f.type.code !== 'MESH0002',
      );
    const f = mistakes('[".", back]');
    expect(codes(f)).toEqual(['MESH0102']);
    expect(f[0]!.message).toContain('visible from namespace "back", where this VirtualService is exported');
    expect(codes(mistakes('[".", front]'))).toEqual([]);
    expect(codes(mistakes('["*"]'))).toEqual([]);
  });

  it('a destination port the Service does not expose, or none when it exposes several, is an error naming the VirtualService', () => {
    const two =
      'apiVersion: v1\nkind: Service\nmetadata: {name: multi, namespace: shop}\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 80}, {name: admin, port: 9000}]\n';
    const route = vs(
      '  hosts: [reviews]\n  http:\n  - match: [{uri: {prefix: /v2}}]\n    route:\n    - destination: {host: reviews, port: {number: 9081}}\n      weight: 50\n    - destination: {host: multi}\n      weight: 50\n  - route:\n    - destination: {host: reviews, port: {number: 9080}}\n',
    );
    const findings = analyzeTexts({ 'base.yaml': BASE, 'svc.yaml': two, 'vs.yaml': route });
    expect(codes(findings)).toEqual(['MESH0107', 'MESH0108']);
    expect(findings.map((f) => formatFinding(f))).toEqual([
      expect.stringMatching(
        /^Error \[MESH0107\] \(VirtualService reviews\.shop\) vs\.yaml:\d+ Host "reviews" has no port 9081 \(its Service exposes 9080\); fix port\.number\.$/,
      ),
      expect.stringMatching(
        /^Error \[MESH0108\] \(VirtualService reviews\.shop\) vs\.yaml:\d+ Host "multi" exposes several ports \(80, 9000\)/,
      ),
    ]);
  });

  it('EnvoyFilter and WasmPlugin are warnings (no effect) that say what replaces their common uses', () => {
    const ef =
      'apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: lua, namespace: shop}\nspec:\n  configPatches: []\n';
    const wasm =
      'apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: auth, namespace: shop}\nspec:\n  url: oci://example/auth:1\n';
    const findings = analyzeTexts({ 'ef.yaml': ef, 'wasm.yaml': wasm });
    expect(findings.map((f) => [f.type.code, f.type.level])).toEqual([
      ['MESH0011', 'Warning'],
      ['MESH0011', 'Warning'],
    ]);
    expect(findings[0]!.message).toContain('VirtualService http[].headers');
    expect(findings[1]!.message).toContain('RequestAuthentication');
  });
});

describe('istioctl checks meshctl shares: UID 1337 and JWT claim routing', () => {
  const B = 'test/fixtures/config/corpus/broken/';
  const claimRoute = readFileSync(`${B}MESH0308-jwt-claim-route-without-requestauthn.yaml`, 'utf8');

  it('JWT claim routing is fine once a RequestAuthentication applies to the gateway pods', () => {
    const ra =
      'apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: ingress}\nspec:\n  selector: {matchLabels: {istio: ingressgateway}}\n  jwtRules: [{issuer: "https://issuer.example"}]\n';
    // (MESH0304 stays: no AuthorizationPolicy requires the token.)
    expect(codes(analyzeTexts({ 'base.yaml': BASE, 'vs.yaml': claimRoute, 'ra.yaml': ra }))).toEqual(['MESH0304']);
    const elsewhere = ra.replace('istio: ingressgateway', 'app: web');
    // (MESH0302 too: no workload of the ingress namespace has app=web.)
    expect(codes(analyzeTexts({ 'base.yaml': BASE, 'vs.yaml': claimRoute, 'ra.yaml': elsewhere })).sort()).toEqual([
      'MESH0302',
      'MESH0304',
      'MESH0308',
    ]);
  });

  it('UID 1337 in the pod securityContext is named too; other UIDs are fine', () => {
    const dep = readFileSync(`${B}MESH0502-application-uid-1337.yaml`, 'utf8');
    const pod = dep
      .replace('        securityContext: {runAsUser: 1337}\n', '')
      .replace('    spec:\n', '    spec:\n      securityContext: {runAsUser: 1337}\n');
    const findings = analyzeTexts({ 'd.yaml': pod });
    expect(findings.map((f) => [f.type.code, f.field, f.position?.line, f.message])).toEqual([
      [
        'MESH0502',
        'spec.template.spec.securityContext.runAsUser',
        9,
        'spec.template.spec.securityContext.runAsUser: container "legacy" runs as UID 1337, the sidecar\'s own UID: the capture rules let that traffic bypass the sidecar (no mTLS, no authorization policy, no telemetry); fix: set runAsUser to another UID.',
      ],
    ]);
    expect(codes(analyzeTexts({ 'd.yaml': dep.replace('1337', '1000') }))).toEqual([]);
  });

  it("the mesh's own control plane and gateways run as 1337 with injection disabled: not flagged", () => {
    const rendered = renderComponents(defaultValues('img:1'), '1.0.0')
      .map((o) => JSON.stringify(o))
      .join('\n---\n');
    expect(rendered).toContain('"runAsUser":1337');
    expect(analyzeTexts({ 'install.yaml': rendered }).filter((f) => f.type.code === 'MESH0502')).toEqual([]);
  });

  it('a running pod with a sidecar that the platform reports running an app container as 1337 is named by identity and field', () => {
    const platform = {
      objects: [],
      origin: 'cluster test',
      inventory: {
        workloads: [
          {
            kind: 'Pod',
            name: 'legacy-7d9f',
            namespace: 'shop',
            labels: { app: 'legacy' },
            annotations: {},
            proxyUid: [{ path: ['spec', 'securityContext', 'runAsUser'], containers: ['legacy', 'cron'] }],
          },
        ],
      },
    };
    const findings = analyzeTexts({}, platform);
    expect(findings.map((f) => formatFinding(f))).toEqual([
      'Error [MESH0502] (Pod legacy-7d9f.shop) spec.securityContext.runAsUser: containers "legacy", "cron" run as UID 1337, the sidecar\'s own UID: the capture rules let that traffic bypass the sidecar (no mTLS, no authorization policy, no telemetry); fix: set runAsUser to another UID.',
    ]);
    expect(findings[0]!.field).toBe('spec.securityContext.runAsUser');
  });

  it("UID 1337 in a container is named at that container's field; the injected sidecar (classic mode) is not flagged", () => {
    const dep = readFileSync(`${B}MESH0502-application-uid-1337.yaml`, 'utf8');
    const findings = analyzeTexts({ 'd.yaml': dep });
    expect(findings.map((f) => [f.type.code, f.field, f.position?.line])).toEqual([
      ['MESH0502', 'spec.template.spec.containers[0].securityContext.runAsUser', 12],
    ]);
    const classic = dep.replace(
      '      containers:\n',
      '      containers:\n      - name: mesh-proxy\n        image: meshctl/proxy:1\n        securityContext: {runAsUser: 1337}\n',
    );
    expect(analyzeTexts({ 'd.yaml': classic }).map((f) => f.field)).toEqual([
      'spec.template.spec.containers[1].securityContext.runAsUser',
    ]);
  });
});
