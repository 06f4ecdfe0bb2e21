/**
 * AuthorizationPolicy + RequestAuthentication -> the `authz` block of a workload's inbound
 * listeners. A policy applies to a workload as Istio scopes it: in the root namespace without a
 * selector (mesh-wide), with a selector (matching workloads of every namespace), in the workload's
 * namespace without a selector, or with a selector matching its labels. Policies attached with
 * targetRef(s) only (waypoints, gateways) are not run by sidecars (MESH0002 says so at apply and
 * analyze). CUSTOM policies have no external authorizer to ask, so they fail closed: their rules
 * deny what they match (istiod does the same when a CUSTOM provider is unusable), never a silent
 * allow. Rules keep Istio's shape; the proxy compiles them. Linkerd's
 * policy kinds become policies of the same shape (linkerd-authorization.ts).
 */
import type { AuthorizationPolicy, RequestAuthentication } from '../../config/index.js';
import type {
  AuthzConfig,
  AuthzPolicyConfig,
  AuthzRuleConfig,
  JwtRuleConfig,
} from '../../protocol/proxy-config/index.js';
import type { MeshSnapshot, MeshWorkload } from './model.js';
import { linkerdPolicies, type DefaultInboundPolicy } from './linkerd-authorization.js';
import { DEFAULT_INBOUND_POLICIES } from '../../protocol/well-known.js';

/** A key set that verifies nothing: tokens of an issuer whose keys never arrived are rejected (as istiod's fake JWKS). */
export const EMPTY_JWKS = '{"keys":[]}';

/** `when` keys the sidecar evaluates. */
const CONDITION_KEYS =
  /^(source\.(ip|namespace|principal|serviceAccount)|remote\.ip|destination\.(ip|port)|connection\.sni|request\.auth\.(principal|audiences|presenter)|request\.(headers|auth\.claims)\[.+\])$/;

interface Scoped {
  readonly metadata: { readonly name?: string; readonly namespace?: string };
  readonly spec: {
    readonly selector?: { readonly matchLabels?: Record<string, string> };
    readonly targetRef?: unknown;
    readonly targetRefs?: readonly unknown[];
  };
}

/**
 * Istio's default root namespace: mesh-wide policies written for Istio live there, and analyze
 * treats it as a root namespace too, so they apply mesh-wide here as well (not silently nowhere).
 */
export const ISTIO_ROOT_NAMESPACE = 'istio-system';

/** Whether a selector-scoped policy of Istio's security API applies to `workload`'s sidecar. */
export function policyApplies(p: Scoped, workload: MeshWorkload, rootNamespace: string): boolean {
  const ns = p.metadata.namespace ?? 'default';
  if (ns !== workload.namespace && ns !== rootNamespace && ns !== ISTIO_ROOT_NAMESPACE) return false;
  const sel = p.spec.selector;
  if (!sel) return !(p.spec.targetRef || p.spec.targetRefs?.length);
  const labels = sel.matchLabels ?? {};
  return Object.entries(labels).every(([k, v]) => workload.labels[k] === v);
}

