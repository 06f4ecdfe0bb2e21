/** DestinationRule and Gateway analyzers: subsets that select no workload, Gateway secrets that do not exist. */
import type { Analyzer } from '../context.js';
import { clusterServiceOf, labelsMatch, resolveHost, serviceForHost } from '../hosts.js';
import { Messages } from '../messages.js';

function describeLabels(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** Label keys (or key prefixes) that Kubernetes and Istio put on endpoints from their node or network. */
const TOPOLOGY = [
  'topology.kubernetes.io',
  'topology.istio.io',
  'failure-domain.beta.kubernetes.io',
  'kubernetes.io/hostname',
];

/** DestinationRule subsets whose labels match none of the host's workloads (workloads known). */
export const subsetWorkloadAnalyzer: Analyzer = {
  name: 'destination-rule-subsets',
  run(ctx) {
    const workloads = ctx.input.inventory.workloads;
    if (!workloads) return;
    const cd = ctx.input.clusterDomain;
    for (const dr of ctx.of('DestinationRule')) {
      const fqdn = resolveHost(dr.res.spec.host, dr.res.metadata.namespace!, cd);
      const svc = clusterServiceOf(fqdn, cd);
      if (!svc) continue;
      const service = serviceForHost(fqdn, ctx.input.inventory, cd);
      const backing = workloads.filter(
        (w) => w.namespace === svc.namespace && (!service?.selector || labelsMatch(service.selector, w.labels)),
      );
      if (backing.length === 0) continue; // nothing known about this host's workloads: no basis to judge
      dr.res.spec.subsets?.forEach((s, i) => {
        const topology = (k: string) => TOPOLOGY.some((t) => k === t || k.startsWith(`${t}/`));
        // A topology label asking for an empty value: endpoints get topology labels only from
        // non-empty node labels, so no endpoint ever carries it.
        const empty = Object.entries(s.labels ?? {}).find(([k, v]) => topology(k) && v === '');
        if (empty) {
          ctx.report(
            Messages.SubsetSelectsNoWorkload,
            dr.r,
            `Subset "${s.name}" selects no workload of host "${dr.res.spec.host}": its topology label ${empty[0]} has an empty value, which no endpoint carries; give it a value or remove it.`,
            ['spec', 'subsets', i, 'labels', empty[0]],
          );
          return;
        }
        // Topology labels (zone, region, network, node) are on endpoints, not in pod templates: not judged.
        const labels = Object.fromEntries(Object.entries(s.labels ?? {}).filter(([k]) => !topology(k)));
        if (Object.keys(labels).length === 0) return;
        if (backing.some((w) => labelsMatch(labels, w.labels))) return;
        ctx.report(
          Messages.SubsetSelectsNoWorkload,
          dr.r,
          `Subset "${s.name}" selects no workload of host "${dr.res.spec.host}": none of ${backing.map((w) => `${w.kind} ${w.name}`).join(', ')} has labels ${describeLabels(labels)}; fix the subset labels or deploy that version.`,
          ['spec', 'subsets', i, 'labels'],
        );
      });
    }
  },
};

/** Gateway servers whose credentialName Secret does not exist where the gateway runs (secrets known). */
export const gatewayCredentialAnalyzer: Analyzer = {
  name: 'gateway-credentials',
  run(ctx) {
    const secrets = ctx.input.inventory.secrets;
    if (!secrets) return;
    for (const gw of ctx.of('Gateway')) {
      const selector = gw.res.spec.selector ?? {};
      const runners = (ctx.input.inventory.workloads ?? []).filter(
        (w) => Object.keys(selector).length > 0 && labelsMatch(selector, w.labels),
      );
      // Where the gateway's pods run; the stock ingress/egress gateways (not in the input) run in the root namespace.
      const stock = !runners.length && ['ingressgateway', 'egressgateway'].includes(selector.istio ?? '');
      const namespaces = runners.length
        ? [...new Set(runners.map((w) => w.namespace))]
        : stock
          ? [...ctx.input.rootNamespaces]
          : [gw.res.metadata.namespace!];
      gw.res.spec.servers.forEach((s, i) => {
        const names = [s.tls?.credentialName, ...(s.tls?.credentialNames ?? [])].filter((n): n is string => !!n);
        for (const name of names) {
          const missing = namespaces.filter(
            (ns) =>
              !secrets.some((sec) => sec.namespace === ns && (sec.name === name || sec.name === `${name}-cacert`)),
          );
          if (missing.length === 0 || missing.length < namespaces.length) continue;
          const ns = missing[0]!;
          ctx.report(
            Messages.GatewayCredentialNotFound,
            gw.r,
            `credentialName "${name}" names no Secret in namespace "${ns}", where the gateway runs; create it (kubectl create secret tls ${name} -n ${ns} --cert=cert.pem --key=key.pem) or fix the name.`,
            ['spec', 'servers', i, 'tls', 'credentialName'],
          );
        }
      });
    }
  },
};
