/**
 * Linkerd's policy kinds -> the same sidecar policies as Istio's (ALLOW policies, port-scoped):
 * a Server makes its port deny what no authorization allows (or what its accessPolicy says);
 * ServerAuthorization and AuthorizationPolicy (targetRef Server or Namespace, with
 * MeshTLSAuthentication / NetworkAuthentication / ServiceAccount refs that must all hold) allow
 * clients; ports no Server covers follow the default inbound policy (all-unauthenticated unless
 * set otherwise). Linkerd identities (`sa.ns.serviceaccount.identity.linkerd.cluster.local`) are
 * the mesh's SPIFFE principals (`cluster.local/ns/ns/sa/sa`).
 */
import type { MeshResource } from '../../config/index.js';
import type { AuthzPolicyConfig, AuthzRuleConfig } from '../../protocol/proxy-config/index.js';
import { targetPortOn, type MeshSnapshot, type MeshWorkload } from './model.js';
import { servicesSelecting } from './selecting.js';

/** Linkerd's default clusterNetworks, plus loopback (the local platform's workloads). */
export const CLUSTER_NETWORKS = [
  '10.0.0.0/8',
  '100.64.0.0/10',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fd00::/8',
  '127.0.0.0/8',
  '::1/128',
];

/** The default inbound policies Linkerd knows. */
export type DefaultInboundPolicy =
  'all-unauthenticated' | 'all-authenticated' | 'cluster-authenticated' | 'cluster-unauthenticated' | 'deny' | 'audit';

type Source = NonNullable<NonNullable<AuthzRuleConfig['from']>[number]['source']>;
type Selector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
};
type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
};

/** Whether a Kubernetes label selector selects `labels` (an empty selector selects everything). */
export function labelSelectorMatches(sel: Selector | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!sel) return false;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const ok =
      e.operator === 'In'
        ? has && (e.values ?? []).includes(labels[e.key]!)
        : e.operator === 'NotIn'
          ? !has || !(e.values ?? []).includes(labels[e.key]!)
          : e.operator === 'Exists'
            ? has
            : e.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}

/** A Linkerd identity as a principal pattern: `sa.ns.serviceaccount.identity.linkerd.<td>` -> `<td>/ns/ns/sa/sa`. */
export function linkerdIdentityPrincipal(identity: string, trustDomain: string): string {
  if (identity === '*') return '*';
  const m = /^([^.]+)\.([^.]+)\.serviceaccount\.identity\.linkerd\.(.+)$/.exec(identity);
  if (!m) return identity;
  const [, sa, ns, td] = m;
  if (ns === '*') return '*';
  return sa === '*' ? `${td ?? trustDomain}/ns/${ns}/sa/*` : `${td ?? trustDomain}/ns/${ns}/sa/${sa}`;
}

const linkerd = (r: MeshResource, kind: string): boolean =>
  r.kind === kind && r.apiVersion.startsWith('policy.linkerd.io/');

/** Cross product: every source of `a` ANDed with every source of `b`. */
function andSources(a: Source[], b: Source[]): Source[] {
  const out: Source[] = [];
  for (const x of a) {
    for (const y of b) {
      const merged: Source = { ...x };
      for (const [k, v] of Object.entries(y) as [keyof Source, string[]][]) merged[k] = [...(merged[k] ?? []), ...v];
      out.push(merged);
    }
  }
  return out;
}

function networkSources(networks: readonly { cidr: string; except?: string[] }[]): Source[] {
  return networks.map((n) => ({ ipBlocks: [n.cidr], ...(n.except?.length ? { notIpBlocks: [...n.except] } : {}) }));
}

/** Sources a default inbound policy (or a Server accessPolicy) allows; null: none (deny). */
function defaultSources(policy: string): Source[] | null {
  switch (policy) {
    case 'all-unauthenticated':
    case 'audit':
      return [{}];
    case 'all-authenticated':
      return [{ principals: ['*'] }];
    case 'cluster-authenticated':
      return [{ principals: ['*'], ipBlocks: CLUSTER_NETWORKS }];
    case 'cluster-unauthenticated':
      return [{ ipBlocks: CLUSTER_NETWORKS }];
    default:
      return null;
  }
}

/**
 * The sidecar policies Linkerd's resources ask for on `workload`; empty when no Server selects it
 * and the default policy allows everyone (nothing to enforce).
 */
