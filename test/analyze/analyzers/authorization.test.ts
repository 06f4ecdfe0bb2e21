/** The AuthorizationPolicy analyzers: trust domains, JWT rules without RequestAuthentication, DENY shadowing ALLOW, empty namespaces. */
import { describe, expect, it } from 'vitest';
import { formatFinding } from '../../../src/analyze/render.js';
import { analyzeTexts, codes } from '../support.js';

const ap = (name: string, ns: string, spec: string) =>
  `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${spec}`;
const ra = (ns: string, selector = '') =>
  `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {name: jwt, namespace: ${ns}}\nspec:\n${selector}  jwtRules:\n  - issuer: https://issuer.example\n    jwksUri: https://issuer.example/jwks.json\n`;

describe('authorization analyzers', () => {
  it('MESH0305: a principal in another trust domain never matches; the mesh trust domain and globs are fine', () => {
    const f = analyzeTexts({
      'ap.yaml': ap(
        'p',
        'shop',
        '  rules:\n  - from: [{source: {principals: ["example.org/ns/shop/sa/web", "cluster.local/ns/shop/sa/web", "*/ns/shop/sa/api"]}}]\n',
      ),
    });
    expect(codes(f)).toEqual(['MESH0305']);
    expect(formatFinding(f[0]!)).toContain('write cluster.local/ns/shop/sa/web');
    expect(f[0]!.field).toBe('spec.rules[0].from[0].source.principals[0]');
  });

  it('MESH0002: a CUSTOM policy is named as not implemented (it fails closed), on its action and its provider', () => {
    const f = analyzeTexts({
      'ap.yaml': ap(
        'ext',
        'shop',
        '  action: CUSTOM\n  provider: {name: ext-authz}\n  rules:\n  - to: [{operation: {paths: ["/admin*"]}}]\n',
      ),
    });
    expect(f.map((x) => `${x.type.code} ${x.field}`)).toEqual(['MESH0002 spec.action', 'MESH0002 spec.provider']);
    expect(formatFinding(f[0]!)).toContain('denied (fail closed');
  });

  it('MESH0306: requestPrincipals or request.auth.* without a RequestAuthentication for the workloads', () => {
    const rule =
      '  selector: {matchLabels: {app: api}}\n  rules:\n  - from: [{source: {requestPrincipals: ["*"]}}]\n  - when: [{key: "request.auth.claims[group]", values: [admin]}]\n';
    expect(codes(analyzeTexts({ 'ap.yaml': ap('p', 'shop', rule) }))).toEqual(['MESH0306', 'MESH0306']);
    expect(
      codes(
        analyzeTexts({
          'ap.yaml': ap('p', 'shop', rule),
          'ra.yaml': ra('shop', '  selector: {matchLabels: {app: api}}\n'),
        }),
      ),
    ).toEqual([]);
    // A mesh-wide RequestAuthentication covers them (tokens stay optional elsewhere: MESH0304).
    expect(codes(analyzeTexts({ 'ap.yaml': ap('p', 'shop', rule), 'ra.yaml': ra('mesh-system') }))).toEqual([
      'MESH0304',
    ]);
    expect(codes(analyzeTexts({ 'ap.yaml': ap('p', 'shop', rule), 'ra.yaml': ra('other') }))).toEqual([
      'MESH0306',
      'MESH0306',
      'MESH0304',
    ]);
  });

  it('MESH0307: a DENY rule matching everything makes ALLOW rules of the same workloads unreachable', () => {
    const allow = ap(
      'allow-web',
      'shop',
      '  selector: {matchLabels: {app: api}}\n  rules:\n  - from: [{source: {namespaces: [web]}}]\n',
    );
    const denyAll = ap('lockdown', 'shop', '  action: DENY\n  rules: [{}]\n');
    const f = analyzeTexts({ 'a.yaml': allow, 'd.yaml': denyAll });
    expect(codes(f)).toEqual(['MESH0307']);
    expect(f[0]!.message).toContain('lockdown.shop');
    const narrow = ap('lockdown', 'shop', '  action: DENY\n  rules: [{to: [{operation: {paths: [/admin]}}]}]\n');
    expect(codes(analyzeTexts({ 'a.yaml': allow, 'd.yaml': narrow }))).toEqual([]);
  });

  it('MESH0302: a namespace-wide policy in a namespace that runs nothing (when workloads are known)', () => {
    const platform = {
      origin: 'test cluster',
      objects: [],
      inventory: {
        services: [],
        workloads: [{ kind: 'Pod', name: 'api-1', namespace: 'shop', labels: { app: 'api' }, annotations: {} }],
        namespaces: [{ name: 'shop', labels: { 'meshctl.dev/inject': 'enabled' } }],
        secrets: [],
      },
    };
    const f = analyzeTexts({ 'ap.yaml': ap('p', 'shpo', '  rules: [{}]\n') }, platform as never);
    expect(codes(f)).toEqual(['MESH0302']);
    expect(f[0]!.message).toContain('namespace "shpo", which runs no workload');
    expect(codes(analyzeTexts({ 'ap.yaml': ap('p', 'shop', '  rules: [{}]\n') }, platform as never))).toEqual([]);
  });
});
