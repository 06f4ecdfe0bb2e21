/**
 * istioctl analyze's own test suite (test/fixtures/upstream/istio-analyze/: its testdata and the 104
 * cases of analyzers_test.go) run through meshctl analyze, scored per Istio message type: found
 * (meshctl reports the mapped code on the same object), missed, and false positives (meshctl reports
 * a mapped code of the case's analyzer on an object Istio does not flag). The score is pinned in the
 * README table; regenerate it with MESHCTL_UPDATE_README=1 npx vitest run test/analyze/istio-conformance.test.ts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Finding } from '../../src/analyze/index.js';
import { analyzeTexts } from './support.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = `${root}test/fixtures/upstream/istio-analyze/`;

interface Case {
  name: string;
  analyzer: string;
  inputFiles: string[];
  expected: { type: string; resource: string }[];
}
const cases = JSON.parse(readFileSync(`${dir}cases.json`, 'utf8')) as Case[];

/**
 * Istio analyzer -> Istio message type -> the meshctl codes that report the same problem. A type
 * absent here has no meshctl counterpart yet.
 */
const MAP: Record<string, Record<string, string[]>> = {
  'virtualservice.DestinationHostAnalyzer': {
    ReferencedResourceNotFound: ['MESH0102', 'MESH0107'],
    VirtualServiceDestinationPortSelectorRequired: ['MESH0108'],
  },
  'virtualservice.DestinationRuleAnalyzer': { ReferencedResourceNotFound: ['MESH0101'] },
  'virtualservice.GatewayAnalyzer': {
    ReferencedResourceNotFound: ['MESH0105'],
    VirtualServiceHostNotFoundInGateway: ['MESH0111'],
  },
  'virtualservice.ConflictingMeshGatewayHostsAnalyzer': { ConflictingMeshGatewayVirtualServiceHosts: ['MESH0104'] },
  // InvalidGatewayCredential judges the Secret's content (keys, expiry); meshctl analyze never reads secret data.
  'gateway.SecretAnalyzer': { ReferencedResourceNotFound: ['MESH0202'] },
  'schemaValidation.CollectionValidationAnalyzer': {
    VirtualServiceUnreachableRule: ['MESH0109'],
    VirtualServiceIneffectiveMatch: ['MESH0110'],
  },
  'gateway.ConflictingGatewayAnalyzer': { ConflictingGateways: ['MESH0203'] },
  'gateway.IngressGatewayPortAnalyzer': { GatewayPortNotDefinedOnService: ['MESH0204'] },
  'sidecar.SelectorAnalyzer': {
    ReferencedResourceNotFound: ['MESH0302'],
    ConflictingSidecarWorkloadSelectors: ['MESH0205'],
    MultipleSidecarsWithoutWorkloadSelectors: ['MESH0205'],
  },
  'destinationrule.PodNotSelectedAnalyzer': { DestinationRuleSubsetNotSelectPods: ['MESH0201'] },
  'authz.AuthorizationPoliciesAnalyzer': { NoMatchingWorkloadsFound: ['MESH0302'] },
  'injection.Analyzer': { NamespaceNotInjected: ['MESH0501'] },
  // Istio's Deprecated on Sidecar egressProxy says "ignored": meshctl's accepted-not-enforced warning on that field.
  'deprecation.FieldAnalyzer': { Deprecated: ['MESH0003', 'MESH0002@spec.outboundTrafficPolicy.egressProxy'] },
  'deployment.ApplicationUIDAnalyzer': { InvalidApplicationUID: ['MESH0502'] },
  'virtualservice.JWTClaimRouteAnalyzer': { JwtClaimBasedRoutingWithoutRequestAuthN: ['MESH0308'] },
};

/** Whether a finding has a mapped code: `CODE`, or `CODE@field` (that code on that field only). */
function hasCode(f: Finding, codes: readonly string[]): boolean {
  return codes.some((c) => {
    const [code, field] = c.split('@') as [string, string | undefined];
    return f.type.code === code && (field === undefined || f.field === field);
  });
}

/**
 * The expectations meshctl does not meet on purpose, `case: Kind ns/name` -> why; the README lists
 * them. A miss not listed here fails the suite, and so does a reason for a case meshctl now finds.
 */
const EXPLAINED: Record<string, string> = {
  'gatewaySecret: Gateway defaultgateway-bogusCredentialName':
    'invalid name: Kubernetes names are lowercase (RFC 1123), so meshctl rejects the object (MESH0001 on metadata.name) and analyzes it no further',
  'virtualServiceDestinationHosts: VirtualService default/reviews-bogushost':
    "invalid object: its route[0] is `{}`, a route without destination (Istio's own validation rejects it too), so MESH0001 on spec.http[0].route[0].destination and no further analysis; both of its expectations",
  'virtualServiceGateways: VirtualService httpbin-bogus':
    "invalid object: a VirtualService without http, tcp or tls routes (Istio's validation rejects it), and its Gateways have no servers; MESH0001; both of its expectations",
  'virtualServiceGateways: VirtualService httpbin':
    "invalid objects: the VirtualService has no routes and the Gateway no servers (both rejected by Istio's validation); MESH0001",
  'virtualServiceGateways: VirtualService default/cross-test':
    "invalid objects: the VirtualService has no routes and the Gateway no servers (both rejected by Istio's validation); MESH0001",
  'gatewayBadPort: Gateway httpbin-gateway':
    "needs Istio's default ingress gateway: the input has neither the gateway's pods nor its Service (Istio's test harness adds them); meshctl judges ports only against the Services the input or the platform has",
  'DestinationRuleSubsetsNotSelectPods: DestinationRule default/subsets-not-select-pods':
    "the input has no Pod or Deployment at all: meshctl judges subsets against known workloads only, as a file-only analysis does not see the cluster's pods (judging would flag every subset of every config file)",
  'istioInjection: Namespace bar':
    'deliberate: MESH0501 names a workload that mesh config targets and that runs without the sidecar; an unlabelled namespace with no such workload (bar: nothing runs there) loses nothing, and flagging every unlabelled namespace is the false positive meshctl avoids',
};