export function linkerdPolicies(
  snapshot: MeshSnapshot,
  workload: MeshWorkload,
  defaultPolicy: DefaultInboundPolicy = 'all-unauthenticated',
): AuthzPolicyConfig[] {
  const ns = workload.namespace;
  const td = snapshot.trustDomain;
  const inNs = (kind: string) =>
    snapshot.resources.filter(
      (r) => linkerd(r, kind) && (r.metadata.namespace ?? 'default') === ns,
    ) as unknown as Obj[];
  const servers = inNs('Server').filter((s) =>
    labelSelectorMatches(s.spec.podSelector as Selector | undefined, workload.labels),
  );
  const out: AuthzPolicyConfig[] = [];
  const defaults = defaultSources(defaultPolicy);
  if (servers.length === 0 && defaultPolicy === 'all-unauthenticated') return out;
  const meshTls = new Map(inNs('MeshTLSAuthentication').map((m) => [m.metadata.name, m]));
  const netAuthn = new Map(inNs('NetworkAuthentication').map((m) => [m.metadata.name, m]));
  const serverPorts: string[] = [];

  for (const s of servers) {
    const port = serverPort(s.spec.port as number | string, snapshot, workload);
    if (port === undefined) continue;
    serverPorts.push(String(port));
    const rules: AuthzRuleConfig[] = [];
    const to = [{ operation: { ports: [String(port)] } }];
    const allow = (sources: Source[] | null) => {
      if (sources?.length) rules.push({ from: sources.map((source) => ({ source })), to });
    };
    for (const sa of inNs('ServerAuthorization')) {
      const target = sa.spec.server as { name?: string; selector?: Selector };
      if (
        target.name !== undefined
          ? target.name !== s.metadata.name
          : !labelSelectorMatches(target.selector, s.metadata.labels ?? {})
      )
        continue;
      allow(serverAuthorizationSources(sa.spec.client as ClientSpec, td, ns));
    }
    for (const ap of inNs('AuthorizationPolicy')) {
      const ref = ap.spec.targetRef as { kind: string; name: string; group?: string };
      const targets =
        (ref.kind === 'Server' && ref.name === s.metadata.name) || (ref.kind === 'Namespace' && ref.name === ns);
      if (!targets) continue;
      allow(requiredSources(ap.spec.requiredAuthenticationRefs as Ref[], meshTls, netAuthn, td, ns));
    }
    const access = (s.spec.accessPolicy as string | undefined) ?? 'deny';
    allow(defaultSources(access));
    out.push({ name: `ns[${ns}]-policy[server-${s.metadata.name ?? ''}]`, action: 'ALLOW', rules });
    if (access === 'audit')
      out.push({ name: `ns[${ns}]-policy[server-${s.metadata.name ?? ''}-audit]`, action: 'AUDIT', rules: [{ to }] });
  }
  // Ports no Server covers: the default inbound policy.
  const elsewhere = serverPorts.length ? { to: [{ operation: { notPorts: serverPorts } }] } : {};
  out.push({
    name: `ns[${ns}]-policy[default-${defaultPolicy}]`,
    action: 'ALLOW',
    rules: defaults ? defaults.map((source) => ({ from: [{ source }], ...elsewhere })) : [],
  });
  if (defaultPolicy === 'audit')
    out.push({ name: `ns[${ns}]-policy[default-audit]`, action: 'AUDIT', rules: [elsewhere] });
  return out;
}

/** A Server's proxyProtocol as the inbound chain protocol of its port. */
const CHAIN_PROTOCOL: Readonly<Record<string, 'auto' | 'http1' | 'http2' | 'tcp'>> = {
  unknown: 'auto',
  'HTTP/1': 'http1',
  'HTTP/2': 'http2',
  gRPC: 'http2',
  // No HTTP parsing: bytes pass as they are, and only L4 authorization applies (Istio's TCP semantics).
  opaque: 'tcp',
  // The app's own TLS: the sidecar cannot read inside it, so it never tries.
  TLS: 'tcp',
};

/**
 * The inbound protocol each Linkerd Server selecting `workload` declares for its port
 * (`proxyProtocol`, as Linkerd: protocol discovery for inbound connections), by container port.
 * Ports where Servers disagree are left out (detection stays on), as Linkerd refuses such Servers.
 */
