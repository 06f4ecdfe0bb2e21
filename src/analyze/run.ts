/**
 * Runs every analyzer over an AnalysisInput and returns the findings, after `--suppress` rules and
 * the namespace filter. Pure: no I/O, so a platform backend or a test can call it directly.
 */
import type { AuthorizationPolicy, FieldPath, MeshResource, ResourceIdentity } from '../config/index.js';
import { formatFieldPath, splitApiVersion } from '../config/index.js';
import type { SourcePosition } from '../errors.js';
import {
  allowWithoutRulesAnalyzer,
  mtlsConflictAnalyzer,
  optionalTokenAnalyzer,
  policySelectorAnalyzer,
} from './analyzers/security.js';
import {
  principalTrustDomainAnalyzer,
  requestPrincipalWithoutAuthnAnalyzer,
  shadowedAllowAnalyzer,
} from './analyzers/authorization.js';
import { gatewayCredentialAnalyzer, subsetWorkloadAnalyzer } from './analyzers/destination.js';
import {
  conflictingGatewaysAnalyzer,
  gatewayServicePortAnalyzer,
  hostInGatewayAnalyzer,
} from './analyzers/gateways.js';
import { injectionAnalyzer } from './analyzers/injection.js';
import { serviceProfileNameAnalyzer, trafficSplitAnalyzer } from './analyzers/linkerd.js';
import { routingAnalyzer } from './analyzers/routing.js';
import { gatewayApiRoutesAnalyzer } from './analyzers/gateway-api-routes.js';
import { ruleReachabilityAnalyzer } from './analyzers/rule-reachability.js';
import { applicationUidAnalyzer, jwtClaimRouteAnalyzer } from './analyzers/workload-checks.js';
import { schemaAnalyzer } from './analyzers/schema.js';
import { sidecarConflictAnalyzer } from './analyzers/sidecars.js';
import type { AnalysisContext, Analyzer, Finding, Typed } from './context.js';
import type { AnalysisInput, AnalyzedResource } from './input.js';
import type { MessageType } from './messages.js';

/** Every analyzer, in the order they run. */
export const ANALYZERS: readonly Analyzer[] = [
  schemaAnalyzer,
  routingAnalyzer,
  gatewayApiRoutesAnalyzer,
  ruleReachabilityAnalyzer,
  subsetWorkloadAnalyzer,
  gatewayCredentialAnalyzer,
  conflictingGatewaysAnalyzer,
  gatewayServicePortAnalyzer,
  hostInGatewayAnalyzer,
  sidecarConflictAnalyzer,
  mtlsConflictAnalyzer,
  policySelectorAnalyzer,
  allowWithoutRulesAnalyzer,
  optionalTokenAnalyzer,
  principalTrustDomainAnalyzer,
  requestPrincipalWithoutAuthnAnalyzer,
  shadowedAllowAnalyzer,
  trafficSplitAnalyzer,
  serviceProfileNameAnalyzer,
  injectionAnalyzer,
  applicationUidAnalyzer,
  jwtClaimRouteAnalyzer,
];

/** A `--suppress CODE=Kind/name.namespace` rule; `*` globs in every part. */
export interface Suppression {
  readonly code: string;
  readonly resource: string;
}

function glob(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

/** The text a suppression's resource part is matched against: `Kind/name.namespace` (or `Kind/name`). */
export function resourceRef(id: ResourceIdentity): string {
  return `${id.kind}/${id.name}${id.namespace ? `.${id.namespace}` : ''}`;
}

function suppressed(f: Finding, rules: readonly Suppression[]): boolean {
  return rules.some(
    (s) =>
      glob(s.code).test(f.type.code) &&
      (f.resource ? glob(s.resource).test(resourceRef(f.resource)) : s.resource === '*'),
  );
}

/** Options of a run. */
export interface AnalyzeOptions {
  readonly suppress?: readonly Suppression[];
  /** Report only findings about resources of this namespace (and about files with no resource). */
  readonly namespace?: string;
  readonly analyzers?: readonly Analyzer[];
}

function isIdentity(v: AnalyzedResource | ResourceIdentity): v is ResourceIdentity {
  return 'kind' in v && 'name' in v && !('validation' in v);
}

/** Runs the analyzers and returns the findings in file order. */
export function runAnalysis(input: AnalysisInput, options: AnalyzeOptions = {}): Finding[] {
  const findings: Finding[] = [];
  const ctx: AnalysisContext = {
    input,
    of<K extends MeshResource['kind']>(kind: K, group?: string) {
      const out: Typed<Extract<MeshResource, { kind: K }>>[] = [];
      for (const r of input.resources) {
        if (!r.mesh || r.mesh.kind !== kind) continue;
        if (group && (r.validation.kind?.group ?? splitApiVersion(r.mesh.apiVersion).group) !== group) continue;
        out.push({ r, res: r.mesh as Extract<MeshResource, { kind: K }> });
      }
      return out;
    },
    istioAuthorizationPolicies() {
      return this.of('AuthorizationPolicy', 'security.istio.io') as Typed<AuthorizationPolicy>[];
    },
    report(type: MessageType, on, message: string, path?: FieldPath) {
      let resource: ResourceIdentity | undefined;
      let position: SourcePosition | undefined;
      if (on && isIdentity(on)) resource = on;
      else if (on) {
        resource = on.validation.identity;
        position = on.locate(path ?? []);
      }
      findings.push({
        type,
        level: type.level,
        message,
        ...(resource ? { resource } : {}),
        ...(position ? { position } : {}),
        ...(path?.length ? { field: formatFieldPath(path) } : {}),
      });
    },
    reportAt(type, position, message) {
      findings.push({ type, level: type.level, message, position });
    },
  };
  for (const a of options.analyzers ?? ANALYZERS) a.run(ctx);
  return findings
    .filter((f) => !options.namespace || !f.resource?.namespace || f.resource.namespace === options.namespace)
    .filter((f) => !suppressed(f, options.suppress ?? []))
    .sort((a, b) => {
      const fa = a.position?.file ?? '\uffff';
      const fb = b.position?.file ?? '\uffff';
      if (fa !== fb) return fa < fb ? -1 : 1;
      return (a.position?.line ?? 0) - (b.position?.line ?? 0) || a.type.code.localeCompare(b.type.code);
    });
}
