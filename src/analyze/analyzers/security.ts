/**
 * Security analyzers: STRICT mTLS against DestinationRules that disable TLS, policy selectors that
 * match nothing, ALLOW policies without rules, and JWT validation that no policy makes mandatory.
 */
import type { AuthorizationPolicy, FieldPath, PeerAuthentication } from '../../config/index.js';
import type { AnalysisContext, Analyzer, Typed } from '../context.js';
import { clusterServiceOf, hostMatches, labelsMatch, resolveHost } from '../hosts.js';
import { Messages } from '../messages.js';

/** The namespace-wide (or mesh-wide) PeerAuthentication that decides the mode of a namespace. */
function effectivePeerAuthentication(ctx: AnalysisContext, namespace: string): Typed<PeerAuthentication> | undefined {
  const wide = ctx
    .of('PeerAuthentication')
    .filter((p) => !p.res.spec.selector?.matchLabels || Object.keys(p.res.spec.selector.matchLabels).length === 0);
  const setsMode = (p: Typed<PeerAuthentication>) =>
    p.res.spec.mtls?.mode !== undefined && p.res.spec.mtls.mode !== 'UNSET';
  return (
    wide.find((p) => p.res.metadata.namespace === namespace && setsMode(p)) ??
    wide.find((p) => ctx.input.rootNamespaces.includes(p.res.metadata.namespace!) && setsMode(p))
  );
}

/** PeerAuthentication STRICT while a DestinationRule sends plain text to the same namespace's services. */
export const mtlsConflictAnalyzer: Analyzer = {
  name: 'mtls-conflict',
  run(ctx) {
    const cd = ctx.input.clusterDomain;
    const namespaces = new Set<string>();
    for (const r of ctx.input.resources)
      if (r.validation.identity.namespace) namespaces.add(r.validation.identity.namespace);
    for (const n of ctx.input.inventory.namespaces ?? []) namespaces.add(n.name);
    for (const dr of ctx.of('DestinationRule')) {
      const fqdn = resolveHost(dr.res.spec.host, dr.res.metadata.namespace!, cd);
      const disabled: FieldPath[] = [];
      const tp = dr.res.spec.trafficPolicy;
      if (tp?.tls?.mode === 'DISABLE') disabled.push(['spec', 'trafficPolicy', 'tls', 'mode']);
      tp?.portLevelSettings?.forEach(
        (p, i) =>
          p.tls?.mode === 'DISABLE' && disabled.push(['spec', 'trafficPolicy', 'portLevelSettings', i, 'tls', 'mode']),
      );
      dr.res.spec.subsets?.forEach(
        (s, i) =>
          s.trafficPolicy?.tls?.mode === 'DISABLE' &&
          disabled.push(['spec', 'subsets', i, 'trafficPolicy', 'tls', 'mode']),
      );
      if (disabled.length === 0) continue;
      const direct = clusterServiceOf(fqdn, cd);
      const targets = direct
        ? [direct.namespace]
        : [...namespaces].filter((ns) => hostMatches(fqdn, `svc-name.${ns}.svc.${cd}`));
      for (const ns of targets) {
        const pa = effectivePeerAuthentication(ctx, ns);
        if (pa?.res.spec.mtls?.mode !== 'STRICT') continue;
        const scope = ctx.input.rootNamespaces.includes(pa.res.metadata.namespace!)
          ? 'the whole mesh'
          : `namespace "${ns}"`;
        for (const path of disabled) {
          ctx.report(
            Messages.MtlsConflict,
            dr.r,
            `PeerAuthentication ${pa.res.metadata.name}.${pa.res.metadata.namespace} requires mutual TLS (STRICT) for ${scope}, but this DestinationRule disables TLS to "${dr.res.spec.host}", so those requests are refused; remove tls.mode: DISABLE or use ISTIO_MUTUAL.`,
            path,
          );
        }
        break;
      }
    }
  },
};

function selectorText(labels: Readonly<Record<string, string>> | undefined, ns: string, root: boolean): string {
  if (labels && Object.keys(labels).length)
    return `the workloads labelled ${Object.entries(labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(',')}${root ? ' in the mesh' : ` in namespace "${ns}"`}`;
  return root ? 'every workload of the mesh' : `every workload of namespace "${ns}"`;
}

