/**
 * Workloads that mesh configuration targets but that run without the sidecar: the config has no
 * effect on them. Needs the namespaces (their injection label) and the workloads, as a platform
 * reports them or as `-f` files contain them.
 */
import { Annotations, INJECT_NAMESPACE_LABEL } from '../../protocol/well-known.js';
import type { ResourceIdentity } from '../../config/index.js';
import type { AnalysisContext, Analyzer } from '../context.js';
import { hostMatches, labelsMatch, resolveHost, serviceFqdn } from '../hosts.js';
import type { WorkloadInfo } from '../input.js';
import { Messages } from '../messages.js';
import { destinationsOf } from './routing.js';

const ON = new Set(['enabled', 'true']);
const OFF = new Set(['disabled', 'false']);

/** The mesh resources that target a workload, as `Kind name.namespace`. */
function targetingConfig(ctx: AnalysisContext, w: WorkloadInfo): string[] {
  const cd = ctx.input.clusterDomain;
  const out: string[] = [];
  const hostsOfWorkload = (ctx.input.inventory.services ?? [])
    .filter(
      (s) =>
        s.namespace === w.namespace &&
        s.selector &&
        Object.keys(s.selector).length > 0 &&
        labelsMatch(s.selector, w.labels),
    )
    .map((s) => serviceFqdn(s, cd));
  const name = (r: { kind: string; metadata: { name?: string; namespace?: string } }) =>
    `${r.kind} ${r.metadata.name}.${r.metadata.namespace}`;
  const targets = (pattern: string) => hostsOfWorkload.some((h) => hostMatches(pattern, h));
  for (const vs of ctx.of('VirtualService')) {
    const ns = vs.res.metadata.namespace!;
    const hosts = [...(vs.res.spec.hosts ?? []), ...destinationsOf(vs.res).map((d) => d.dest.host)];
    if (hosts.some((h) => !h.includes('*') && targets(resolveHost(h, ns, cd)))) out.push(name(vs.res));
  }
  for (const dr of ctx.of('DestinationRule'))
    if (!dr.res.spec.host.includes('*') && targets(resolveHost(dr.res.spec.host, dr.res.metadata.namespace!, cd)))
      out.push(name(dr.res));
  for (const ts of ctx.of('TrafficSplit')) {
    const ns = ts.res.metadata.namespace!;
    if (
      [ts.res.spec.service, ...ts.res.spec.backends.map((b) => b.service)].some((s) => targets(resolveHost(s, ns, cd)))
    )
      out.push(name(ts.res));
  }
  for (const sp of ctx.of('ServiceProfile')) if (targets(sp.res.metadata.name ?? '')) out.push(name(sp.res));
  const selects = (ns: string | undefined, labels: Record<string, string> | undefined) =>
    ns === w.namespace && labels !== undefined && Object.keys(labels).length > 0 && labelsMatch(labels, w.labels);
  for (const p of ctx.istioAuthorizationPolicies())
    if (selects(p.res.metadata.namespace, p.res.spec.selector?.matchLabels)) out.push(name(p.res));
  for (const p of ctx.of('RequestAuthentication'))
    if (selects(p.res.metadata.namespace, p.res.spec.selector?.matchLabels)) out.push(name(p.res));
  for (const p of ctx.of('PeerAuthentication'))
    if (selects(p.res.metadata.namespace, p.res.spec.selector?.matchLabels)) out.push(name(p.res));
  for (const s of ctx.of('Server'))
    if (selects(s.res.metadata.namespace, s.res.spec.podSelector?.matchLabels)) out.push(name(s.res));
  return out;
}

/** Workloads outside the mesh although mesh config targets them. */
export const injectionAnalyzer: Analyzer = {
  name: 'namespace-injection',
  run(ctx) {
    const { workloads, namespaces } = ctx.input.inventory;
    if (!workloads || !namespaces) return;
    for (const w of workloads) {
      // A WorkloadEntry's sidecar (if any) runs on its VM: namespace injection has nothing to do with it.
      if (w.kind === 'WorkloadEntry') continue;
      const ns = namespaces.find((n) => n.name === w.namespace);
      if (!ns) continue;
      const podSetting = w.annotations[Annotations.inject] ?? '';
      if (w.annotations[Annotations.status] !== undefined || ON.has(podSetting) || OFF.has(podSetting)) continue; // injected, or deliberately in or out
      if (ns.labels[INJECT_NAMESPACE_LABEL] === 'enabled') continue;
      const config = targetingConfig(ctx, w);
      if (config.length === 0) continue;
      const file = ctx.input.resources.find(
        (r) =>
          r.core &&
          r.validation.identity.kind === w.kind &&
          r.validation.identity.name === w.name &&
          r.validation.identity.namespace === w.namespace,
      );
      const identity: ResourceIdentity = { apiVersion: '', kind: w.kind, name: w.name, namespace: w.namespace };
      const more = config.length > 1 ? ` (and ${config.length - 1} more)` : '';
      ctx.report(
        Messages.NamespaceNotInjected,
        file ?? identity,
        `${w.kind} ${w.name} runs without the sidecar, so ${config[0]}${more} has no effect on it: namespace "${w.namespace}" is not labelled for injection; run kubectl label namespace ${w.namespace} ${INJECT_NAMESPACE_LABEL}=enabled and restart it (or annotate its pods ${Annotations.inject}: enabled).`,
        ['metadata', 'name'],
      );
    }
  },
};
