/**
 * Gateway API mesh routes (GAMMA): HTTPRoutes and GRPCRoutes whose parentRefs name a Service route
 * what clients send to that Service, in the client's sidecar, as Istio does. Istio converts them
 * into VirtualServices (pilot/pkg/config/kube/gateway/conversion.go); this does the same conversion
 * straight to the proxy's routes, one path for both platforms:
 *
 * - which routes: producer routes (in the Service's namespace) serve every client; consumer routes
 *   (in another namespace) serve only clients of their own namespace, and there replace the
 *   producer routes (GAMMA). A parentRef `port`/`sectionName` limits a route to that Service port.
 * - one proxy route per (rule, match), ordered as the Gateway API specifies and as Istio sorts
 *   them (sortHTTPRoutes): Exact path, then PathPrefix, then RegularExpression, longer values first,
 *   then a method match, more header matches, more query matches; ties keep the oldest route
 *   (creationTimestamp), then namespace/name, then rule and match order.
 * - PathPrefix matches whole segments (`/foo` matches `/foo` and `/foo/bar`, never `/foobar`): it
 *   becomes an exact and a `/foo/` prefix route with the same action.
 * - a backend that is not a Service, does not exist or sits in another namespace (no ReferenceGrant
 *   support, except the route's own parent) fails its share of requests: 500 when the rule has no
 *   valid backend left, as the spec says, else 503 from a cluster without endpoints.
 */
import {
  isServiceBackend,
  isServiceParent,
  parseDuration,
  type GatewayHTTPRoute,
  type GRPCRoute,
  type HTTPRouteSpec,
  type GRPCRouteSpec,
  type VirtualService,
} from '../../config/index.js';
import type { RouteMatchConfig, RouteSpec } from '../../protocol/proxy-config/index.js';
import { compact } from './destination-rules.js';
import { clusterName, serviceFqdn, type MeshService, type MeshSnapshot, type ServicePort } from './model.js';
import { defaultRetries, type TranslationNote } from './routes.js';
import { grpcCandidates, httpCandidates, precedence, type Candidate } from './gateway-api-matches.js';

type MeshRoute = GatewayHTTPRoute | GRPCRoute;
type HttpRule = NonNullable<HTTPRouteSpec['rules']>[number];
type GrpcRule = NonNullable<GRPCRouteSpec['rules']>[number];
type Filter = NonNullable<HttpRule['filters']>[number];
type BackendRef = NonNullable<HttpRule['backendRefs']>[number];
type HeaderOps = NonNullable<NonNullable<RouteSpec['headers']>['request']>;

const nsOf = (r: MeshRoute): string => r.metadata.namespace ?? 'default';

/** Whether `route` attaches to `port` of `service` through one of its parentRefs. */
function attaches(route: MeshRoute, service: MeshService, port: ServicePort): boolean {
  return (route.spec.parentRefs ?? []).some(
    (p) =>
      isServiceParent(p) &&
      p.name === service.name &&
      (p.namespace ?? nsOf(route)) === service.namespace &&
      (p.port === undefined || p.port === port.port) &&
      (p.sectionName === undefined || p.sectionName === port.name),
  );
}

