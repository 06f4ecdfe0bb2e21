/**
 * networking.istio.io VirtualService: how requests to a host are routed (istio/api
 * networking/v1alpha3/virtual_service.proto). The checks below are the ones Istio's validating
 * webhook applies, so a VirtualService meshctl accepts is one Istio accepts.
 */
import type { Static } from '@sinclair/typebox';
import {
  Bool,
  Duration,
  Enum,
  Int32,
  List,
  MapOf,
  Obj,
  Opt,
  PortNumber,
  Regex,
  Str,
  StringMap,
  UInt32,
  type Resource,
} from '../schema.js';
import { isIP } from 'node:net';
import { defineKind, type ReportIssue } from '../kind.js';
import { Destination, Headers, Percent, StringMatch } from './istio-common.js';
import { RETRY_ON } from '../retry-on.js';

const HTTPMatchRequest = Obj(
  {
    name: Opt(Str('name of the match, appended to the route name in logs')),
    uri: Opt(StringMatch),
    scheme: Opt(StringMatch),
    method: Opt(StringMatch),
    authority: Opt(StringMatch),
    headers: Opt(MapOf(StringMatch, 'header name (lowercase) -> match; `{}` matches presence')),
    port: Opt(PortNumber('port of the host being addressed')),
    sourceLabels: Opt(StringMap('labels of the calling workload')),
    gateways: Opt(List(Str(), 'gateways (`ns/name`, or `mesh`) this match applies to')),
    queryParams: Opt(MapOf(StringMatch, 'query parameter -> match (exact or regex)')),
    ignoreUriCase: Opt(Bool('match the uri case-insensitively')),
    withoutHeaders: Opt(MapOf(StringMatch, 'headers that must NOT match')),
    sourceNamespace: Opt(Str('namespace of the calling workload')),
    statPrefix: Opt(
      Str({ description: 'stat prefix of the route', unsupported: 'per-route stat prefixes are not exported' }),
    ),
  },
  'conditions that must all hold (AND)',
);

const HTTPRouteDestination = Obj(
  {
    destination: Destination,
    weight: Opt(Int32('relative share of traffic (0..100 by convention); 100 when alone', { minimum: 0 })),
    headers: Opt(Headers),
  },
  'a weighted destination',
);

const HTTPRedirect = Obj(
  {
    uri: Opt(Str('replace the path with this value')),
    authority: Opt(Str('replace the authority/host with this value')),
    port: Opt(PortNumber('replace the port')),
    derivePort: Opt(
      Enum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT'] as const, 'derive the port from the scheme or the request'),
    ),
    prefixRewrite: Opt(Str('replace the matched uri prefix with this value in the redirect')),
    scheme: Opt(Str('replace the scheme')),
    redirectCode: Opt(
      UInt32({ description: 'HTTP status of the redirect', default: '301' }, { minimum: 300, maximum: 399 }),
    ),
  },
  'send a redirect instead of forwarding',
  {
    exclusive: [
      ['port', 'derivePort'],
      ['uri', 'prefixRewrite'],
    ],
  },
);

const HTTPDirectResponse = Obj(
  {
    status: UInt32('HTTP status to return', { minimum: 200, maximum: 599 }),
    body: Opt(
      Obj({ string: Opt(Str('body text')), bytes: Opt(Str('base64 body')) }, 'response body', {
        exclusive: [['string', 'bytes']],
      }),
    ),
  },
  'answer directly instead of forwarding',
);

const HTTPRewrite = Obj(
  {
    uri: Opt(Str('replace the matched uri prefix (or full path) with this value')),
    authority: Opt(Str('replace the Host/Authority header')),
    uriRegexRewrite: Opt(
      Obj(
        { match: Opt(Regex('RE2 pattern')), rewrite: Opt(Str('replacement, with \\1 style groups')) },
        'rewrite the path with an RE2 regex',
      ),
    ),
  },
  'rewrite the request before forwarding',
  { exclusive: [['uri', 'uriRegexRewrite']] },
);