/** Selector-based policies (AuthorizationPolicy, RequestAuthentication, PeerAuthentication, Sidecar) selecting no known workload. */
export const policySelectorAnalyzer: Analyzer = {
  name: 'policy-selectors',
  run(ctx) {
    const workloads = ctx.input.inventory.workloads;
    if (!workloads) return;
    const policies = [
      ...ctx
        .istioAuthorizationPolicies()
        .map((p) => ({ t: p, labels: p.res.spec.selector?.matchLabels, path: ['spec', 'selector'] })),
      ...ctx
        .of('RequestAuthentication')
        .map((p) => ({ t: p, labels: p.res.spec.selector?.matchLabels, path: ['spec', 'selector'] })),
      ...ctx
        .of('PeerAuthentication')
        .map((p) => ({ t: p, labels: p.res.spec.selector?.matchLabels, path: ['spec', 'selector'] })),
      ...ctx
        .of('Sidecar')
        .map((p) => ({ t: p, labels: p.res.spec.workloadSelector?.labels, path: ['spec', 'workloadSelector'] })),
    ];
    for (const { t, labels, path } of policies) {
      const ns = t.res.metadata.namespace!;
      const root = ctx.input.rootNamespaces.includes(ns);
      if (!labels || Object.keys(labels).length === 0) {
        // A namespace-wide policy where the namespace runs nothing (while other namespaces do): a typo'd
        // namespace? Not when the input declares that namespace: it exists, and may get workloads later.
        const declared = ctx.input.inventory.namespaces?.some((n) => n.name === ns) ?? false;
        if (!root && !declared && workloads.length > 0 && !workloads.some((w) => w.namespace === ns)) {
          ctx.report(
            Messages.PolicySelectsNoWorkload,
            t.r,
            `This namespace-wide policy applies to namespace "${ns}", which runs no workload; check metadata.namespace (the policy applies to nothing as written).`,
            ['metadata', 'namespace'],
          );
        }
        continue;
      }
      const candidates = root ? workloads : workloads.filter((w) => w.namespace === ns);
      if (candidates.length === 0) continue; // no workload of that namespace is known: no basis to judge
      if (candidates.some((w) => labelsMatch(labels, w.labels))) continue;
      ctx.report(
        Messages.PolicySelectsNoWorkload,
        t.r,
        `The selector matches no workload: there are none of ${selectorText(labels, ns, root)}; fix the labels (the policy applies to nothing as written).`,
        path,
      );
    }
  },
};

/** ALLOW AuthorizationPolicies with no rules: they deny everything. */
export const allowWithoutRulesAnalyzer: Analyzer = {
  name: 'allow-without-rules',
  run(ctx) {
    for (const ap of ctx.istioAuthorizationPolicies()) {
      const action = ap.res.spec.action ?? 'ALLOW';
      if (action !== 'ALLOW' || (ap.res.spec.rules && ap.res.spec.rules.length > 0)) continue;
      const ns = ap.res.metadata.namespace!;
      ctx.report(
        Messages.AllowPolicyWithoutRules,
        ap.r,
        `This ALLOW policy has no rules, so it matches no request and denies every request to ${selectorText(ap.res.spec.selector?.matchLabels, ns, ctx.input.rootNamespaces.includes(ns))}; add rules, or write rules: [{}] to allow everything.`,
        ['spec'],
      );
    }
  },
};

function requiresToken(ap: AuthorizationPolicy): boolean {
  const action = ap.spec.action ?? 'ALLOW';
  return (ap.spec.rules ?? []).some((rule) => {
    const sources = rule.from?.map((f) => f.source) ?? [];
    if (action === 'ALLOW' && sources.some((s) => (s?.requestPrincipals?.length ?? 0) > 0)) return true;
    if (action === 'DENY' && sources.some((s) => (s?.notRequestPrincipals?.length ?? 0) > 0)) return true;
    return (rule.when ?? []).some((c) => c.key.startsWith('request.auth.'));
  });
}

/** RequestAuthentications that no AuthorizationPolicy backs: tokens are optional. */
export const optionalTokenAnalyzer: Analyzer = {
  name: 'optional-token',
  run(ctx) {
    const policies = ctx.istioAuthorizationPolicies();
    for (const ra of ctx.of('RequestAuthentication')) {
      const ns = ra.res.metadata.namespace!;
      const raLabels = ra.res.spec.selector?.matchLabels ?? {};
      const covered = policies.some((ap) => {
        const apNs = ap.res.metadata.namespace!;
        if (apNs !== ns && !ctx.input.rootNamespaces.includes(apNs)) return false;
        const apLabels = ap.res.spec.selector?.matchLabels ?? {};
        return labelsMatch(apLabels, raLabels) && requiresToken(ap.res);
      });
      if (covered) continue;
      ctx.report(
        Messages.TokenNotRequired,
        ra.r,
        `Tokens are optional for ${selectorText(ra.res.spec.selector?.matchLabels, ns, ctx.input.rootNamespaces.includes(ns))}: requests without a JWT are accepted, only invalid tokens are rejected; add an AuthorizationPolicy with requestPrincipals: ["*"] to require one.`,
        ['spec', 'jwtRules'],
      );
    }
  },
};