/** `Kind ns/name` or `Kind name` (Istio's notation) against a finding's object. */
function sameObject(f: Finding, resource: string): boolean {
  const [kind, ref] = resource.split(' ') as [string, string];
  const [ns, name] = ref.includes('/') ? (ref.split('/') as [string, string]) : [undefined, ref];
  const r = f.resource;
  return !!r && r.kind === kind && r.name === name && (ns === undefined || r.namespace === ns);
}

interface Score {
  codes: Set<string>;
  expected: number;
  found: number;
  missed: string[];
  falsePositives: string[];
}

function score(): Map<string, Score> {
  const scores = new Map<string, Score>();
  const row = (type: string): Score => {
    let s = scores.get(type);
    if (!s) scores.set(type, (s = { codes: new Set(), expected: 0, found: 0, missed: [], falsePositives: [] }));
    return s;
  };
  for (const c of cases) {
    const files = Object.fromEntries(c.inputFiles.map((f) => [f, readFileSync(`${dir}${f}`, 'utf8')]));
    const findings = analyzeTexts(files);
    const map = MAP[c.analyzer] ?? {};
    const used = new Set<Finding>();
    for (const e of c.expected) {
      const s = row(e.type);
      const codes = map[e.type];
      if (!codes) {
        if (!Object.values(MAP).some((m) => m[e.type])) s.expected++;
        continue;
      }
      s.expected++;
      codes.forEach((code) => s.codes.add(code));
      const hit = findings.find((f) => !used.has(f) && hasCode(f, codes) && sameObject(f, e.resource));
      if (hit) {
        used.add(hit);
        s.found++;
      } else s.missed.push(`${c.name}: ${e.resource}`);
    }
    for (const [type, codes] of Object.entries(map)) {
      for (const f of findings) {
        if (used.has(f) || !hasCode(f, codes)) continue;
        used.add(f);
        const r = f.resource;
        row(type).falsePositives.push(`${c.name}: ${f.type.code} ${r?.kind} ${r?.namespace}/${r?.name}: ${f.message}`);
      }
    }
  }
  return scores;
}

function table(scores: Map<string, Score>): string {
  const rows = [...scores.entries()].sort(
    ([a, x], [b, y]) => Number(y.codes.size > 0) - Number(x.codes.size > 0) || a.localeCompare(b),
  );
  const lines = rows.map(([type, s]) =>
    s.codes.size
      ? `| ${type} | ${[...s.codes].map((c) => c.replace('@', ' on ')).join(', ')} | ${s.expected} | ${s.found} | ${s.missed.length} | ${s.falsePositives.length} |`
      : `| ${type} | — | ${s.expected} | | | |`,
  );
  const covered = rows.filter(([, s]) => s.codes.size);
  const sum = (f: (s: Score) => number) => covered.reduce((a, [, s]) => a + f(s), 0);
  return [
    `${cases.length} cases; ${rows.length} message types expected, ${covered.length} with a meshctl counterpart: ` +
      `${sum((s) => s.found)} found, ${sum((s) => s.missed.length)} missed, ${sum((s) => s.falsePositives.length)} false positives.`,
    '',
    '| Istio message type | meshctl code | expected | found | missed | false positives |',
    '|---|---|---|---|---|---|',
    ...lines,
    '',
    'Every miss, and why meshctl does not report it:',
    '',
    '| case: object | reason |',
    '|---|---|',
    ...Object.entries(EXPLAINED).map(([k, why]) => `| ${k} | ${why} |`),
  ].join('\n');
}

const MARK = /(<!-- generated:istio-analyze -->\n)[\s\S]*?(<!-- \/generated:istio-analyze -->)/;

describe("istioctl analyze's suite through meshctl analyze", () => {
  const scores = score();
  it('no false positive on any message type meshctl covers', () => {
    expect([...scores.values()].flatMap((s) => s.falsePositives)).toEqual([]);
  });

  it('every miss is one the README explains, and every explanation is of a current miss', () => {
    const missed = [...new Set([...scores.values()].flatMap((s) => s.missed))].sort();
    expect(missed).toEqual(Object.keys(EXPLAINED).sort());
  });

  it('the README table is the current score', () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    const want = readme.replace(MARK, (_m, a: string, b: string) => `${a}${table(scores)}\n${b}`);
    if (process.env.MESHCTL_UPDATE_README === '1') writeFileSync(`${root}README.md`, want);
    expect(MARK.test(readme)).toBe(true);
    expect(readme).toBe(want);
  });
});
