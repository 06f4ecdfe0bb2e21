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
  'deprecation.FieldAnalyzer': { Deprecated: ['MESH0003'] },
  'deployment.ApplicationUIDAnalyzer': { InvalidApplicationUID: ['MESH0502'] },
  'virtualservice.JWTClaimRouteAnalyzer': { JwtClaimBasedRoutingWithoutRequestAuthN: ['MESH0308'] },
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
      const hit = findings.find((f) => !used.has(f) && codes.includes(f.type.code) && sameObject(f, e.resource));
      if (hit) {
        used.add(hit);
        s.found++;
      } else s.missed.push(`${c.name}: ${e.resource}`);
    }
    for (const [type, codes] of Object.entries(map)) {
      for (const f of findings) {
        if (used.has(f) || !codes.includes(f.type.code)) continue;
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
      ? `| ${type} | ${[...s.codes].join(', ')} | ${s.expected} | ${s.found} | ${s.missed.length} | ${s.falsePositives.length} |`
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
  ].join('\n');
}

const MARK = /(<!-- generated:istio-analyze -->\n)[\s\S]*?(<!-- \/generated:istio-analyze -->)/;

describe("istioctl analyze's suite through meshctl analyze", () => {
  const scores = score();
  for (const [t, s] of scores)
    if (s.missed.length || s.falsePositives.length)
      for (const [t, s] of scores)
        if (s.missed.length || s.falsePositives.length)
          for (const [t, s] of scores)
            if (s.missed.length || s.falsePositives.length)
              it('no false positive on any message type meshctl covers', () => {
                expect([...scores.values()].flatMap((s) => s.falsePositives)).toEqual([]);
              });

  it('the README table is the current score', () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    const want = readme.replace(MARK, (_m, a: string, b: string) => `${a}${table(scores)}\n${b}`);
    if (process.env.MESHCTL_UPDATE_README === '1') writeFileSync(`${root}README.md`, want);
    expect(MARK.test(readme)).toBe(true);
    expect(readme).toBe(want);
  });
});
