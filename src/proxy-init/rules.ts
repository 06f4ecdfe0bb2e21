/**
 * The nat-table rules of traffic capture, as a pure function of the options: the rules of Istio's
 * istio-iptables (tools/istio-iptables/pkg/capture/run.go, REDIRECT mode) with meshctl's chain
 * names. Each rule is written in the exact form `iptables-save` prints it back, so "are our rules
 * already in place?" is a plain comparison with the saved state, for nft and legacy alike.
 *
 * Differences from istio-iptables, on purpose: no HBONE tunnel port (15008) and no DNS capture
 * (meshctl has neither); TCP only; interface exclusions are the first rules of MESH_INBOUND and
 * MESH_OUTPUT instead of RETURNs in PREROUTING/OUTPUT, so the only rules meshctl ever puts in a
 * built-in chain are the two jumps, which is what makes `--cleanup` exact.
 */
import type { CaptureOptions, IpFamily } from './options.js';

/** The chains meshctl owns, in the order they are declared. */
export const MeshChains = {
  inbound: 'MESH_INBOUND',
  redirect: 'MESH_REDIRECT',
  inRedirect: 'MESH_IN_REDIRECT',
  output: 'MESH_OUTPUT',
} as const;

/** Prefix of every chain meshctl owns; anything else in the table belongs to someone else. */
export const MESH_CHAIN_PREFIX = 'MESH_';

/** One rule appended to a chain of the nat table. `spec` is everything after `-A <chain>`. */
export interface Rule {
  chain: string;
  spec: string;
}

/** The whole capture for one address family: chains to create and rules to append, in order. */
export interface RuleSet {
  family: IpFamily;
  table: 'nat';
  chains: readonly string[];
  rules: readonly Rule[];
}

/** `-A CHAIN spec`, as in an iptables-restore file and in iptables-save output. */
export function ruleLine(rule: Rule): string {
  return `-A ${rule.chain} ${rule.spec}`;
}

/** iptables' multiport match takes at most 15 ports per rule. */
const MULTIPORT_MAX = 15;

/** Rules matching destination ports: one `--dport` for one port, multiport groups of 15 otherwise. */
function portMatches(ports: readonly number[]): string[] {
  if (ports.length === 1) return [`-p tcp -m tcp --dport ${ports[0]}`];
  const out: string[] = [];
  for (let i = 0; i < ports.length; i += MULTIPORT_MAX) {
    out.push(`-p tcp -m multiport --dports ${ports.slice(i, i + MULTIPORT_MAX).join(',')}`);
  }
  return out;
}

/** Loopback and the inbound-passthrough source address of each family (Istio's 127.0.0.6 / ::6). */
const LOOPBACK: Record<IpFamily, { host: string; passthroughSource: string; isLoopback: (cidr: string) => boolean }> = {
  ipv4: { host: '127.0.0.1/32', passthroughSource: '127.0.0.6/32', isLoopback: (c) => c.startsWith('127.') },
  ipv6: { host: '::1/128', passthroughSource: '::6/128', isLoopback: (c) => c === '::1/128' },
};

/** Builds the capture rules for one family. Same options, same rules, same order: always. */
export function buildRules(o: CaptureOptions, family: IpFamily): RuleSet {
  const { inbound, redirect, inRedirect, output } = MeshChains;
  const lo = LOOPBACK[family];
  const rules: Rule[] = [];
  const add = (chain: string, spec: string) => rules.push({ chain, spec });

  add(redirect, `-p tcp -j REDIRECT --to-ports ${o.outboundCapturePort}`);
  add(inRedirect, `-p tcp -j REDIRECT --to-ports ${o.inboundCapturePort}`);

  // Inbound: every TCP connection arriving at the pod goes to the inbound listener, except the
  // proxy's own ports and the excluded ones (or only the included ports, when a list is given).
  const excludedIn = new Set(o.excludeInboundPorts);
  const inboundPorts = o.includeInboundPorts === '*' ? '*' : o.includeInboundPorts.filter((p) => !excludedIn.has(p));
  if (inboundPorts === '*' || inboundPorts.length > 0) {
    add('PREROUTING', `-p tcp -j ${inbound}`);
    for (const iface of o.excludeInterfaces) add(inbound, `-i ${iface} -j RETURN`);
    if (inboundPorts === '*') {
      for (const m of portMatches(o.excludeInboundPorts)) add(inbound, `${m} -j RETURN`);
      add(inbound, `-p tcp -j ${inRedirect}`);
    } else {
      for (const port of inboundPorts) add(inbound, `-p tcp -m tcp --dport ${port} -j ${inRedirect}`);
    }
  }

  // Outbound: everything the pod sends, except the proxy's own traffic (no loop), loopback, and
  // the exclusions, goes to the outbound listener.
  add('OUTPUT', `-p tcp -j ${output}`);
  for (const iface of o.excludeInterfaces) add(output, `-o ${iface} -j RETURN`);
  // Port exclusions come before the self-call rules below, as in Istio, so they always win.
  for (const m of portMatches(o.excludeOutboundPorts)) add(output, `${m} -j RETURN`);
  // The proxy's inbound side connects to the app from 127.0.0.6 / ::6: never captured.
  add(output, `-s ${lo.passthroughSource} -o lo -j RETURN`);

  const includeRanges =
    o.includeOutboundIpRanges === '*' ? '*' : o.includeOutboundIpRanges.filter((c) => c.family === family);
  const loopbackIncluded = includeRanges !== '*' && includeRanges.some((c) => lo.isLoopback(c.text));
  const owners: [string, number][] = [
    ...o.proxyUids.map((u): [string, number] => ['--uid-owner', u]),
    ...o.proxyGids.map((g): [string, number] => ['--gid-owner', g]),
  ];
  for (const [match, id] of owners) {
    // The pod calling itself through its own Service: the proxy's outbound connection to the pod's
    // own address leaves on lo and must come back in through the inbound listener.
    add(output, `! -d ${lo.host} -o lo -m owner ${match} ${id} -j ${inRedirect}`);
    // The app talking to itself by its own address over lo: not captured (unless loopback is
    // explicitly included).
    if (!loopbackIncluded) add(output, `-o lo -m owner ! ${match} ${id} -j RETURN`);
    // Everything else the proxy sends goes out as is: this is what prevents a redirect loop.
    add(output, `-m owner ${match} ${id} -j RETURN`);
  }
  // Localhost: apps that talk to the proxy (or each other) explicitly.
  add(output, `-d ${lo.host} -j RETURN`);
  for (const cidr of o.excludeOutboundIpRanges) if (cidr.family === family) add(output, `-d ${cidr.text} -j RETURN`);
  for (const port of o.includeOutboundPorts) add(output, `-p tcp -m tcp --dport ${port} -j ${redirect}`);
  if (includeRanges === '*') {
    add(output, `-j ${redirect}`);
  } else if (includeRanges.length > 0) {
    for (const cidr of includeRanges) add(output, `-d ${cidr.text} -j ${redirect}`);
    add(output, '-j RETURN');
  }

  return { family, table: 'nat', chains: [inbound, redirect, inRedirect, output], rules };
}

/** The rules of a set that live in built-in chains (the jumps into meshctl's chains). */
export function builtinRules(set: RuleSet): Rule[] {
  return set.rules.filter((r) => !r.chain.startsWith(MESH_CHAIN_PREFIX));
}