const HTTPRetry = Obj(
  {
    attempts: Opt(
      Int32({ description: 'number of retries (in addition to the first try)', default: '2' }, { minimum: 0 }),
    ),
    perTryTimeout: Opt(Duration({ description: 'timeout of each try, >= 1ms', default: 'the route timeout' })),
    retryOn: Opt(
      Str({
        description:
          'comma-separated conditions: 5xx, gateway-error, reset, connect-failure, refused-stream, retriable-4xx, status codes...',
        default: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
      }),
    ),
    retryRemoteLocalities: Opt(Bool({ unsupported: 'the mesh has no localities' })),
    retryIgnorePreviousHosts: Opt(Bool('prefer a different host on retry')),
    backoff: Opt(Duration({ description: 'base interval between retries', default: '25ms' })),
  },
  'retry policy',
);

const HTTPFaultInjection = Obj(
  {
    delay: Opt(
      Obj(
        {
          fixedDelay: Opt(Duration('delay before forwarding, >= 1ms')),
          exponentialDelay: Opt(
            Duration({ unsupported: 'Istio does not implement exponentialDelay either; use fixedDelay' }),
          ),
          percentage: Opt(Percent),
          percent: Opt(Int32({ deprecated: 'use percentage.value' }, { minimum: 0, maximum: 100 })),
        },
        'delay a share of requests',
        {
          exclusive: [
            ['fixedDelay', 'exponentialDelay'],
            ['percentage', 'percent'],
          ],
        },
      ),
    ),
    abort: Opt(
      Obj(
        {
          httpStatus: Opt(Int32('HTTP status to return', { minimum: 200, maximum: 599 })),
          grpcStatus: Opt(Str('gRPC status name, e.g. UNAVAILABLE')),
          http2Error: Opt(
            Str({ unsupported: 'HTTP/2 error injection is not implemented; use httpStatus or grpcStatus' }),
          ),
          percentage: Opt(Percent),
        },
        'abort a share of requests',
        { exclusive: [['httpStatus', 'grpcStatus', 'http2Error']] },
      ),
    ),
  },
  'fault injection, client side',
);

const CorsPolicy = Obj(
  {
    allowOrigins: Opt(List(StringMatch, 'origins allowed to make requests')),
    allowOrigin: Opt(List(Str(), { deprecated: 'use allowOrigins with exact matches' })),
    allowMethods: Opt(List(Str(), 'Access-Control-Allow-Methods')),
    allowHeaders: Opt(List(Str(), 'Access-Control-Allow-Headers')),
    exposeHeaders: Opt(List(Str(), 'Access-Control-Expose-Headers')),
    maxAge: Opt(Duration('Access-Control-Max-Age', 'any')),
    allowCredentials: Opt(Bool('Access-Control-Allow-Credentials')),
    unmatchedPreflights: Opt(
      Enum(['UNSPECIFIED', 'FORWARD', 'IGNORE'] as const, {
        description: 'what to do with preflights that match no origin',
        default: 'FORWARD',
      }),
    ),
  },
  'Cross-Origin Resource Sharing policy',
);

const HTTPMirrorPolicy = Obj({ destination: Destination, percentage: Opt(Percent) }, 'a mirror destination');

const HTTPRoute = Obj(
  {
    name: Opt(Str('name of the route, for logs and the `route` metric label')),
    match: Opt(List(HTTPMatchRequest, 'match conditions (OR); none matches everything')),
    route: Opt(List(HTTPRouteDestination, 'weighted destinations')),
    redirect: Opt(HTTPRedirect),
    directResponse: Opt(HTTPDirectResponse),
    delegate: Opt(
      Obj(
        { name: Opt(Str()), namespace: Opt(Str()) },
        {
          description: 'another VirtualService that holds the routes',
          unsupported: 'VirtualService delegation is not implemented; merge the routes',
        },
      ),
    ),
    rewrite: Opt(HTTPRewrite),
    timeout: Opt(Duration({ description: 'timeout of the request; 0s disables', default: 'disabled' }, 'any')),
    retries: Opt(HTTPRetry),
    fault: Opt(HTTPFaultInjection),
    mirror: Opt(Destination),
    mirrors: Opt(List(HTTPMirrorPolicy, 'several mirror destinations')),
    mirrorPercent: Opt(UInt32({ deprecated: 'use mirrorPercentage' }, { maximum: 100 })),
    mirror_percent: Opt(UInt32({ deprecated: 'use mirrorPercentage' }, { maximum: 100 })),
    mirrorPercentage: Opt(Percent),
    corsPolicy: Opt(CorsPolicy),
    headers: Opt(Headers),
  },
  'an HTTP route: match conditions and an action',
  {
    exclusive: [
      ['route', 'redirect', 'directResponse', 'delegate'],
      ['redirect', 'rewrite'],
      ['mirror', 'mirrors'],
      ['mirrorPercent', 'mirrorPercentage', 'mirror_percent'],
    ],
  },
);

