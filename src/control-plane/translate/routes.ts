/**
 * The routes of one service port, from (in this order of precedence) a VirtualService, an SMI
 * TrafficSplit, a Linkerd ServiceProfile (routes, dstOverrides), or the default route to the service. Istio fields map
 * one to one onto the proxy's route format; Linkerd's retry budget becomes the route's budget.
 */
import {
  exportedTo,
  parseDuration,
  type HTTPRoute,
  type ResponseMatch,
  type ServiceProfile,
  type VirtualService,
} from '../../config/index.js';
import type { HeaderMatchConfig, RouteMatchConfig, RouteSpec } from '../../protocol/proxy-config/index.js';
import { subsetClusterName } from './clusters.js';
import { compact } from './destination-rules.js';
import { defaultDestinations, destinationCluster } from './splits.js';
import {
  clusterName,
  resolveHost,
  serviceFqdn,
  type MeshService,
  type MeshSnapshot,
  type ServicePort,
} from './model.js';

/** Things the translation could not express, for `analyze` and the control plane's log. */
export interface TranslationNote {
  resource: string;
  message: string;
}

const ms = (d: string | undefined): string | undefined => {
  if (d === undefined) return undefined;
  const v = parseDuration(d);
  // Durations below 1ms (Linkerd accepts `1ns`) become 1ms, the proxy's resolution.
  return v === undefined || !Number.isFinite(v) ? undefined : `${v > 0 && v < 1 ? 1 : Math.round(v * 1000) / 1000}ms`;
};

/** gRPC status names (Istio's abort.grpcStatus) -> codes. */
const GRPC_CODES: Record<string, number> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

/**
 * The VirtualService that routes `fqdn` for sidecars (gateways absent or including `mesh`) in
 * `clientNamespace` (its exportTo must include that namespace).
 */
export function virtualServiceFor(
  snapshot: MeshSnapshot,
  fqdn: string,
  clientNamespace: string,
): VirtualService | undefined {
  return snapshot.resources
    .filter((r): r is VirtualService => r.kind === 'VirtualService')
    .filter((vs) => !vs.spec.gateways || vs.spec.gateways.length === 0 || vs.spec.gateways.includes('mesh'))
    .filter((vs) => exportedTo(vs.spec.exportTo, vs.metadata.namespace ?? 'default', clientNamespace))
    .sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
    )
    .find((vs) =>
      (vs.spec.hosts ?? []).some((h) => resolveHost(h, vs.metadata.namespace ?? 'default', snapshot.services) === fqdn),
    );
}

function headerMatches(
  m: Record<string, { exact?: string; prefix?: string; regex?: string }> | undefined,
): Record<string, HeaderMatchConfig> | undefined {
  if (!m) return undefined;
  // An empty match in Istio means "present with any value".
  return Object.fromEntries(
    Object.entries(m).map(([k, v]) => [
      k.toLowerCase(),
      Object.keys(v).length === 0 ? { present: true } : (v as HeaderMatchConfig),
    ]),
  );
}

/**
 * Whether a `gateways` list (of a VirtualService or one of its match blocks, written in namespace
 * `ns`) names `context`: `mesh` for sidecars, `namespace/name` of a Gateway for a gateway proxy.
 */
export function namesGateway(gateways: readonly string[], ns: string, context: string): boolean {
  return gateways.some((g) => (g === 'mesh' ? 'mesh' : g.includes('/') ? g : `${ns}/${g}`) === context);
}

/** Converts VirtualService match blocks for port `port` and a client in `clientNamespace`; undefined = route does not apply. */
function convertMatches(
  route: HTTPRoute,
  port: number,
  clientNamespace: string,
  context: string,
  vsNamespace: string,
): RouteMatchConfig[] | undefined | 'all' {
  if (!route.match || route.match.length === 0) return 'all';
  const blocks = route.match
    .filter(
      (m) =>
        (m.port === undefined || m.port === port) &&
        (m.sourceNamespace === undefined || m.sourceNamespace === clientNamespace),
    )
    .filter((m) => !m.gateways || m.gateways.length === 0 || namesGateway(m.gateways, vsNamespace, context))
    .map((m) =>
      compact<RouteMatchConfig>({
        uri: m.uri,
        method: m.method,
        authority: m.authority,
        scheme: m.scheme,
        headers: headerMatches(m.headers),
        withoutHeaders: headerMatches(m.withoutHeaders),
        queryParams: headerMatches(m.queryParams),
        sourceLabels: m.sourceLabels,
        ignoreUriCase: m.ignoreUriCase,
      }),
    );
  return blocks.length === 0 ? undefined : blocks;
}

function percent(p: { value?: number } | undefined, legacy?: number): { value: number } | undefined {
  if (p?.value !== undefined) return { value: p.value };
  return legacy === undefined ? undefined : { value: legacy };
}