/** The AuthorizationPolicies and RequestAuthentications that apply to `workload`, in name order. */
export function applyingPolicies(
  snapshot: MeshSnapshot,
  workload: MeshWorkload,
): { authz: AuthorizationPolicy[]; requestAuthn: RequestAuthentication[] } {
  const authz: AuthorizationPolicy[] = [];
  const requestAuthn: RequestAuthentication[] = [];
  for (const r of snapshot.resources) {
    if (
      r.kind === 'AuthorizationPolicy' &&
      r.apiVersion.startsWith('security.istio.io/') &&
      policyApplies(r as AuthorizationPolicy, workload, snapshot.rootNamespace)
    ) {
      authz.push(r as AuthorizationPolicy);
    } else if (
      r.kind === 'RequestAuthentication' &&
      policyApplies(r as RequestAuthentication, workload, snapshot.rootNamespace)
    ) {
      requestAuthn.push(r as RequestAuthentication);
    }
  }
  const order = (a: Scoped, b: Scoped) =>
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`);
  return { authz: authz.sort(order), requestAuthn: requestAuthn.sort(order) };
}

/**
 * A `when` condition the sidecar cannot evaluate (an experimental key): an ALLOW rule with it
 * never matches, a DENY or AUDIT rule is kept without it (denies more, never less), as Istio
 * treats fields a filter cannot evaluate.
 */
function translateRule(
  rule: NonNullable<AuthorizationPolicy['spec']['rules']>[number],
  action: 'ALLOW' | 'DENY' | 'AUDIT',
): AuthzRuleConfig | null {
  const when = rule.when?.filter((c) => CONDITION_KEYS.test(c.key));
  if (when && when.length !== rule.when!.length && action === 'ALLOW') return null;
  const out: AuthzRuleConfig = {};
  if (rule.from) out.from = rule.from.map((f) => (f.source ? { source: { ...f.source } } : {}));
  if (rule.to) out.to = rule.to.map((t) => (t.operation ? { operation: { ...t.operation } } : {}));
  if (when?.length)
    out.when = when.map((c) => ({
      key: c.key,
      ...(c.values ? { values: [...c.values] } : {}),
      ...(c.notValues ? { notValues: [...c.notValues] } : {}),
    }));
  return out;
}

/** `ns[NS]-policy[NAME]`, Istio's RBAC policy name. */
export function policyName(p: { metadata: { name?: string; namespace?: string } }): string {
  return `ns[${p.metadata.namespace ?? 'default'}]-policy[${p.metadata.name ?? ''}]`;
}

/** A rule that matches no request or connection: an ALLOW rule with a condition the proxy cannot evaluate. */
const NEVER_RULE: AuthzRuleConfig = { from: [{ source: { principals: ['*'], notPrincipals: ['*'] } }] };

/**
 * The policies of `workload` as its sidecar runs them. A CUSTOM policy becomes a DENY of the
 * requests its rules match (fail closed: no ext_authz is run, so nothing it would have judged may
 * pass); it comes first, as Istio evaluates CUSTOM before DENY and ALLOW.
 */
export function authzPolicies(policies: readonly AuthorizationPolicy[]): AuthzPolicyConfig[] {
  const out: AuthzPolicyConfig[] = [];
  for (const p of [...policies].sort(
    (a, b) => Number(b.spec.action === 'CUSTOM') - Number(a.spec.action === 'CUSTOM'),
  )) {
    const action = p.spec.action === 'CUSTOM' ? 'DENY' : (p.spec.action ?? 'ALLOW');
    // A rule the sidecar cannot run keeps its index, so `-rule[N]` in the logs matches the YAML.
    out.push({
      name: policyName(p),
      action,
      rules: (p.spec.rules ?? []).map((r) => translateRule(r, action) ?? NEVER_RULE),
    });
  }
  return out;
}

/** The JWT rules of `workload`, keys inline: fetched ones for jwksUri, the empty set until they arrive. */
export function jwtRules(
  policies: readonly RequestAuthentication[],
  jwks: (uri: string) => string | undefined,
): JwtRuleConfig[] {
  const out: JwtRuleConfig[] = [];
  for (const ra of policies) {
    for (const r of ra.spec.jwtRules ?? []) {
      out.push({
        issuer: r.issuer,
        jwks: r.jwks ?? jwksOf(r.jwksUri ?? r.jwks_uri, jwks),
        ...(r.audiences?.length ? { audiences: [...r.audiences] } : {}),
        ...(r.fromHeaders?.length
          ? {
              fromHeaders: r.fromHeaders.map((h) => ({
                name: h.name,
                ...(h.prefix !== undefined ? { prefix: h.prefix } : {}),
              })),
            }
          : {}),
        ...(r.fromParams?.length ? { fromParams: [...r.fromParams] } : {}),
        ...(r.fromCookies?.length ? { fromCookies: [...r.fromCookies] } : {}),
        ...(r.forwardOriginalToken ? { forwardOriginalToken: true } : {}),
        ...(r.outputPayloadToHeader ? { outputPayloadToHeader: r.outputPayloadToHeader } : {}),
        ...(r.outputClaimToHeaders?.length
          ? { outputClaimToHeaders: r.outputClaimToHeaders.map((o) => ({ header: o.header, claim: o.claim })) }
          : {}),
        ...(r.spaceDelimitedClaims?.length ? { spaceDelimitedClaims: [...r.spaceDelimitedClaims] } : {}),
        ...(r.presence === 'REQUIRED' ? { presence: 'REQUIRED' as const } : {}),
      });
    }
  }
  return out;
}

function jwksOf(uri: string | undefined, jwks: (uri: string) => string | undefined): string {
  return (uri ? jwks(uri) : undefined) ?? EMPTY_JWKS;
}

/**
 * The authz block of `workload`'s inbound listeners; undefined when no policy or JWT rule applies
 * (the proxy then skips the layer entirely).
 */
export function workloadAuthz(snapshot: MeshSnapshot, workload: MeshWorkload): AuthzConfig | undefined {
  const { authz, requestAuthn } = applyingPolicies(snapshot, workload);
  const policies = [
    ...authzPolicies(authz),
    ...linkerdPolicies(snapshot, workload, defaultInboundPolicy(workload, snapshot)),
  ];
  const jwt = jwtRules(requestAuthn, (uri) => snapshot.jwks?.get(uri));
  if (policies.length === 0 && jwt.length === 0) return undefined;
  return { ...(policies.length ? { policies } : {}), ...(jwt.length ? { jwtRules: jwt } : {}) };
}

const INBOUND_POLICIES: readonly string[] = DEFAULT_INBOUND_POLICIES;

/**
 * The workload's Linkerd default inbound policy, as Linkerd's policy controller picks it: the
 * pod's annotation, else its namespace's (both in the workload record), else the install-wide
 * default, else all-unauthenticated. An unknown value denies (fail closed): a typo must not open a port.
 */
function defaultInboundPolicy(workload: MeshWorkload, snapshot: MeshSnapshot): DefaultInboundPolicy {
  const p = workload.defaultInboundPolicy ?? snapshot.defaultInboundPolicy;
  if (p === undefined) return 'all-unauthenticated';
  return (INBOUND_POLICIES.includes(p) ? p : 'deny') as DefaultInboundPolicy;
}