const RouteDestination = Obj(
  { destination: Destination, weight: Opt(Int32('relative share of traffic', { minimum: 0 })) },
  'a weighted L4 destination',
);

const L4MatchAttributes = Obj(
  {
    destinationSubnets: Opt(List(Str(), 'IPv4/IPv6 addresses or CIDRs of the destination')),
    port: Opt(PortNumber()),
    sourceLabels: Opt(StringMap()),
    gateways: Opt(List(Str())),
    sourceNamespace: Opt(Str()),
    sourceSubnet: Opt(Str('IPv4/IPv6 address or CIDR of the source')),
  },
  'L4 match conditions',
);

const TLSMatchAttributes = Obj(
  {
    sniHosts: List(Str(), 'SNI values to match (wildcards allowed)', { minItems: 1 }),
    destinationSubnets: Opt(List(Str())),
    port: Opt(PortNumber()),
    sourceLabels: Opt(StringMap()),
    gateways: Opt(List(Str())),
    sourceNamespace: Opt(Str()),
  },
  'TLS match conditions (by SNI)',
);

/** The spec of a VirtualService. */
export const VirtualServiceSpec = Obj({
  hosts: Opt(List(Str(), 'hosts this applies to: short names, FQDNs, wildcards (*.example.com); none for a delegate')),
  gateways: Opt(List(Str(), 'gateways (`ns/name`) and/or `mesh`; none means the sidecars only')),
  http: Opt(List(HTTPRoute, 'HTTP routes, first match wins')),
  tls: Opt(
    List(
      Obj(
        { match: List(TLSMatchAttributes, undefined, { minItems: 1 }), route: Opt(List(RouteDestination)) },
        'a TLS passthrough route',
      ),
      'TLS (SNI) routes',
    ),
  ),
  tcp: Opt(
    List(
      Obj({ match: Opt(List(L4MatchAttributes)), route: Opt(List(RouteDestination)) }, 'a TCP route'),
      'opaque TCP routes',
    ),
  ),
  exportTo: Opt(List(Str(), 'namespaces that see this VirtualService: `.`, `*` or names')),
});
/** The spec of a VirtualService. */
export type VirtualServiceSpec = Static<typeof VirtualServiceSpec>;
/** An Istio VirtualService. */
export type VirtualService = Resource<'VirtualService', VirtualServiceSpec>;
/** One HTTP route of a VirtualService. */
export type HTTPRoute = Static<typeof HTTPRoute>;

/** retryOn values Envoy and Istio understand (besides numeric status codes). */
export const RETRY_ON_POLICIES = RETRY_ON;

/** An HTTP field name (RFC 9110 token). */
export const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A field value: no CR, LF, NUL or other control character but tab (a CRLF would split the request). */
export const BAD_HEADER_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Header names and values of a `headers` block: a bad one made the proxy send unparseable requests (503 UC for all). */
function checkHeaderOperations(
  h: { request?: HeaderOps; response?: HeaderOps } | undefined,
  at: (string | number)[],
  report: ReportIssue,
): void {
  for (const side of ['request', 'response'] as const) {
    const ops = h?.[side];
    if (!ops) continue;
    for (const op of ['set', 'add'] as const) {
      for (const [name, value] of Object.entries(ops[op] ?? {})) {
        const where = [...at, side, op, name];
        if (!HEADER_NAME.test(name))
          report(
            where,
            `"${name}" is not a valid header name (letters, digits and !#$%&'*+-.^_\`|~ only; no spaces, colons or pseudo-headers)`,
            'header',
          );
        else if (BAD_HEADER_VALUE.test(String(value)))
          report(
            where,
            `the value of ${name} contains a control character (CR, LF, NUL...); remove it: a line break would split the request`,
            'header',
          );
      }
    }
    (ops.remove ?? []).forEach((name, i) => {
      if (!HEADER_NAME.test(name)) report([...at, side, 'remove', i], `"${name}" is not a valid header name`, 'header');
    });
  }
}

type HeaderOps = { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] };