/** One VirtualService HTTP route -> proxy route, or undefined when it does not apply to this port/client. */
export function convertHttpRoute(
  snapshot: MeshSnapshot,
  vs: VirtualService,
  r: HTTPRoute,
  port: number,
  clientNamespace: string,
  notes: TranslationNote[],
  context = 'mesh',
): RouteSpec | undefined {
  const match = convertMatches(r, port, clientNamespace, context, vs.metadata.namespace ?? 'default');
  if (match === undefined) return undefined;
  const ns = vs.metadata.namespace ?? 'default';
  const where = `VirtualService ${vs.metadata.name}.${ns}`;
  const out: RouteSpec = { ...(r.name ? { name: r.name } : {}), ...(match === 'all' ? {} : { match }) };
  if (r.route) {
    out.route = r.route.map((d) =>
      compact({
        cluster: destinationCluster(
          snapshot,
          d.destination.host,
          ns,
          d.destination.port?.number,
          d.destination.subset,
          port,
        ),
        weight: d.weight ?? (r.route!.length === 1 ? 100 : 0),
        headers: d.headers,
      }),
    );
  }
  if (r.redirect) {
    const rd = r.redirect;
    out.redirect = compact({
      uri: rd.uri,
      authority: rd.authority,
      scheme: rd.scheme,
      port: rd.port,
      derivePort: rd.derivePort,
      prefixRewrite: rd.prefixRewrite,
      redirectCode: rd.redirectCode,
    });
  }
  if (r.directResponse) {
    const b = r.directResponse.body;
    out.directResponse = compact({
      status: r.directResponse.status,
      body: b?.string ?? (b?.bytes ? Buffer.from(b.bytes, 'base64').toString('utf8') : undefined),
    });
  }
  if (r.rewrite) {
    const rx = r.rewrite.uriRegexRewrite;
    const uriRegex = rx?.match !== undefined ? { match: rx.match, rewrite: rx.rewrite ?? '' } : undefined;
    const rw = compact({ uri: r.rewrite.uri, authority: r.rewrite.authority, uriRegex });
    if (Object.keys(rw).length) out.rewrite = rw;
  }
  if (r.timeout) out.timeout = ms(r.timeout);
  if (r.retries) {
    out.retries = compact({
      attempts: r.retries.attempts ?? 2,
      perTryTimeout: ms(r.retries.perTryTimeout),
      retryOn: r.retries.retryOn ?? DEFAULT_RETRY_ON,
      // Istio keeps the default's 503 only when retryOn is not given (codes then come from retryOn).
      retriableStatusCodes: r.retries.retryOn === undefined ? [503] : undefined,
      backoff: r.retries.backoff ? { baseInterval: ms(r.retries.backoff) } : undefined,
    });
  } else if (r.route) out.retries = defaultRetries();
  if (r.fault) {
    const { delay, abort } = r.fault;
    out.fault = compact({
      delay: delay?.fixedDelay
        ? compact({ fixedDelay: ms(delay.fixedDelay)!, percentage: percent(delay.percentage, delay.percent) })
        : undefined,
      abort: abort
        ? compact({
            httpStatus: abort.httpStatus,
            grpcStatus: abort.grpcStatus ? GRPC_CODES[abort.grpcStatus.toUpperCase()] : undefined,
            percentage: percent(abort.percentage),
          })
        : undefined,
    });
  }
  if (r.mirror) {
    out.mirror = compact({
      cluster: destinationCluster(snapshot, r.mirror.host, ns, r.mirror.port?.number, r.mirror.subset, port),
      percentage: percent(r.mirrorPercentage, r.mirrorPercent ?? r.mirror_percent) ?? { value: 100 },
    });
  }
  if (r.mirrors?.length) {
    // Every entry, each with its own share (Istio: 100% when its percentage is left out).
    out.mirrors = r.mirrors.map((m) =>
      compact({
        cluster: destinationCluster(
          snapshot,
          m.destination.host,
          ns,
          m.destination.port?.number,
          m.destination.subset,
          port,
        ),
        percentage: percent(m.percentage) ?? { value: 100 },
      }),
    );
  }
  if (r.headers) out.headers = r.headers;
  if (r.corsPolicy) {
    const c = r.corsPolicy;
    const origins = [
      ...(c.allowOrigins ?? []),
      ...(c.allowOrigin ?? []).map((o) => (o === '*' ? { prefix: '' } : { exact: o })),
    ];
    out.cors = compact({
      allowOrigins: origins.length ? (origins as NonNullable<RouteSpec['cors']>['allowOrigins']) : undefined,
      allowMethods: c.allowMethods,
      allowHeaders: c.allowHeaders,
      exposeHeaders: c.exposeHeaders,
      maxAge: ms(c.maxAge),
      allowCredentials: c.allowCredentials,
      unmatchedPreflights: c.unmatchedPreflights === 'IGNORE' ? ('ignore' as const) : undefined,
    });
  }
  return out;
}

/** Istio's default retryOn (DefaultRetryPolicy in pilot/pkg/networking/core/route/retry). */
const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';

