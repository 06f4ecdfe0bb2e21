/**
 * A pod's resolv.conf, as the kubelet writes it from `dnsPolicy` and `dnsConfig`: ClusterFirst points at the
 * cluster DNS with the `<ns>.svc.<domain> svc.<domain> <domain>` search path and ndots:5; Default uses the
 * node's resolv.conf; None only dnsConfig. `ip netns exec` bind-mounts it over /etc/resolv.conf for every
 * process of the pod (see pod-network.ts).
 */
import type { V1Pod } from '@kubernetes/client-node';

/** The cluster's DNS facts. */
export interface ClusterDns {
  serverIP: string;
  domain: string;
}

/** The parts of a resolv.conf the kubelet merges. */
interface Resolv {
  nameservers: string[];
  searches: string[];
  options: { name: string; value?: string }[];
}

/** Parses the node's resolv.conf (nameserver, search/domain, options). */
export function parseResolvConf(text: string): Resolv {
  const r: Resolv = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split('\n')) {
    const [key, ...rest] = raw
      .replace(/[#;].*/, '')
      .trim()
      .split(/\s+/);
    if (key === 'nameserver' && rest[0]) r.nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') r.searches = rest;
    else if (key === 'options') for (const o of rest) r.options.push(option(o));
  }
  return r;
}

function option(o: string): { name: string; value?: string } {
  const i = o.indexOf(':');
  return i < 0 ? { name: o } : { name: o.slice(0, i), value: o.slice(i + 1) };
}

/** The resolv.conf of `pod` (the kubelet's limits: 3 nameservers, 32 search domains). */
export function podResolvConf(pod: V1Pod, cluster: ClusterDns, nodeResolvConf: string): string {
  const policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  const node = parseResolvConf(nodeResolvConf);
  const ns = pod.metadata?.namespace ?? 'default';
  let base: Resolv;
  if (policy === 'None') base = { nameservers: [], searches: [], options: [] };
  else if (policy === 'Default' || (policy === 'ClusterFirst' && pod.spec?.hostNetwork)) base = node;
  else {
    base = {
      nameservers: [cluster.serverIP],
      searches: [`${ns}.svc.${cluster.domain}`, `svc.${cluster.domain}`, cluster.domain, ...node.searches],
      options: [{ name: 'ndots', value: '5' }],
    };
  }
  const cfg = pod.spec?.dnsConfig;
  const nameservers = [...new Set([...base.nameservers, ...(cfg?.nameservers ?? [])])].slice(0, 3);
  const searches = [...new Set([...base.searches, ...(cfg?.searches ?? [])])].slice(0, 32);
  // dnsConfig options override those of the same name (kubelet: later wins).
  const options = new Map(base.options.map((o) => [o.name, o.value]));
  for (const o of cfg?.options ?? []) if (o.name) options.set(o.name, o.value);
  const lines = nameservers.map((n) => `nameserver ${n}`);
  if (searches.length) lines.push(`search ${searches.join(' ')}`);
  if (options.size)
    lines.push(`options ${[...options].map(([n, v]) => (v === undefined ? n : `${n}:${v}`)).join(' ')}`);
  return lines.join('\n') + '\n';
}
