/**
 * Gateway API mesh routes in analyze: a parentRef or backendRef naming a missing Service (MESH0102),
 * a port the Service does not expose (MESH0107), a cross-namespace backend (MESH0002), and the
 * fields meshctl accepts without acting on them (MESH0002, from the truth table).
 */
import { describe, expect, it } from 'vitest';
import { analyzeTexts, codes } from '../support.js';

const services = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-v2, namespace: shop}
spec:
  selector: {app: web, version: v2}
  ports: [{name: http, port: 8080}]
`;
const route = (spec: string, kind = 'HTTPRoute') =>
  `apiVersion: gateway.networking.k8s.io/v1\nkind: ${kind}\nmetadata: {name: r, namespace: shop}\nspec:\n${spec}`;

describe('Gateway API route analyzer', () => {
  it('is quiet on a GAMMA route whose Services and ports exist', () => {
    const f = analyzeTexts({
      's.yaml': services,
      'r.yaml': route(`  parentRefs: [{group: "", kind: Service, name: web, port: 8080}]
  rules:
  - backendRefs: [{name: web, port: 8080, weight: 90}, {name: web-v2, port: 8080, weight: 10}]`),
    });
    expect(codes(f)).toEqual([]);
  });

  it('MESH0102 for a missing parentRef or backendRef Service, MESH0107 for a missing port, naming the field', () => {
    const f = analyzeTexts({
      's.yaml': services,
      'r.yaml': route(`  parentRefs: [{group: "", kind: Service, name: webb}]
  rules:
  - filters:
    - type: RequestMirror
      requestMirror: {backendRef: {name: shadow, port: 8080}}
    backendRefs: [{name: web-v3, port: 8080}, {name: web-v2, port: 9090}]`),
    });
    expect(f.map((x) => [x.type.code, x.field])).toEqual([
      ['MESH0102', 'spec.parentRefs[0].name'],
      ['MESH0102', 'spec.rules[0].filters[0].requestMirror.backendRef.name'],
      ['MESH0102', 'spec.rules[0].backendRefs[0].name'],
      ['MESH0107', 'spec.rules[0].backendRefs[1].port'],
    ]);
    expect(f[0]!.message).toBe(
      'HTTPRoute parentRef names Service "webb" in namespace "shop", which does not exist: the route routes nothing; create the Service or fix parentRefs.',
    );
  });

  it('MESH0002 for a cross-namespace backendRef, a Gateway parentRef and an ExtensionRef filter of a GRPCRoute', () => {
    const f = analyzeTexts({
      's.yaml': services,
      'r.yaml': route(
        `  parentRefs: [{name: ingress}, {group: "", kind: Service, name: web}]
  rules:
  - filters: [{type: ExtensionRef, extensionRef: {group: x.io, kind: F, name: f}}]
    backendRefs: [{name: web, namespace: other, port: 8080}]`,
        'GRPCRoute',
      ),
    });
    expect(f.map((x) => [x.type.code, x.field])).toEqual([
      ['MESH0002', 'spec.parentRefs[0]'],
      ['MESH0002', 'spec.rules[0].filters[0].type'],
      ['MESH0002', 'spec.rules[0].filters[0].extensionRef'],
      ['MESH0002', 'spec.rules[0].backendRefs[0].namespace'],
    ]);
  });
});