/** The Gateway API routes of a snapshot, found once per (immutable) snapshot: most meshes have none. */
const routesMemo = new WeakMap<MeshSnapshot, readonly MeshRoute[]>();
function allMeshRoutes(snapshot: MeshSnapshot): readonly MeshRoute[] {
  let all = routesMemo.get(snapshot);
  if (!all) {
    all = snapshot.resources.filter(
      (r): r is MeshRoute =>
        (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute') && r.apiVersion.startsWith('gateway.networking.k8s.io/'),
    );
    routesMemo.set(snapshot, all);
  }
  return all;
}

/**
 * The Gateway API routes that route `port` of `service` for clients in `clientNamespace`: the
 * consumer routes of that namespace if it has any, else the producer routes.
 */
export function meshRoutesOf(
  snapshot: MeshSnapshot,
  service: MeshService,
  port: ServicePort,
  clientNamespace: string,
): MeshRoute[] {
  const all = allMeshRoutes(snapshot);
  if (all.length === 0) return [];
  const attached = all.filter((r) => attaches(r, service, port));
  const consumer = attached.filter((r) => nsOf(r) !== service.namespace && nsOf(r) === clientNamespace);
  const chosen = consumer.length > 0 ? consumer : attached.filter((r) => nsOf(r) === service.namespace);
  return chosen.sort(olderFirst);
}

/** Oldest first (creationTimestamp), then namespace/name: the Gateway API's tie-break between routes. */
function olderFirst(a: MeshRoute, b: MeshRoute): number {
  const ta = String((a.metadata as { creationTimestamp?: unknown }).creationTimestamp ?? '');
  const tb = String((b.metadata as { creationTimestamp?: unknown }).creationTimestamp ?? '');
  if (ta !== tb) return ta === '' ? 1 : tb === '' ? -1 : ta.localeCompare(tb);
  return `${nsOf(a)}/${a.metadata.name}`.localeCompare(`${nsOf(b)}/${b.metadata.name}`);
}

/**
 * Whether the Gateway API routes win over the VirtualService `vs` for a client in
 * `clientNamespace`, in Istio's order (PushContext.VirtualServicesForGateway for `mesh`: the first
 * VirtualService of this list that names a host takes the whole host): a VirtualService in the
 * client's namespace exported only there, then VirtualServices exported to that namespace by name,
 * then Gateway API routes in the client's namespace, then everything public, oldest first. Where
 * creation times are unknown (the local platform stores none), a public VirtualService wins.
 */
export function meshRoutesWin(vs: VirtualService | undefined, routes: readonly MeshRoute[], client: string): boolean {
  if (routes.length === 0) return false;
  if (!vs) return true;
  const vsNs = vs.metadata.namespace ?? 'default';
  const exportTo = vs.spec.exportTo ?? [];
  const vsRank =
    vsNs === client && exportTo.length > 0 && exportTo.every((e) => e === '.' || e === client)
      ? 0
      : vsNs !== client && exportTo.includes(client)
        ? 1
        : 3;
  const routeRank = routes.some((r) => nsOf(r) === client) ? 2 : 3;
  if (vsRank !== routeRank) return routeRank < vsRank;
  const created = (m: { metadata: object }): string =>
    String((m.metadata as { creationTimestamp?: unknown }).creationTimestamp ?? '');
  const vsTime = created(vs);
  const routeTime = routes
    .map(created)
    .filter((t) => t !== '')
    .sort()[0];
  return vsTime !== '' && routeTime !== undefined && routeTime < vsTime;
}

function headerOps(
  m:
    { set?: { name: string; value: string }[]; add?: { name: string; value: string }[]; remove?: string[] } | undefined,
): HeaderOps | undefined {
  if (!m) return undefined;
  const map = (l: { name: string; value: string }[] | undefined) =>
    l && l.length > 0 ? Object.fromEntries(l.map((h) => [h.name.toLowerCase(), h.value])) : undefined;
  const ops = compact<HeaderOps>({
    set: map(m.set),
    add: map(m.add),
    remove: m.remove && m.remove.length > 0 ? m.remove.map((h) => h.toLowerCase()) : undefined,
  });
  return Object.keys(ops).length > 0 ? ops : undefined;
}

function headersOf(filters: readonly Filter[] | undefined): RouteSpec['headers'] | undefined {
  const f = filters ?? [];
  const h = compact<NonNullable<RouteSpec['headers']>>({
    request: headerOps(f.find((x) => x.type === 'RequestHeaderModifier')?.requestHeaderModifier),
    response: headerOps(f.find((x) => x.type === 'ResponseHeaderModifier')?.responseHeaderModifier),
  });
  return Object.keys(h).length > 0 ? h : undefined;
}

const ms = (d: string | undefined): string | undefined => {
  const v = d === undefined ? undefined : parseDuration(d);
  return v === undefined || v === 0 ? undefined : `${v}ms`;
};

/**
 * Whether `name.ns` is a Service parent of `route`: a consumer route may send to the Service it
 * routes without a ReferenceGrant (it could reach it without the route); any other Service of
 * another namespace needs one, which meshctl does not read.
 */
export function isParentService(route: MeshRoute, name: string, ns: string): boolean {
  return (route.spec.parentRefs ?? []).some(
    (p) => isServiceParent(p) && p.name === name && (p.namespace ?? nsOf(route)) === ns,
  );
}

/** The cluster of a Service backend, or why requests to it are answered 500. */
function backendCluster(
  snapshot: MeshSnapshot,
  ref: { group?: string; kind?: string; name: string; namespace?: string; port?: number },
  route: MeshRoute,
): { cluster: string } | { invalid: string } {
  if (!isServiceBackend(ref)) return { invalid: `${ref.kind} "${ref.name}" is not a Service` };
  const routeNs = nsOf(route);
  const ns = ref.namespace ?? routeNs;
  if (ns !== routeNs && !isParentService(route, ref.name, ns))
    return { invalid: `Service ${ref.name}.${ns} is in another namespace (ReferenceGrant is not supported)` };
  const svc = snapshot.services.find((s) => s.name === ref.name && s.namespace === ns);
  if (!svc) return { invalid: `Service ${ref.name}.${ns} does not exist` };
  if (ref.port === undefined || !svc.ports.some((p) => p.port === ref.port))
    return { invalid: `Service ${ref.name}.${ns} has no port ${ref.port}` };
  return { cluster: clusterName.outbound(ref.port, serviceFqdn(svc)) };
}

/**
 * Where the share of an invalid backend goes when valid ones remain: a cluster without endpoints
 * (503, no healthy upstream; the spec asks for 500, which only a rule without any valid backend gets).
 */
const INVALID_BACKEND = 'gateway-api-invalid-backend';

/** The action (destinations, redirect, filters, timeouts) of one rule. */
function ruleAction(
  snapshot: MeshSnapshot,
  c: Candidate,
  notes: TranslationNote[],
): { spec: RouteSpec; redirect?: NonNullable<Filter['requestRedirect']>; rewrite?: NonNullable<Filter['urlRewrite']> } {
  const route = c.route;
  const ns = nsOf(route);
  const where = `${route.kind} ${route.metadata.name}.${ns}`;
  const filters = (c.rule.filters ?? []) as Filter[];
  const spec: RouteSpec = { name: c.rule.name ?? `${route.metadata.name}.${ns}.${c.ruleIndex}` };
  const headers = headersOf(filters);
  if (headers) spec.headers = headers;
  const cors = filters.find((f) => f.type === 'CORS')?.cors;
  if (cors) spec.cors = corsPolicy(cors);
  const redirect = filters.find((f) => f.type === 'RequestRedirect')?.requestRedirect;
  if (redirect) return { spec, redirect };
  const mirrors = filters
    .filter((f) => f.type === 'RequestMirror' && f.requestMirror)
    .flatMap((f) => {
      const m = f.requestMirror!;
      const target = backendCluster(snapshot, m.backendRef, route);
      if ('invalid' in target) {
        notes.push({ resource: where, message: `mirror not applied: ${target.invalid}` });
        return [];
      }
      const value =
        m.fraction !== undefined ? (100 * m.fraction.numerator) / (m.fraction.denominator ?? 100) : (m.percent ?? 100);
      return [{ cluster: target.cluster, percentage: { value } }];
    });
  if (mirrors.length > 0) spec.mirrors = mirrors;
  const refs = (c.rule.backendRefs ?? []) as BackendRef[];
  const dests: NonNullable<RouteSpec['route']> = [];
  let invalidWeight = 0;
  for (const b of refs) {
    const weight = b.weight ?? 1;
    if (weight === 0) continue;
    const target = backendCluster(snapshot, b, route);
    if ('invalid' in target) {
      notes.push({
        resource: where,
        message: `backendRef not routable, its share of requests fails: ${target.invalid}`,
      });
      invalidWeight += weight;
      continue;
    }
    dests.push(compact({ cluster: target.cluster, weight, headers: headersOf(b.filters as Filter[] | undefined) }));
  }
  if (dests.length === 0) {
    // No backend to send to (none, all weight 0, or all invalid): 500, as the spec requires.
    spec.directResponse = { status: 500 };
    return { spec };
  }
  if (invalidWeight > 0) dests.push({ cluster: INVALID_BACKEND, weight: invalidWeight });
  spec.route = dests;
  const timeouts = (c.rule as HttpRule).timeouts;
  const request = ms(timeouts?.request);
  const backend = ms(timeouts?.backendRequest);
  if (request) spec.timeout = request;
  // The experimental `retry` (GEP-1731) as Istio maps it: attempts, the statuses retried, a backoff.
  const retry = (c.rule as HttpRule).retry;
  const retries = retry
    ? compact({
        ...defaultRetries(),
        attempts: retry.attempts ?? defaultRetries().attempts,
        retriableStatusCodes: retry.codes?.length ? retry.codes : defaultRetries().retriableStatusCodes,
        backoff: ms(retry.backoff) ? { baseInterval: ms(retry.backoff) } : undefined,
      })
    : defaultRetries();
  spec.retries = backend ? { ...retries, perTryTimeout: backend } : retries;
  const rewrite = filters.find((f) => f.type === 'URLRewrite')?.urlRewrite;
  return rewrite ? { spec, rewrite } : { spec };
}

/**
 * The CORS filter as the proxy's policy: `*` allows every origin, a `*` inside an origin stands for
 * one or more host labels (`https://*.example.com`), anything else is exact; maxAge defaults to 5s.
 */
function corsPolicy(c: NonNullable<Filter['cors']>): NonNullable<RouteSpec['cors']> {
  const escape = (x: string): string => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  const origins = (c.allowOrigins ?? []).map((o) =>
    o === '*' ? { prefix: '' } : o.includes('*') ? { regex: o.split('*').map(escape).join('[^/]+') } : { exact: o },
  );
  return compact<NonNullable<RouteSpec['cors']>>({
    allowOrigins: origins.length > 0 ? origins : undefined,
    allowMethods: c.allowMethods,
    allowHeaders: c.allowHeaders,
    exposeHeaders: c.exposeHeaders,
    maxAge: `${(c.maxAge ?? 5) * 1000}ms`,
    allowCredentials: c.allowCredentials,
  });
}

/** Joins a replacement prefix and the `/` that follows a matched segment prefix. */
const withSlash = (p: string): string => (p.endsWith('/') ? p : `${p}/`);

/** One candidate as proxy routes: the exact/prefix pair of a PathPrefix, each with its path edits. */
function expand(snapshot: MeshSnapshot, c: Candidate, notes: TranslationNote[]): RouteSpec[] {
  const { spec, redirect, rewrite } = ruleAction(snapshot, c, notes);
  const variants: { match: RouteMatchConfig | undefined; prefix: boolean }[] = c.segmentPrefix
    ? [
        { match: c.match, prefix: false },
        { match: { ...c.match, uri: { prefix: `${c.segmentPrefix}/` } }, prefix: true },
      ]
    : [{ match: c.match, prefix: c.match?.uri !== undefined && 'prefix' in c.match.uri }];
  return variants.map(({ match, prefix }) => {
    const out: RouteSpec = { ...spec, ...(match && Object.keys(match).length > 0 ? { match: [match] } : {}) };
    const replacement = (p: { type: string; replaceFullPath?: string; replacePrefixMatch?: string } | undefined) =>
      p?.type === 'ReplacePrefixMatch' ? p.replacePrefixMatch : undefined;
    if (redirect) {
      const full = redirect.path?.type === 'ReplaceFullPath' ? redirect.path.replaceFullPath : undefined;
      const pre = replacement(redirect.path);
      out.redirect = compact({
        scheme: redirect.scheme,
        authority: redirect.hostname,
        port: redirect.port,
        // Without a port: the scheme's default when the scheme changes, else the request's port.
        derivePort:
          redirect.port !== undefined
            ? undefined
            : redirect.scheme !== undefined
              ? ('FROM_PROTOCOL_DEFAULT' as const)
              : ('FROM_REQUEST_PORT' as const),
        uri: full ?? (pre !== undefined && !prefix ? pre : undefined),
        prefixRewrite: pre !== undefined && prefix ? withSlash(pre) : undefined,
        redirectCode: redirect.statusCode ?? 302,
      });
    }
    if (rewrite) {
      const pre = replacement(rewrite.path);
      const rw = compact<NonNullable<RouteSpec['rewrite']>>({
        authority: rewrite.hostname,
        uri: pre !== undefined ? (prefix ? withSlash(pre) : pre) : undefined,
        uriRegex:
          rewrite.path?.type === 'ReplaceFullPath'
            ? { match: '/.*', rewrite: rewrite.path.replaceFullPath ?? '/' }
            : undefined,
      });
      if (Object.keys(rw).length > 0) out.rewrite = rw;
    }
    return out;
  });
}

/**
 * The proxy routes of the Gateway API routes attached to `port` of `service` for clients in
 * `clientNamespace`, highest precedence first; undefined when none attaches (or the
 * VirtualService `vs()` returns takes the host, see meshRoutesWin). A request no rule matches gets 404, as
 * a Gateway API parent without a matching rule answers.
 */
export function gatewayApiRoutes(
  snapshot: MeshSnapshot,
  service: MeshService,
  port: ServicePort,
  clientNamespace: string,
  vs: () => VirtualService | undefined,
  notes: TranslationNote[],
): RouteSpec[] | undefined {
  const routes = meshRoutesOf(snapshot, service, port, clientNamespace);
  // The VirtualService is looked up only where a route attaches: the common case costs one memo read.
  if (routes.length === 0 || !meshRoutesWin(vs(), routes, clientNamespace)) return undefined;
  const candidates = routes.flatMap((r) => (r.kind === 'HTTPRoute' ? httpCandidates(r) : grpcCandidates(r)));
  const sorted = candidates.map((c, i) => ({ c, i })).sort((a, b) => precedence(a.c, b.c) || a.i - b.i);
  const out = sorted.flatMap(({ c }) => expand(snapshot, c, notes));
  const catchAll = candidates.some((c) => {
    const keys = Object.keys(c.match ?? {});
    return (
      keys.length === 0 ||
      (keys.length === 1 && c.match?.uri !== undefined && 'prefix' in c.match.uri && c.match.uri.prefix === '/')
    );
  });
  if (!catchAll) out.push({ name: 'no-rule-matched', directResponse: { status: 404 } });
  return out;
}