export function serverProtocols(
  snapshot: MeshSnapshot,
  workload: MeshWorkload,
): ReadonlyMap<number, 'auto' | 'http1' | 'http2' | 'tcp'> {
  const out = new Map<number, 'auto' | 'http1' | 'http2' | 'tcp'>();
  const conflicting = new Set<number>();
  for (const r of snapshot.resources) {
    if (!linkerd(r, 'Server') || (r.metadata.namespace ?? 'default') !== workload.namespace) continue;
    const s = r as unknown as Obj;
    if (!labelSelectorMatches(s.spec.podSelector as Selector | undefined, workload.labels)) continue;
    const port = serverPort(s.spec.port as number | string, snapshot, workload);
    const protocol = CHAIN_PROTOCOL[(s.spec.proxyProtocol as string | undefined) ?? 'unknown'];
    if (port === undefined || protocol === undefined) continue;
    if (out.has(port) && out.get(port) !== protocol) conflicting.add(port);
    out.set(port, protocol);
  }
  for (const p of conflicting) out.delete(p);
  return out;
}

/** The container port of a Server: a number, or a name resolved through the services' port names. */
export function serverPort(port: number | string, snapshot: MeshSnapshot, workload: MeshWorkload): number | undefined {
  if (typeof port === 'number') return port;
  if (/^[0-9]+$/.test(port)) return Number(port);
  for (const svc of servicesSelecting(snapshot.services, workload))
    for (const p of svc.ports) if (p.name === port) return targetPortOn(p, workload);
  return undefined;
}

interface ClientSpec {
  networks?: { cidr: string; except?: string[] }[];
  unauthenticated?: boolean;
  meshTLS?: {
    unauthenticatedTLS?: boolean;
    identities?: string[];
    serviceAccounts?: { name: string; namespace?: string }[];
  };
}

function serverAuthorizationSources(c: ClientSpec, td: string, ns: string): Source[] | null {
  let who: Source[] | null = null;
  if (c.unauthenticated || c.meshTLS?.unauthenticatedTLS) who = [{}];
  else if (c.meshTLS) {
    const principals = [
      ...(c.meshTLS.identities ?? []).map((i) => linkerdIdentityPrincipal(i, td)),
      ...(c.meshTLS.serviceAccounts ?? []).map((s) => `${td}/ns/${s.namespace ?? ns}/sa/${s.name}`),
    ];
    who = principals.length ? [{ principals }] : null;
  }
  if (!who && !c.networks) return null;
  who ??= [{}];
  return c.networks ? andSources(who, networkSources(c.networks)) : who;
}

type Ref = { kind: string; name: string; namespace?: string; group?: string };

/** Every required authentication must hold: the AND of each ref's sources; null when a ref names nothing known. */
function requiredSources(
  refs: readonly Ref[],
  meshTls: Map<string | undefined, Obj>,
  netAuthn: Map<string | undefined, Obj>,
  td: string,
  ns: string,
): Source[] | null {
  let acc: Source[] = [{}];
  for (const r of refs) {
    let sources: Source[] | null = null;
    if (r.kind === 'ServiceAccount') sources = [{ principals: [`${td}/ns/${r.namespace ?? ns}/sa/${r.name}`] }];
    else if (r.kind === 'MeshTLSAuthentication') {
      const m = meshTls.get(r.name)?.spec as { identities?: string[]; identityRefs?: Ref[] } | undefined;
      const principals = [
        ...(m?.identities ?? []).map((i) => linkerdIdentityPrincipal(i, td)),
        ...(m?.identityRefs ?? []).map((x) =>
          x.kind === 'Namespace'
            ? `${td}/ns/${x.name}/sa/*`
            : x.name === '*'
              ? '*'
              : `${td}/ns/${x.namespace ?? ns}/sa/${x.name}`,
        ),
      ];
      sources = principals.length ? [{ principals }] : null;
    } else if (r.kind === 'NetworkAuthentication') {
      const n = netAuthn.get(r.name)?.spec as { networks?: { cidr: string; except?: string[] }[] } | undefined;
      sources = n?.networks?.length ? networkSources(n.networks) : null;
    }
    // A reference to something that does not exist authorizes nobody (Linkerd: the policy is not ready).
    if (!sources) return null;
    acc = andSources(acc, sources);
  }
  return acc;
}
