/** Validation as a user sees it: each error names file:line:column, the field path and the fix. */
import { describe, expect, it } from 'vitest';
import {
  formatIssue,
  manifestObjects,
  parseDocuments,
  validateResource,
  type ValidationResult,
} from '../../src/config/index.js';

function validate(text: string, file = 'in.yaml'): ValidationResult[] {
  return manifestObjects(parseDocuments(text, file)).map((o) => validateResource(o, { defaultNamespace: 'team' }));
}
const errors = (r: ValidationResult) => r.errors.map(formatIssue);
const warnings = (r: ValidationResult) => r.warnings.map(formatIssue);

const VS = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
      weight: 90
    - destination:
        host: reviews
      weight: ten
`;

describe('validateResource', () => {
  it('locates a wrong type with file:line:column and says what is expected', () => {
    const [r] = validate(VS, 'vs.yaml');
    expect(errors(r!)).toEqual(['vs.yaml:15:15: spec.http[0].route[1].weight: must be an integer >= 0 (got "ten")']);
    expect(r!.resource).toBeUndefined();
  });

  it('returns the typed resource with the namespace defaulted when valid', () => {
    const [r] = validate(VS.replace('weight: ten', 'weight: 10'));
    expect(r!.errors).toEqual([]);
    expect(r!.resource?.kind).toBe('VirtualService');
    expect(r!.resource?.metadata.namespace).toBe('team');
    expect(r!.identity).toEqual({
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualService',
      name: 'reviews',
      namespace: 'team',
    });
  });

  it('suggests the field meant by a misspelling, and rejects unknown fields of Istio kinds', () => {
    const [r] = validate(VS.replace('  - route:', '  - rout:').replace('weight: ten', 'weight: 10'));
    expect(errors(r!)[0]).toBe('in.yaml:10:5: spec.http[0].rout: unknown field "rout"; did you mean "route"?');
  });

  it("selects Sidecar workloads with Istio's workloadSelector.labels (ServiceEntry's is the same type), not matchLabels", () => {
    const sidecar = (selector: string) =>
      `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: cart}\nspec:\n  workloadSelector: {${selector}: {app: cart}}\n  egress:\n  - hosts: ["./*"]\n`;
    expect(validate(sidecar('labels'))[0]!.errors).toEqual([]);
    expect(errors(validate(sidecar('matchLabels'))[0]!)[0]).toMatch(
      /^in\.yaml:5:\d+: spec\.workloadSelector\.matchLabels: unknown field "matchLabels"/,
    );
  });

  it('lists the enum values, with a case fix', () => {
    const [r] = validate(
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default}\nspec:\n  mtls: {mode: strict}\n',
    );
    expect(errors(r!)).toEqual([
      'in.yaml:5:16: spec.mtls.mode: must be one of UNSET, DISABLE, PERMISSIVE, STRICT (got "strict"); did you mean STRICT?',
    ]);
  });

  it('names missing required fields', () => {
    const [r] = validate(
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: x}\nspec:\n  subsets:\n  - labels: {v: "1"}\n',
    );
    expect(errors(r!)).toEqual([
      'in.yaml:5:3: spec.host: required field is missing; add it',
      'in.yaml:6:5: spec.subsets[0].name: required field is missing; add it',
    ]);
  });

  it('checks durations (Go syntax, >= 1ms), RE2 regexes and percentages', () => {
    const [r] = validate(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: x}
spec:
  hosts: [x]
  http:
  - match:
    - uri: {regex: "/(?=admin)"}
    timeout: 1.5s
    retries: {attempts: 2, perTryTimeout: 0.5us}
    fault:
      delay: {fixedDelay: 5 s, percentage: {value: 101}}
    route: [{destination: {host: x}}]
`);
    expect(r!.errors.map((e) => [e.rule, formatIssue(e)])).toEqual([
      [
        'regex',
        'in.yaml:8:20: spec.http[0].match[0].uri.regex: not a valid RE2 regular expression: invalid or unsupported Perl syntax: `(?=`; RE2 has no backreferences or lookaround',
      ],
      ['duration', 'in.yaml:10:43: spec.http[0].retries.perTryTimeout: must be at least 1ms (got "0.5us")'],
      [
        'duration',
        'in.yaml:12:27: spec.http[0].fault.delay.fixedDelay: must be a duration such as 1.5s, 500ms or 1m (got "5 s")',
      ],
      ['percent', 'in.yaml:12:52: spec.http[0].fault.delay.percentage.value: must be a percentage 0..100 (got 101)'],
    ]);
  });

  it('rejects protobuf oneof fields set together, and routes without an action (Istio webhook rules)', () => {
    const [r] = validate(
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n  hosts: [x]\n  http:\n  - match: [{uri: {exact: /a, prefix: /b}}]\n    route: [{destination: {host: x}}]\n  - name: nothing\n',
    );
    expect(errors(r!)).toEqual([
      'in.yaml:7:19: spec.http[0].match[0].uri: exact and prefix cannot be used together; keep only one of exact, prefix, regex',
    ]);
    const [r2] = validate(
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec:\n  hosts: [x]\n  http:\n  - name: nothing\n    retries: {retryOn: "5xx,gateway-eror"}\n',
    );
    expect(errors(r2!)).toEqual([
      'in.yaml:7:5: spec.http[0]: an HTTP route needs an action; add route (forward), redirect or directResponse',
      expect.stringMatching(
        /^in\.yaml:8:24: spec\.http\[0\]\.retries\.retryOn: "gateway-eror" is not a retryOn condition; use one of 5xx, gateway-error,/,
      ),
    ]);
  });

  it('warns about fields the mesh does not implement, and notes deprecated ones', () => {
    const [r] = validate(
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: x}\nspec:\n  host: x\n  trafficPolicy:\n    loadBalancer:\n      simple: LEAST_CONN\n      localityLbSetting: {enabled: true}\n',
    );
    expect(r!.errors).toEqual([]);
    expect(warnings(r!)).toEqual([
      'in.yaml:9:26: spec.trafficPolicy.loadBalancer.localityLbSetting: accepted but not implemented by the mesh: the mesh has no locality-aware load balancing',
    ]);
    expect(r!.notes.map(formatIssue)).toEqual([
      'in.yaml:8:15: spec.trafficPolicy.loadBalancer.simple: LEAST_CONN is deprecated; use LEAST_REQUEST (same behaviour)',
    ]);
  });

  it('prunes unknown fields of Linkerd kinds with a warning (as the API server does)', () => {
    const [r] = validate(
      'apiVersion: linkerd.io/v1alpha2\nkind: ServiceProfile\nmetadata: {name: web.team.svc.cluster.local}\nspec:\n  routes:\n  - name: all\n    condition: {pathRegex: "/.*"}\n    retries: 3\n',
    );
    expect(r!.errors).toEqual([]);
    expect(warnings(r!)[0]).toMatch(
      /^in\.yaml:8:14: spec\.routes\[0\]\.retries: unknown field "retries"; Linkerd retries a route when it has isRetryable: true/,
    );
    expect(r!.resource?.spec).toEqual({ routes: [{ name: 'all', condition: { pathRegex: '/.*' } }] });
  });

  it('validates nested Linkerd conditions at any depth', () => {
    const [r] = validate(
      'apiVersion: linkerd.io/v1alpha2\nkind: ServiceProfile\nmetadata: {name: web.team.svc.cluster.local}\nspec:\n  routes:\n  - name: deep\n    condition:\n      any:\n      - all:\n        - not: {pathRegex: "a\\\\1"}\n',
    );
    expect(errors(r!)).toEqual([
      'in.yaml:10:28: spec.routes[0].condition.any[0].all[0].not.pathRegex: not a valid RE2 regular expression: invalid escape sequence: `\\1`; RE2 has no backreferences or lookaround',
    ]);
  });

  it('accepts TrafficSplit v1alpha1 quantities and v1alpha4 integers, rejects other weights', () => {
    const ts = (v: string, w: string) =>
      `apiVersion: split.smi-spec.io/${v}\nkind: TrafficSplit\nmetadata: {name: s}\nspec:\n  service: web\n  backends: [{service: web-v1, weight: ${w}}]\n`;
    expect(validate(ts('v1alpha1', '500m'))[0]!.errors).toEqual([]);
    expect(validate(ts('v1alpha4', '90'))[0]!.errors).toEqual([]);
    expect(errors(validate(ts('v1alpha2', 'lots'))[0]!)).toEqual([
      'in.yaml:6:40: spec.backends[0].weight: weight "lots" is not a number or quantity; use an integer such as 90',
    ]);
  });

  it('accepts ServiceProfile dstOverrides with quantity weights, rejects bad weights and authorities', () => {
    const sp = (authority: string, weight: string) =>
      `apiVersion: linkerd.io/v1alpha2\nkind: ServiceProfile\nmetadata: {name: web.team.svc.cluster.local}\nspec:\n  dstOverrides:\n  - {authority: "${authority}", weight: ${weight}}\n`;
    expect(validate(sp('web-v1.team.svc.cluster.local:80', '500m'))[0]!.errors).toEqual([]);
    expect(validate(sp('web-v1', '1'))[0]!.errors).toEqual([]);
    expect(errors(validate(sp('web-v1:80', '-1'))[0]!)).toEqual([
      'in.yaml:6:38: spec.dstOverrides[0].weight: weight "-1" is not a non-negative quantity; use a quantity such as 500m or 1',
    ]);
    expect(errors(validate(sp('http://web-v1/', '1'))[0]!)).toEqual([
      'in.yaml:6:17: spec.dstOverrides[0].authority: authority "http://web-v1/" is not a service host[:port]; write e.g. web.default.svc.cluster.local:80',
    ]);
  });

  it('reads a kind written under the wrong Istio group, with a warning; rejects unserved versions', () => {
    const [r] = validate(
      'apiVersion: security.istio.io/v1beta1\nkind: DestinationRule\nmetadata: {name: d}\nspec: {host: "*.local"}\n',
    );
    expect(r!.errors).toEqual([]);
    expect(r!.warnings.map((w) => w.rule)).toEqual(['wrong-group']);
    expect(r!.resource?.kind).toBe('DestinationRule');
    const [bad] = validate(
      'apiVersion: networking.istio.io/v2\nkind: Gateway\nmetadata: {name: g}\nspec: {servers: []}\n',
    );
    expect(errors(bad!)).toEqual([
      'in.yaml:1:13: apiVersion: networking.istio.io/v2 does not serve Gateway; use one of networking.istio.io/v1alpha3, networking.istio.io/v1beta1, networking.istio.io/v1',
    ]);
  });

  it('passes over kinds that are not mesh kinds with a note, and reads core kinds', () => {
    const [np, svc] = validate(
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: n}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}}\n',
    );
    expect(np!.errors).toEqual([]);
    expect(np!.notes.map(formatIssue)).toEqual([
      'in.yaml:2:7: kind: NetworkPolicy (networking.k8s.io/v1) is not a mesh kind; passed over',
    ]);
    expect(svc!.core?.role).toBe('service');
    expect(svc!.coreObject?.metadata.namespace).toBe('team');
  });

  it('checks metadata: names and label values', () => {
    const [r] = validate(
      'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: Public_GW\n  labels: {tier: 1}\nspec:\n  servers: [{port: {number: 80, protocol: HTTP}, hosts: ["*"]}]\n',
    );
    expect(errors(r!)).toEqual([
      `in.yaml:4:9: metadata.name: "Public_GW" is not a valid name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit`,
      'in.yaml:5:18: metadata.labels.tier: must be a string (got 1); quote it, e.g. "1"',
    ]);
  });

  it('validates objects without a file (from an API server): no position, same messages', () => {
    const r = validateResource({
      object: {
        apiVersion: 'security.istio.io/v1',
        kind: 'AuthorizationPolicy',
        metadata: { name: 'a', namespace: 'x' },
        spec: { action: 'CUSTOM' },
      },
    });
    expect(r.errors.map(formatIssue)).toEqual(['spec.provider: a CUSTOM policy needs provider.name; add it']);
    expect(r.errors[0]!.position).toBeUndefined();
  });
});
