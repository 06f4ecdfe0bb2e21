/**
 * Validation of Gateway API HTTPRoute and GRPCRoute (src/config/kinds/gateway-api-checks.ts): the
 * upstream CRDs' CEL rules with the fix in each message, header names/values, hostnames and paths
 * that would corrupt requests, and what is accepted without effect (MESH0002).
 */
import { describe, expect, it } from 'vitest';
import { manifestObjects, parseDocuments, validateResource } from '../../../src/config/index.js';

describe('HTTPRoute and GRPCRoute validation', () => {
  const check = (yaml: string) =>
    manifestObjects(parseDocuments(yaml, 'r.yaml')).map((o) => {
      const r = validateResource(o, { defaultNamespace: 'default' });
      return {
        errors: r.errors.map((e) => `${e.field}: ${e.message}`),
        warnings: r.warnings.filter((w) => w.rule === 'unsupported').map((w) => w.field),
      };
    })[0]!;

  it('flags (MESH0002) a Gateway parentRef, an ExtensionRef filter, hostnames, sessionPersistence; not CORS', () => {
    const r = check(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: ingress}]
  hostnames: [web.example.com]
  rules:
  - filters:
    - {type: ExtensionRef, extensionRef: {group: x.io, kind: Thing, name: t}}
    - {type: CORS, cors: {allowOrigins: ["https://a.example"]}}
    sessionPersistence: {type: Cookie, sessionName: s}
    backendRefs: [{name: web, port: 8080}]`);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([
      'spec.parentRefs[0]',
      'spec.hostnames',
      'spec.rules[0].filters[0].type',
      'spec.rules[0].filters[0].extensionRef',
      'spec.rules[0].sessionPersistence',
    ]);
  });

  it('rejects header names, values, hostnames and paths that would corrupt the requests the proxy sends', () => {
    const r = check(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{group: "", kind: Service, name: web}]
  rules:
  - matches: [{headers: [{name: "bad name", value: x}]}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: "x-a:b", value: ok}, {name: x-b, value: "evil\\r\\nx-admin: 1"}]
        remove: ["no way"]
    - type: URLRewrite
      urlRewrite: {hostname: "Evil Host", path: {type: ReplaceFullPath, replaceFullPath: "/a b"}}
    backendRefs: [{name: web, port: 80}]`);
    expect(r.errors).toEqual([
      'spec.rules[0].filters[0].requestHeaderModifier.set[0].name: "x-a:b" is not a valid header name (letters, digits and !#$%&\'*+-.^_`|~)',
      'spec.rules[0].filters[0].requestHeaderModifier.set[1].value: the value contains a control character (CR, LF, NUL...); remove it',
      'spec.rules[0].filters[0].requestHeaderModifier.remove[0]: "no way" is not a valid header name',
      "spec.rules[0].filters[1].urlRewrite.hostname: \"Evil Host\" is not a hostname (lowercase letters, digits, '-' and '.')",
      'spec.rules[0].filters[1].urlRewrite.path.replaceFullPath: a path has no spaces or control characters; percent-encode them',
      'spec.rules[0].matches[0].headers[0].name: "bad name" is not a valid header name',
    ]);
  });

  it("rejects what the upstream CRD's rules reject, with the fix", () => {
    const r = check(`
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{group: "", kind: Service, name: web}]
  rules:
  - matches: [{path: {type: PathPrefix, value: nope}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplaceFullPath}}
    backendRefs: [{name: web}]`);
    expect(r.errors).toEqual([
      'spec.rules[0].filters[0].requestRedirect.path: path type ReplaceFullPath needs "replaceFullPath"; add it',
      'spec.rules[0].backendRefs[0].port: a Service backendRef needs a port; add the Service port',
      'spec.rules[0].matches[0].path.value: path "nope" must start with "/"',
      'spec.rules[0]: a rule with a RequestRedirect filter cannot have backendRefs; remove them',
    ]);
  });
});
