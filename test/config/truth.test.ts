/**
 * The truth tables (src/config/truth/): every field of every kind is judged (enforced, with the
 * test that shows it; accepted-not-enforced; deprecated), every cited test exists and exercises the
 * field, and what the tables say is what validation reports (MESH0002 for what has no effect).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  manifestObjects,
  MESH_KINDS,
  parseDocuments,
  resolveFields,
  TRUTH_TABLES,
  truthTableOf,
  validateResource,
} from '../../src/config/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The name a test must mention for the field at `path`: its last segment. */
const leaf = (path: string): string =>
  path
    .replace(/\[\]/g, '')
    .split('.')
    .filter((s) => s !== '<key>')
    .pop()!;

function warnings(yaml: string): string[] {
  return manifestObjects(parseDocuments(yaml, 't.yaml')).flatMap((o) => {
    const r = validateResource(o, { defaultNamespace: 'default' });
    expect(r.errors.map((e) => `${e.field}: ${e.message}`)).toEqual([]);
    return r.warnings.filter((w) => w.rule === 'unsupported').map((w) => w.field);
  });
}

describe('truth tables', () => {
  it('has one table per kind, and no table for a kind that does not exist', () => {
    const kinds = MESH_KINDS.map((k) => `${k.group}/${k.kind}`).sort();
    expect(TRUTH_TABLES.map((t) => t.kind).sort()).toEqual(kinds);
  });

  it.each(MESH_KINDS.map((k) => [`${k.group}/${k.kind}`, k] as const))(
    '%s: every field resolves to an entry; every entry names a field',
    (_n, def) => {
      const table = truthTableOf(def)!;
      const fields = resolveFields(def, table);
      expect(fields.filter((f) => f.truth === undefined).map((f) => f.path)).toEqual([]);
      const paths = new Set(fields.map((f) => f.path));
      expect(Object.keys(table.fields).filter((p) => p !== '' && !paths.has(p))).toEqual([]);
    },
  );

  it.each(MESH_KINDS.map((k) => [`${k.group}/${k.kind}`, k] as const))(
    '%s: each cited test exists and mentions its field',
    (_n, def) => {
      const problems: string[] = [];
      for (const f of resolveFields(def, truthTableOf(def))) {
        if (!f.own || !f.truth || f.truth.status === 'accepted') continue;
        for (const t of f.truth.tests) {
          if (!existsSync(`${root}${t}`)) problems.push(`${f.path}: ${t} does not exist`);
          else if (!readFileSync(`${root}${t}`, 'utf8').includes(leaf(f.path)))
            problems.push(`${f.path}: ${t} never mentions ${leaf(f.path)}`);
        }
        if (f.truth.status === 'enforced' && f.truth.tests.length === 0)
          problems.push(`${f.path}: enforced without a test`);
        for (const v of Object.keys(f.truth.ignoredValues ?? {})) {
          if (!Array.isArray(f.node.enum) || !f.node.enum.includes(v))
            problems.push(`${f.path}: ${v} is not one of its values`);
        }
        if (f.truth.status === 'enforced' && typeof f.node['x-mesh-unsupported'] === 'string')
          problems.push(`${f.path}: enforced, but its schema says unsupported`);
      }
      expect(problems).toEqual([]);
    },
  );

  it('warns (MESH0002) for the fields the mesh does not act on, naming each, and not for the ones it does', () => {
    const fields = warnings(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  exportTo: ["."]
  http:
  - match:
    - uri: {prefix: /v1}
    rewrite:
      uriRegexRewrite: {match: "^/v1/(.*)", rewrite: "/\\\\1"}
    route:
    - destination: {host: reviews}
    mirrors:
    - destination: {host: reviews-shadow}
    corsPolicy:
      allowOrigins: [{exact: "https://a.example"}]
    retries: {attempts: 2, retryIgnorePreviousHosts: true}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: PASSTHROUGH}
    tls: {mode: SIMPLE, sni: reviews.example}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny}
spec:
  action: DENY
  rules: [{to: [{operation: {methods: [DELETE]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext}
spec:
  action: CUSTOM
  provider: {name: opa}
  rules: [{}]
`);
    expect(fields).toEqual([
      'spec.http[0].retries.retryIgnorePreviousHosts',
      'spec.trafficPolicy.tls.mode',
      'spec.trafficPolicy.tls.sni',
      'spec.action',
      'spec.provider',
    ]);
  });

  it('stays quiet on the seed-style canary it fully implements', () => {
    expect(
      warnings(`
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: product}
spec:
  hosts: [product]
  http:
  - match: [{headers: {x-canary: {exact: "true"}}}]
    route: [{destination: {host: product, subset: v2}}]
  - route:
    - {destination: {host: product, subset: v1}, weight: 90}
    - {destination: {host: product, subset: v2}, weight: 10}
    retries: {attempts: 3, perTryTimeout: 2s}
    timeout: 5s
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: product}
spec:
  host: product
  trafficPolicy:
    loadBalancer: {simple: LEAST_CONN}
    connectionPool: {tcp: {maxConnections: 100}, http: {http1MaxPendingRequests: 10}}
    outlierDetection: {consecutive5xxErrors: 5, interval: 30s, baseEjectionTime: 30s}
    tls: {mode: ISTIO_MUTUAL}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`),
    ).toEqual([]);
  });
});
