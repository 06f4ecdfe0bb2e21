/**
 * Every meshctl schema against the upstream CRDs (test/fixtures/upstream/, with their source commit
 * in SOURCE.md), field by field: every upstream field exists in meshctl (so valid upstream objects
 * are accepted and a new upstream field fails here, not for a user), meshctl has no field upstream
 * lacks (except the listed ones), meshctl requires nothing upstream leaves optional, and the basic
 * JSON types agree.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { MESH_KINDS, openApiSchema, type KindDefinition } from '../../src/config/index.js';

const dir = fileURLToPath(new URL('../fixtures/upstream/', import.meta.url));
const FILES = [
  'istio/crd-all.gen.yaml',
  'linkerd2/serviceprofile.yaml',
  'linkerd2/server.yaml',
  'linkerd2/server-authorization.yaml',
  'linkerd2/authorization-policy.yaml',
  'linkerd2/meshtls-authentication.yaml',
  'linkerd2/network-authentication.yaml',
  'linkerd2/http-local-ratelimit-policy.yaml',
  'smi/split.yaml',
  'gateway-api/httproutes.yaml',
  'gateway-api/grpcroutes.yaml',
];

type Node = Record<string, unknown>;
interface Crd {
  kind: string;
  spec: { group: string; names: { kind: string }; versions: { name: string; schema?: { openAPIV3Schema?: Node } }[] };
}
const crds = [
  ...FILES.flatMap((f) =>
    parseAllDocuments(readFileSync(`${dir}${f}`, 'utf8'))
      .map((d) => d.toJSON() as Crd | null)
      .filter((c): c is Crd => c?.kind === 'CustomResourceDefinition'),
  ),
];

/**
 * Fields meshctl has that the upstream CRD lacks, and why they stay: each is accepted by the
 * upstream project elsewhere (older versions, its validator), so dropping it would reject YAML users have.
 */
const EXTRA: Record<string, Record<string, string>> = {
  'split.smi-spec.io/TrafficSplit': {
    'matches[].apiGroup': 'v1alpha4 names the group of the HTTPRouteGroup (smi-spec traffic-split v1alpha4)',
  },
  'gateway.networking.k8s.io/HTTPRoute': {
    'rules[].retry': 'experimental channel (GEP-1731), which Istio implements; the standard CRD prunes it',
    'rules[].retry.codes': 'experimental channel (GEP-1731)',
    'rules[].retry.attempts': 'experimental channel (GEP-1731)',
    'rules[].retry.backoff': 'experimental channel (GEP-1731)',
    'rules[].sessionPersistence': 'experimental channel (GEP-1619): accepted, flagged MESH0002',
  },
  'gateway.networking.k8s.io/GRPCRoute': {
    'rules[].sessionPersistence': 'experimental channel (GEP-1619): accepted, flagged MESH0002',
  },
  'policy.linkerd.io/AuthorizationPolicy': {
    'targetRef.namespace': "Linkerd's Gateway API PolicyTargetReference has it; the CRD prunes it",
  },
};

/**
 * Where meshctl is stricter than, or types differently from, the upstream CRD, and why: the
 * upstream validator or the upstream Go type (what the controller really reads) decides.
 */
const DIFFERENT: Record<string, Record<string, string>> = {
  'networking.istio.io/Gateway': {
    'spec: meshctl requires servers; upstream does not': "Istio's validation: gateway must have at least one server",
  },
  'security.istio.io/RequestAuthentication': {
    'jwtRules: meshctl requires issuer; upstream does not': "Istio's validation: issuer must be set",
  },
  'linkerd.io/ServiceProfile': {
    'routes[].condition.not: meshctl type object, upstream array':
      "Linkerd's Go type is *RequestMatch: an array fails to decode",
    'opaquePorts: meshctl type object, upstream array':
      "Linkerd's Go type is map[uint32]struct{}: an array fails to decode",
    'dstOverrides: meshctl requires authority, weight; upstream does not':
      "Linkerd's Go type always carries both (no omitempty); an override without them routes nowhere",
  },
};