/** Checks Istio's webhook applies to HTTP routes beyond the schema. */
function checkHttpRoute(r: HTTPRoute, at: (string | number)[], report: ReportIssue): void {
  checkHeaderOperations(r.headers, [...at, 'headers'], report);
  r.route?.forEach((d, i) => checkHeaderOperations(d.headers, [...at, 'route', i, 'headers'], report));
  r.match?.forEach((m, i) => {
    for (const f of ['headers', 'withoutHeaders'] as const) {
      for (const name of Object.keys(m[f] ?? {})) {
        // `@request.auth.claims.<claim>` is Istio's JWT claim match (valid on gateways), not a header.
        if (!HEADER_NAME.test(name) && !name.startsWith('@request.auth.claims.'))
          report([...at, 'match', i, f, name], `"${name}" is not a valid header name`, 'header');
      }
    }
  });
  if (!r.route && !r.redirect && !r.directResponse && !r.delegate) {
    report(at, 'an HTTP route needs an action; add route (forward), redirect or directResponse');
  }
  if (r.retries?.retryOn) {
    for (const raw of r.retries.retryOn.split(',')) {
      const p = raw.trim();
      if (p === '' || RETRY_ON_POLICIES.has(p) || /^[1-5][0-9][0-9]$/.test(p)) continue;
      report(
        [...at, 'retries', 'retryOn'],
        `"${p}" is not a retryOn condition; use one of ${[...RETRY_ON_POLICIES].join(', ')}, or an HTTP status code`,
      );
    }
  }
  if (r.fault?.delay && !r.fault.delay.fixedDelay && !r.fault.delay.exponentialDelay) {
    report([...at, 'fault', 'delay'], 'a delay fault needs fixedDelay (e.g. 5s); add it');
  }
  if (
    r.fault?.abort &&
    r.fault.abort.httpStatus === undefined &&
    !r.fault.abort.grpcStatus &&
    !r.fault.abort.http2Error
  ) {
    report([...at, 'fault', 'abort'], 'an abort fault needs httpStatus (e.g. 503) or grpcStatus; add one');
  }
}

/** Istio VirtualService. */
export const virtualServiceKind = defineKind({
  family: 'istio',
  group: 'networking.istio.io',
  kind: 'VirtualService',
  plural: 'virtualservices',
  singular: 'virtualservice',
  shortNames: ['vs'],
  categories: ['istio-io', 'networking-istio-io'],
  versions: ['v1alpha3', 'v1beta1', 'v1'],
  storageVersion: 'v1alpha3',
  namespaced: true,
  summary: 'Routing of requests to a host: matches, weighted destinations, retries, timeouts, faults, mirroring',
  reference: 'https://istio.io/latest/docs/reference/config/networking/virtual-service/',
  spec: VirtualServiceSpec,
  unknownFields: 'error',
  statusSubresource: true,
  printerColumns: [
    {
      name: 'Gateways',
      type: 'string',
      jsonPath: '.spec.gateways',
      description: 'The gateways and sidecars these routes apply to',
    },
    {
      name: 'Hosts',
      type: 'string',
      jsonPath: '.spec.hosts',
      description: 'The destination hosts to which traffic is being sent',
    },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation' },
  ],
  check(spec, report) {
    // destinationSubnets are matched against the connection's destination address: each must be an address or CIDR.
    for (const kind of ['tcp', 'tls'] as const)
      spec[kind]?.forEach((r, i) =>
        r.match?.forEach((m, j) =>
          m.destinationSubnets?.forEach((v, k) => {
            const problem = cidrProblem(v);
            if (problem)
              report(
                ['spec', kind, i, 'match', j, 'destinationSubnets', k],
                `${problem}; write an address or CIDR such as 10.0.0.0/16`,
              );
          }),
        ),
      );
    spec.http?.forEach((r, i) => checkHttpRoute(r, ['spec', 'http', i], report));
    if (!spec.http?.length && !spec.tcp?.length && !spec.tls?.length && spec.hosts?.length) {
      report(['spec'], 'a VirtualService needs at least one http, tcp or tls route; add one');
    }
  },
});

/** Why `value` is not an IPv4/IPv6 address or CIDR, or undefined when it is one. */
function cidrProblem(value: string): string | undefined {
  const [addr, bits, extra] = value.split('/');
  const family = isIP(addr ?? '');
  if (family === 0 || extra !== undefined) return `"${value}" is not an IP address or CIDR`;
  if (bits !== undefined && (!/^[0-9]{1,3}$/.test(bits) || Number(bits) > (family === 6 ? 128 : 32)))
    return `"${value}" has an invalid prefix length`;
  return undefined;
}
