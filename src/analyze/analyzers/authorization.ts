/**
 * AuthorizationPolicy analyzers beyond the selector checks of security.ts: principals from another
 * trust domain (never match a mesh identity), rules on JWT identities where no RequestAuthentication
 * verifies tokens (every request is anonymous), and DENY rules that shadow an ALLOW rule entirely.
 */
import type { AuthorizationPolicy, RequestAuthentication } from '../../config/index.js';
import { TRUST_DOMAIN } from '../../protocol/well-known.js';
import type { AnalysisContext, Analyzer, Typed } from '../context.js';
import { labelsMatch } from '../hosts.js';
import { Messages } from '../messages.js';

type Rule = NonNullable<AuthorizationPolicy['spec']['rules']>[number];

/** Principals (and notPrincipals) naming another trust domain than the mesh's. */
export const principalTrustDomainAnalyzer: Analyzer = {
  name: 'principal-trust-domain',
  run(ctx) {
    for (const ap of ctx.istioAuthorizationPolicies()) {
      (ap.res.spec.rules ?? []).forEach((rule, i) =>
        (rule.from ?? []).forEach((f, j) => {
          for (const field of ['principals', 'notPrincipals'] as const) {
            (f.source?.[field] ?? []).forEach((p, k) => {
              if (p.startsWith('*') || p.startsWith('spiffe://')) return;
              const td = p.split('/')[0]!;
              if (td === TRUST_DOMAIN || td.endsWith('*')) return;
              ctx.report(
                Messages.PrincipalOutsideTrustDomain,
                ap.r,
                `"${p}" is in trust domain "${td}", but mesh identities are ${TRUST_DOMAIN}/ns/NS/sa/SA: it never matches a caller; write ${TRUST_DOMAIN}/${p.split('/').slice(1).join('/') || 'ns/NS/sa/SA'}.`,
                ['spec', 'rules', i, 'from', j, 'source', field, k],
              );
            });
          }
        }),
      );
    }
  },
};

function readsJwt(rule: Rule): boolean {
  return (
    (rule.from ?? []).some(
      (f) => (f.source?.requestPrincipals?.length ?? 0) > 0 || (f.source?.notRequestPrincipals?.length ?? 0) > 0,
    ) || (rule.when ?? []).some((c) => c.key.startsWith('request.auth.'))
  );
}

/** Whether a RequestAuthentication reaches (some of) the workloads an AuthorizationPolicy selects. */
function covers(ctx: AnalysisContext, ra: Typed<RequestAuthentication>, ap: Typed<AuthorizationPolicy>): boolean {
  const raNs = ra.res.metadata.namespace!;
  const apNs = ap.res.metadata.namespace!;
  // A mesh-wide policy reaches the workloads of every RequestAuthentication.
  if (ctx.input.rootNamespaces.includes(apNs)) return true;
  if (raNs !== apNs && !ctx.input.rootNamespaces.includes(raNs)) return false;
  const raLabels = ra.res.spec.selector?.matchLabels ?? {};
  const apLabels = ap.res.spec.selector?.matchLabels ?? {};
  return labelsMatch(raLabels, apLabels);
}

/** Rules on request principals or request.auth.* for workloads no RequestAuthentication covers. */
export const requestPrincipalWithoutAuthnAnalyzer: Analyzer = {
  name: 'request-principal-without-authn',
  run(ctx) {
    const ras = ctx.of('RequestAuthentication') as Typed<RequestAuthentication>[];
    for (const ap of ctx.istioAuthorizationPolicies()) {
      if (ras.some((ra) => covers(ctx, ra, ap))) continue;
      (ap.res.spec.rules ?? []).forEach((rule, i) => {
        if (!readsJwt(rule)) return;
        const effect =
          (ap.res.spec.action ?? 'ALLOW') === 'ALLOW'
            ? 'this ALLOW rule never matches'
            : 'the rule sees every request as anonymous';
        ctx.report(
          Messages.RequestPrincipalWithoutAuthentication,
          ap.r,
          `Rule ${i} reads the request's JWT (requestPrincipals or request.auth.*) but no RequestAuthentication verifies tokens for these workloads: ${effect}; add a RequestAuthentication with the issuer's jwtRules.`,
          ['spec', 'rules', i],
        );
      });
    }
  },
};

/** A DENY rule that matches every request (an empty rule) makes ALLOW rules of the same workloads unreachable. */
export const shadowedAllowAnalyzer: Analyzer = {
  name: 'shadowed-allow',
  run(ctx) {
    const policies = ctx.istioAuthorizationPolicies();
    const denyAll = policies.filter(
      (p) =>
        p.res.spec.action === 'DENY' &&
        (p.res.spec.rules ?? []).some((r) => !r.from?.length && !r.to?.length && !r.when?.length),
    );
    for (const ap of policies) {
      if ((ap.res.spec.action ?? 'ALLOW') !== 'ALLOW' || !(ap.res.spec.rules ?? []).length) continue;
      const ns = ap.res.metadata.namespace!;
      const labels = ap.res.spec.selector?.matchLabels ?? {};
      const shadow = denyAll.find((d) => {
        const dNs = d.res.metadata.namespace!;
        if (dNs !== ns && !ctx.input.rootNamespaces.includes(dNs)) return false;
        return labelsMatch(d.res.spec.selector?.matchLabels ?? {}, labels);
      });
      if (!shadow) continue;
      ctx.report(
        Messages.AllowShadowedByDeny,
        ap.r,
        `DENY policy ${shadow.res.metadata.name}.${shadow.res.metadata.namespace} has a rule that matches every request to these workloads, and DENY is evaluated first: no rule of this ALLOW policy can ever allow a request; narrow the DENY rule.`,
        ['spec', 'rules'],
      );
    }
  },
};