/**
 * Istio's default retry policy for a route that sets none: 2 retries on a connect failure, a refused
 * stream, gRPC UNAVAILABLE/CANCELLED or a 503 (the proxy retries a 503 only for idempotent methods).
 * This is what lets a request survive an endpoint that just went away. `retries: {attempts: 0}` turns it off.
 */
export function defaultRetries(): NonNullable<RouteSpec['retries']> {
  return { attempts: 2, retryOn: DEFAULT_RETRY_ON, retriableStatusCodes: [503] };
}

/** Whether a Linkerd response condition matches `status`. */
function responseMatches(m: ResponseMatch, status: number): boolean {
  if (m.all && !m.all.every((x) => responseMatches(x, status))) return false;
  if (m.any && !m.any.some((x) => responseMatches(x, status))) return false;
  if (m.not && responseMatches(m.not, status)) return false;
  if (m.status && (status < (m.status.min ?? 100) || status > (m.status.max ?? 599))) return false;
  return true;
}

/**
 * The statuses a route's responseClasses classify as failures: the first class that matches a
 * status decides; a status no class matches is a failure when >= 500 (Linkerd's default).
 */
export function failureStatuses(classes: readonly { condition: ResponseMatch; isFailure?: boolean }[]): number[] {
  const out: number[] = [];
  for (let status = 100; status <= 599; status++) {
    const cls = classes.find((c) => responseMatches(c.condition, status));
    if (cls ? cls.isFailure === true : status >= 500) out.push(status);
  }
  return out;
}

/** A ServiceProfile's routes, each to the default destinations, followed by a catch-all. */
function serviceProfileRoutes(
  sp: ServiceProfile,
  dests: NonNullable<RouteSpec['route']>,
  notes: TranslationNote[],
): RouteSpec[] {
  const where = `ServiceProfile ${sp.metadata.name}.${sp.metadata.namespace ?? 'default'}`;
  const budget = sp.spec.retryBudget
    ? {
        retryRatio: sp.spec.retryBudget.retryRatio,
        minRetriesPerSecond: sp.spec.retryBudget.minRetriesPerSecond,
        ttl: ms(sp.spec.retryBudget.ttl),
      }
    : { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: '10000ms' };
  const routes: RouteSpec[] = [];
  for (const r of sp.spec.routes ?? []) {
    const c = r.condition;
    const simple = (x: typeof c): RouteMatchConfig | undefined =>
      x.all || x.any || x.not
        ? undefined
        : compact<RouteMatchConfig>({
            method: x.method ? { exact: x.method.toUpperCase() } : undefined,
            uri: x.pathRegex ? { regex: x.pathRegex } : undefined,
          });
    const blocks = c.any
      ? c.any.map(simple)
      : c.all
        ? [Object.assign({}, ...c.all.map(simple)) as RouteMatchConfig]
        : [simple(c)];
    if (blocks.some((b) => b === undefined)) {
      notes.push({
        resource: where,
        message: `route "${r.name}": nested or negated conditions are not applied; the route is left out`,
      });
      continue;
    }
    routes.push(
      compact<RouteSpec>({
        name: r.name,
        match: blocks as RouteMatchConfig[],
        route: dests,
        timeout: ms(r.timeout ?? '10s'),
        retries: r.isRetryable
          ? compact({
              attempts: 3,
              // responseClasses say which statuses are failures, so which are retried.
              ...(r.responseClasses?.length
                ? {
                    retryOn: 'retriable-status-codes,reset,connect-failure,refused-stream',
                    retriableStatusCodes: failureStatuses(r.responseClasses),
                  }
                : { retryOn: '5xx,gateway-error,reset,connect-failure,refused-stream' }),
              budget: compact(budget),
            })
          : defaultRetries(),
      }),
    );
  }
  routes.push({ name: 'default', route: dests, retries: defaultRetries() });
  return routes;
}

/** The routes for one service port as seen from a client in `clientNamespace`. */
export function routesFor(
  snapshot: MeshSnapshot,
  service: MeshService,
  port: ServicePort,
  clientNamespace: string,
  notes: TranslationNote[],
): RouteSpec[] {
  const fqdn = serviceFqdn(service);
  const vs = virtualServiceFor(snapshot, fqdn, clientNamespace);
  if (vs?.spec.http && vs.spec.http.length > 0) {
    const routes = vs.spec.http
      .map((r) => convertHttpRoute(snapshot, vs, r, port.port, clientNamespace, notes))
      .filter((r): r is RouteSpec => r !== undefined);
    if (routes.length > 0) return routes;
  }
  const sp = snapshot.resources.find(
    (r): r is ServiceProfile => r.kind === 'ServiceProfile' && r.metadata.name === fqdn,
  );
  const dests = defaultDestinations(snapshot, service, port, sp);
  if (sp) return serviceProfileRoutes(sp, dests, notes);
  return [{ name: 'default', route: dests, retries: defaultRetries() }];
}