const isNode = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);

interface Field {
  type: string | undefined;
  required: readonly string[];
  intOrString: boolean;
  preserve: boolean;
}

/** Every field path under `spec`, in the README's notation, with its type and required children. */
function fields(spec: unknown): Map<string, Field> {
  const out = new Map<string, Field>();
  const visit = (n: unknown, path: string): void => {
    if (!isNode(n)) return;
    const list = n.type === 'array' && isNode(n.items);
    const item = list ? (n.items as Node) : n;
    out.set(path, {
      type: typeof n.type === 'string' ? n.type : undefined,
      required: Array.isArray(item.required) ? (item.required as string[]) : [],
      intOrString: n['x-kubernetes-int-or-string'] === true,
      preserve: n['x-kubernetes-preserve-unknown-fields'] === true,
    });
    const base = list ? `${path}[]` : path;
    if (isNode(item.properties))
      for (const [k, v] of Object.entries(item.properties)) visit(v, base ? `${base}.${k}` : k);
    else if (isNode(item.additionalProperties) && isNode(item.additionalProperties.properties)) {
      for (const [k, v] of Object.entries(item.additionalProperties.properties)) visit(v, `${base}.<key>.${k}`);
    }
  };
  visit(spec, '');
  return out;
}

function upstreamFields(def: KindDefinition): Map<string, Field> | undefined {
  const crd = crds.find((c) => c.spec.group === def.group && c.spec.names.kind === def.kind);
  if (!crd) return undefined;
  const all = new Map<string, Field>();
  for (const v of crd.spec.versions) {
    const spec = (v.schema?.openAPIV3Schema?.properties as Node | undefined)?.spec;
    for (const [p, f] of fields(spec)) if (!all.has(p)) all.set(p, f);
  }
  return all;
}

const ours = (def: KindDefinition): Map<string, Field> => fields((openApiSchema(def).properties as Node).spec);
const KINDS = MESH_KINDS.map((k) => [`${k.group}/${k.kind}`, k] as const);

describe('meshctl schemas against the upstream CRDs', () => {
  it('every meshctl kind has an upstream CRD', () => {
    expect(MESH_KINDS.filter((k) => !upstreamFields(k)).map((k) => k.kind)).toEqual([]);
  });

  it.each(KINDS)('%s has every upstream field, and no other', (name, def) => {
    const up = upstreamFields(def)!;
    const mine = ours(def);
    // Below a field both sides keep as free-form (Linkerd's nested conditions), there is nothing to compare.
    const underFree = (p: string, m: Map<string, Field>): boolean =>
      [...m].some(([q, f]) => f.preserve && q !== '' && p.startsWith(`${q}.`));
    const missing = [...up.keys()].filter((p) => !mine.has(p) && !underFree(p, mine));
    const extra = [...mine.keys()].filter((p) => !up.has(p) && !underFree(p, up) && !(EXTRA[name] ?? {})[p]);
    expect({ missing, extra }).toEqual({ missing: [], extra: [] });
  });

  it.each(KINDS)('%s requires nothing upstream leaves optional, and agrees on types', (name, def) => {
    const up = upstreamFields(def)!;
    const problems: string[] = [];
    for (const [p, f] of ours(def)) {
      const u = up.get(p);
      if (!u) continue;
      const extraRequired = f.required.filter((r) => !u.required.includes(r));
      if (extraRequired.length)
        problems.push(`${p || 'spec'}: meshctl requires ${extraRequired.join(', ')}; upstream does not`);
      if (f.intOrString || u.intOrString || !f.type || !u.type) continue;
      // Istio's enum-like fields are strings either way; Kubernetes number is the looser integer.
      const same = f.type === u.type || (f.type === 'integer' && u.type === 'number');
      if (!same) problems.push(`${p}: meshctl type ${f.type}, upstream ${u.type}`);
    }
    expect(problems.filter((p) => !(DIFFERENT[name] ?? {})[p])).toEqual([]);
  });
});
