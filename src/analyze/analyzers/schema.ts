/** Turns parse failures and validation issues (schema, regex, percentages, unsupported fields...) into findings. */
import type { FieldPath, IssueRule } from '../../config/index.js';
import type { AnalysisContext, Analyzer } from '../context.js';
import type { AnalyzedResource } from '../input.js';
import { hostMatches, resolveHost } from '../hosts.js';
import { Messages, type MessageType } from '../messages.js';

/** The message type of a validation issue (what `apply` prints for its warnings too). */
export function typeFor(rule: IssueRule, severity: 'error' | 'warning' | 'info'): MessageType {
  switch (rule) {
    case 'regex':
      return Messages.InvalidRegex;
    case 'percent':
      return Messages.PercentageOutOfRange;
    case 'duration':
      return Messages.InvalidDuration;
    case 'unsupported':
      return Messages.UnsupportedField;
    case 'deprecated':
      return Messages.DeprecatedField;
    case 'wrong-group':
      return Messages.WrongApiGroup;
    case 'not-mesh-kind':
      return Messages.NotMeshKind;
    case 'unhonoured-kind':
      return Messages.UnhonouredKind;
    case 'unknown-field':
      return severity === 'error' ? Messages.SchemaError : Messages.UnknownField;
    case 'schema':
    case 'too-large':
    case 'header':
      return Messages.SchemaError;
  }
}

/** Findings for everything validation reported. */
export const schemaAnalyzer: Analyzer = {
  name: 'schema',
  run(ctx) {
    for (const f of ctx.input.parseFailures) {
      ctx.reportAt(
        Messages.InputParseError,
        f.position,
        `${f.message} (column ${f.position.column}); fix the syntax there`,
      );
    }
    const originating = originatingRules(ctx);
    for (const r of ctx.input.resources) {
      const v = r.validation;
      for (const issue of [...v.errors, ...v.warnings, ...v.notes]) {
        if (issue.rule === 'unsupported' && originating.has(r) && isOriginationField(issue.path)) continue;
        ctx.report(
          typeFor(issue.rule, issue.severity),
          r,
          `${issue.field ? `${issue.field}: ` : ''}${issue.message}`,
          issue.path,
        );
      }
    }
  },
};

/**
 * The `tls` fields the proxy applies when it originates TLS towards a ServiceEntry host
 * (src/control-plane/translate/service-entry.ts upstreamTlsOf): the destination-level and
 * port-level policy only; subset `tls` and `caCrl` are not applied anywhere.
 */
const ORIGINATION_FIELDS = new Set([
  'mode',
  'clientCertificate',
  'privateKey',
  'caCertificates',
  'credentialName',
  'subjectAltNames',
  'sni',
  'insecureSkipVerify',
]);

/** Whether `path` is one of ORIGINATION_FIELDS under `spec.trafficPolicy[.portLevelSettings[i]].tls`. */
function isOriginationField(path: FieldPath | undefined): boolean {
  if (!path || path[0] !== 'spec' || path[1] !== 'trafficPolicy') return false;
  const at = path[2] === 'tls' ? 2 : path[2] === 'portLevelSettings' && path[4] === 'tls' ? 4 : -1;
  return at > 0 && path.length === at + 2 && ORIGINATION_FIELDS.has(String(path[at + 1]));
}

/**
 * DestinationRules whose host covers a ServiceEntry host: their TLS origination (SIMPLE/MUTUAL) is
 * enforced, so the per-object "ServiceEntry hosts only" warning does not apply to them. Judged over
 * the whole input (the files and what the platform holds), as Istio's analyzers see the whole config.
 */
function originatingRules(ctx: AnalysisContext): Set<AnalyzedResource> {
  const cd = ctx.input.clusterDomain;
  const entryHosts = ctx
    .of('ServiceEntry')
    .flatMap((se) => se.res.spec.hosts.map((h) => resolveHost(h, se.res.metadata.namespace!, cd)));
  if (entryHosts.length === 0) return new Set();
  return new Set(
    ctx
      .of('DestinationRule')
      .filter((dr) => {
        const host = resolveHost(dr.res.spec.host, dr.res.metadata.namespace!, cd);
        return entryHosts.some((h) => hostMatches(host, h));
      })
      .map((dr) => dr.r),
  );
}
