/**
 * gateway.networking.k8s.io HTTPRoute and GRPCRoute (Gateway API, standard channel), for mesh
 * routing as GAMMA defines it: a route whose `parentRefs` name a Service (group "" or core, kind
 * Service) routes the traffic clients send to that Service, in every client's sidecar. A parentRef
 * to a Gateway (north-south) is accepted and flagged (MESH0002): meshctl's ingress is the Istio
 * Gateway kind. The schemas follow the upstream CRDs field by field
 * (test/fixtures/upstream/gateway-api/), their CEL rules are the `check` below.
 */
import type { Static } from '@sinclair/typebox';
import { Bool, Duration, Enum, FreeForm, Int32, List, Obj, Opt, Str, type Resource } from '../schema.js';
import { defineKind, type ReportIssue } from '../kind.js';
import { regexProblem } from '../regex.js';
import { parseDuration } from '../duration.js';
import { BAD_HEADER_VALUE, HEADER_NAME } from './virtual-service.js';

const PortNum = (what: string) => Int32(what, { minimum: 1, maximum: 65535 });

/** A parent of a route: for mesh routing a Service (group "", kind Service). */
const ParentRef = Obj({
  group: Opt(Str('API group of the parent: "" (core) for a Service; default gateway.networking.k8s.io')),
  kind: Opt(Str('Service (mesh routing, GAMMA) or Gateway (default; not implemented: use an Istio Gateway)')),
  namespace: Opt(Str("the parent's namespace (default: the route's)")),
  name: Str('name of the parent', { minLength: 1 }),
  sectionName: Opt(Str('a port name of the Service (a listener name of a Gateway)')),
  port: Opt(PortNum('a port of the Service: the route applies to that port only')),
});

/** A header set by a modifier. */
const HeaderValue = Obj({ name: Str('header name', { minLength: 1 }), value: Str('header value') });

/** RequestHeaderModifier / ResponseHeaderModifier. */
const HeaderModifier = (what: string) =>
  Obj(
    {
      set: Opt(List(HeaderValue, 'headers set (replacing any value)')),
      add: Opt(List(HeaderValue, 'headers added (appended to existing values)')),
      remove: Opt(List(Str(), 'header names removed')),
    },
    what,
  );

/** A reference to a backend: a Service and port. */
const BackendObjectRef = {
  group: Opt(Str('API group of the backend: "" (core) for a Service')),
  kind: Opt(Str('Service (default)')),
  name: Str('name of the backend Service', { minLength: 1 }),
  namespace: Opt(Str("the backend's namespace (default: the route's)")),
  port: Opt(PortNum('the Service port traffic goes to')),
};

const RequestMirror = Obj(
  {
    backendRef: Obj(BackendObjectRef, 'the Service the copies go to'),
    percent: Opt(Int32('share of requests mirrored, 0..100 (default 100)', { minimum: 0, maximum: 100 })),
    fraction: Opt(
      Obj(
        {
          numerator: Int32('mirrored requests per denominator', { minimum: 0 }),
          denominator: Opt(Int32('default 100', { minimum: 1 })),
        },
        'share of requests mirrored as a fraction',
      ),
    ),
  },
  'copies requests to another Service (answers ignored)',
);

const PathModifier = Obj(
  {
    type: Enum(['ReplaceFullPath', 'ReplacePrefixMatch'] as const, 'how the path is changed'),
    replaceFullPath: Opt(Str('the new path')),
    replacePrefixMatch: Opt(Str('replaces the prefix the PathPrefix match matched')),
  },
  'a path change',
);

const ExtensionRef = Obj(
  { group: Str('API group'), kind: Str('kind'), name: Str('name') },
  { description: 'an implementation-specific filter', unsupported: 'meshctl has no extension filters' },
);

const Cors = Obj(
  {
    allowOrigins: Opt(List(Str(), 'origins allowed')),
    allowCredentials: Opt(Bool('whether credentials are allowed')),
    allowMethods: Opt(List(Str(), 'methods allowed')),
    allowHeaders: Opt(List(Str(), 'request headers allowed')),
    exposeHeaders: Opt(List(Str(), 'response headers exposed')),
    maxAge: Opt(Int32('seconds a preflight answer may be cached', { minimum: 1 })),
  },
  'CORS policy: the proxy answers preflights from allowed origins and adds the CORS headers',
);

/** Session affinity (experimental channel, GEP-1619): accepted so such YAML applies, not implemented. */
const SessionPersistence = FreeForm({
  description: 'session affinity by cookie or header (experimental channel)',
  unsupported: 'session persistence is not implemented; use a DestinationRule consistentHash',
});

/** The filter types of an HTTPRoute rule. */
const HTTP_FILTER_TYPES = [
  'RequestHeaderModifier',
  'ResponseHeaderModifier',
  'RequestMirror',
  'RequestRedirect',
  'URLRewrite',
  'ExtensionRef',
  'CORS',
] as const;

const httpFilterFields = {
  requestHeaderModifier: Opt(HeaderModifier('changes the request headers')),
  responseHeaderModifier: Opt(HeaderModifier('changes the response headers')),
  requestMirror: Opt(RequestMirror),
  requestRedirect: Opt(
    Obj(
      {
        scheme: Opt(Enum(['http', 'https'] as const, 'scheme of the Location (default: the request scheme)')),
        hostname: Opt(Str('host of the Location (default: the request host)')),
        path: Opt(PathModifier),
        port: Opt(PortNum('port of the Location')),
        statusCode: Opt(Int32('301, 302 (default), 303, 307 or 308', { minimum: 301, maximum: 308 })),
      },
      'answers with a redirect',
    ),
  ),
  urlRewrite: Opt(
    Obj({ hostname: Opt(Str('the new Host')), path: Opt(PathModifier) }, 'rewrites the request before it is sent'),
  ),
  extensionRef: Opt(ExtensionRef),
  cors: Opt(Cors),
};

/** A filter of an HTTPRoute rule. */
const HTTPFilter = Obj({
  type: Enum(HTTP_FILTER_TYPES, {
    description: 'which filter',
    unsupportedValues: { ExtensionRef: 'meshctl has no extension filters' },
  }),
  ...httpFilterFields,
});

/** A filter of one backend of an HTTPRoute rule. */
const HTTPBackendFilter = Obj({
  type: Enum(HTTP_FILTER_TYPES, {
    description: 'which filter',
    unsupportedValues: {
      RequestMirror: 'per-backend mirrors are not implemented; put the filter on the rule',
      RequestRedirect: 'per-backend redirects are not implemented; put the filter on the rule',
      URLRewrite: 'per-backend rewrites are not implemented; put the filter on the rule',
      ExtensionRef: 'meshctl has no extension filters',
      CORS: 'per-backend CORS is not implemented; put the filter on the rule',
    },
  }),
  ...httpFilterFields,
});

const MatchType = (what: string) => Opt(Enum(['Exact', 'RegularExpression'] as const, what));

const HeaderMatch = Obj({
  type: MatchType('Exact (default) or RegularExpression (RE2, whole value)'),
  name: Str('header name (case-insensitive)', { minLength: 1 }),
  value: Str('the value, or the expression'),
});

/** The spec of an HTTPRoute. */
export const HTTPRouteSpec = Obj({
  parentRefs: Opt(List(ParentRef, 'the Services (mesh) or Gateways the route attaches to')),
  hostnames: Opt(List(Str(), 'hostnames matched against the Host header (ignored for Service parents)')),
  rules: Opt(
    List(
      Obj({
        name: Opt(Str('name of the rule (the `route` label of metrics)')),
        matches: Opt(
          List(
            Obj({
              path: Opt(
                Obj(
                  {
                    type: Opt(Enum(['Exact', 'PathPrefix', 'RegularExpression'] as const, 'default PathPrefix')),
                    value: Opt(Str('the path, prefix (whole segments) or RE2 expression (default /)')),
                  },
                  'the request path',
                ),
              ),
              headers: Opt(List(HeaderMatch, 'request headers, all must match')),
              queryParams: Opt(
                List(
                  Obj({
                    type: MatchType('Exact (default) or RegularExpression'),
                    name: Str('query parameter name (case-sensitive)', { minLength: 1 }),
                    value: Str('the value, or the expression'),
                  }),
                  'query parameters, all must match',
                ),
              ),
              method: Opt(
                Enum(
                  ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const,
                  'the request method',
                ),
              ),
            }),
            'conditions, any of which selects the rule (default: every request)',
          ),
        ),
        filters: Opt(List(HTTPFilter, 'filters applied to requests the rule matches')),
        backendRefs: Opt(
          List(
            Obj({
              ...BackendObjectRef,
              weight: Opt(Int32('relative share of requests (default 1; 0: none)', { minimum: 0, maximum: 1000000 })),
              filters: Opt(List(HTTPBackendFilter, 'filters applied to requests sent to this backend')),
            }),
            'where matched requests go, by weight',
          ),
        ),
        timeouts: Opt(
          Obj(
            {
              request: Opt(Duration('the whole request, retries included (0s: none)', 'any')),
              backendRequest: Opt(Duration('one attempt to the backend', 'any')),
            },
            'timeouts',
          ),
        ),
        retry: Opt(
          Obj(
            {
              codes: Opt(List(Int32('an HTTP status, 400..599', { minimum: 400, maximum: 599 }), 'statuses retried')),
              attempts: Opt(Int32('retries of a request (0: none)', { minimum: 0 })),
              backoff: Opt(Duration('least wait before a retry', 'any')),
            },
            'retries (experimental channel, GEP-1731)',
          ),
        ),
        sessionPersistence: Opt(SessionPersistence),
      }),
      'routing rules',
    ),
  ),
});
/** The spec of a Gateway API HTTPRoute. */
export type HTTPRouteSpec = Static<typeof HTTPRouteSpec>;
/** A Gateway API HTTPRoute (named so to keep apart from the VirtualService's `HTTPRoute` block). */
export type GatewayHTTPRoute = Resource<'HTTPRoute', HTTPRouteSpec>;

const GRPC_FILTER_TYPES = ['ResponseHeaderModifier', 'RequestHeaderModifier', 'RequestMirror', 'ExtensionRef'] as const;
const grpcFilterFields = {
  requestHeaderModifier: Opt(HeaderModifier('changes the request headers')),
  responseHeaderModifier: Opt(HeaderModifier('changes the response headers')),
  requestMirror: Opt(RequestMirror),
  extensionRef: Opt(ExtensionRef),
};
const GRPCFilter = Obj({
  type: Enum(GRPC_FILTER_TYPES, {
    description: 'which filter',
    unsupportedValues: { ExtensionRef: 'meshctl has no extension filters' },
  }),
  ...grpcFilterFields,
});
const GRPCBackendFilter = Obj({
  type: Enum(GRPC_FILTER_TYPES, {
    description: 'which filter',
    unsupportedValues: {
      RequestMirror: 'per-backend mirrors are not implemented; put the filter on the rule',
      ExtensionRef: 'meshctl has no extension filters',
    },
  }),
  ...grpcFilterFields,
});

/** The spec of a GRPCRoute. */
export const GRPCRouteSpec = Obj({
  parentRefs: Opt(List(ParentRef, 'the Services (mesh) or Gateways the route attaches to')),
  hostnames: Opt(List(Str(), 'hostnames matched against :authority (ignored for Service parents)')),
  rules: Opt(
    List(
      Obj({
        name: Opt(Str('name of the rule')),
        matches: Opt(
          List(
            Obj({
              method: Opt(
                Obj(
                  {
                    type: MatchType('Exact (default) or RegularExpression'),
                    service: Opt(Str('the gRPC service, e.g. helloworld.Greeter')),
                    method: Opt(Str('the gRPC method, e.g. SayHello')),
                  },
                  'the gRPC service and method',
                ),
              ),
              headers: Opt(List(HeaderMatch, 'request metadata, all must match')),
            }),
            'conditions, any of which selects the rule (default: every request)',
          ),
        ),
        filters: Opt(List(GRPCFilter, 'filters applied to requests the rule matches')),
        backendRefs: Opt(
          List(
            Obj({
              ...BackendObjectRef,
              weight: Opt(Int32('relative share of requests (default 1; 0: none)', { minimum: 0, maximum: 1000000 })),
              filters: Opt(List(GRPCBackendFilter, 'filters applied to requests sent to this backend')),
            }),
            'where matched requests go, by weight',
          ),
        ),
        sessionPersistence: Opt(SessionPersistence),
      }),
      'routing rules',
    ),
  ),
});
/** The spec of a GRPCRoute. */
export type GRPCRouteSpec = Static<typeof GRPCRouteSpec>;
/** A Gateway API GRPCRoute. */
export type GRPCRoute = Resource<'GRPCRoute', GRPCRouteSpec>;

/** Whether a parentRef names a Service (GAMMA mesh routing) rather than a Gateway. */
export function isServiceParent(p: { group?: string | undefined; kind?: string | undefined }): boolean {
  return (p.group === '' || p.group === 'core') && p.kind === 'Service';
}

/** Whether a backendRef (or mirror target) names a Service. */
export function isServiceBackend(b: { group?: string | undefined; kind?: string | undefined }): boolean {
  return (b.group === undefined || b.group === '' || b.group === 'core') && (b.kind ?? 'Service') === 'Service';
}

/** A hostname as the upstream CRD's pattern has it (RFC 1123, lowercase). */
const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

type NameValue = { name: string; value: string };
type Modifier = { set?: NameValue[]; add?: NameValue[]; remove?: string[] };

/** Header names and values a modifier writes: a bad one would make the proxy send unparseable requests. */
function checkModifier(m: Modifier | undefined, at: (string | number)[], report: ReportIssue): void {
  for (const op of ['set', 'add'] as const)
    m?.[op]?.forEach((h, i) => {
      if (!HEADER_NAME.test(h.name))
        report([...at, op, i, 'name'], `"${h.name}" is not a valid header name (letters, digits and !#$%&'*+-.^_\`|~)`);
      if (BAD_HEADER_VALUE.test(h.value))
        report([...at, op, i, 'value'], 'the value contains a control character (CR, LF, NUL...); remove it');
    });
  m?.remove?.forEach((name, i) => {
    if (!HEADER_NAME.test(name)) report([...at, 'remove', i], `"${name}" is not a valid header name`);
  });
}

type AnyFilter = {
  type: string;
  requestHeaderModifier?: Modifier;
  responseHeaderModifier?: Modifier;
  requestRedirect?: { path?: { type: string; replaceFullPath?: string; replacePrefixMatch?: string } };
  urlRewrite?: { path?: { type: string; replaceFullPath?: string; replacePrefixMatch?: string } };
  requestMirror?: { percent?: number; fraction?: { numerator: number; denominator?: number } };
} & Record<string, unknown>;

const FIELD_OF: Record<string, string> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestMirror: 'requestMirror',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  ExtensionRef: 'extensionRef',
  CORS: 'cors',
};

/** The upstream CRD's CEL rules on a list of filters. */
function checkFilters(filters: readonly AnyFilter[] | undefined, at: (string | number)[], report: ReportIssue): void {
  if (!filters) return;
  filters.forEach((f, i) => {
    const where = [...at, i];
    const own = FIELD_OF[f.type]!;
    if (f[own] === undefined) report([...where, own], `a ${f.type} filter needs its "${own}" field; add it`);
    for (const field of Object.values(FIELD_OF))
      if (field !== own && f[field] !== undefined)
        report([...where, field], `"${field}" belongs to a filter of another type than ${f.type}; remove it`);
    checkModifier(f.requestHeaderModifier, [...where, 'requestHeaderModifier'], report);
    checkModifier(f.responseHeaderModifier, [...where, 'responseHeaderModifier'], report);
    for (const kind of ['requestRedirect', 'urlRewrite'] as const) {
      const host = (f[kind] as { hostname?: string } | undefined)?.hostname;
      if (host !== undefined && !HOSTNAME.test(host))
        report([...where, kind, 'hostname'], `"${host}" is not a hostname (lowercase letters, digits, '-' and '.')`);
      const p = f[kind]?.path;
      if (!p) continue;
      const want = p.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
      if (p[want] === undefined) report([...where, kind, 'path'], `path type ${p.type} needs "${want}"; add it`);
      const value = p[want];
      if (value !== undefined && !value.startsWith('/'))
        report([...where, kind, 'path', want], `"${value}" must start with "/"`);
      else if (value !== undefined && /[\s\u0000-\u001f\u007f]/.test(value))
        report([...where, kind, 'path', want], 'a path has no spaces or control characters; percent-encode them');
    }
    const m = f.requestMirror;
    if (m?.percent !== undefined && m.fraction)
      report([...where, 'requestMirror'], 'percent and fraction are exclusive; keep one');
    if (m?.fraction && m.fraction.numerator > (m.fraction.denominator ?? 100))
      report([...where, 'requestMirror', 'fraction'], 'numerator must not exceed denominator');
  });
  const types = filters.map((f) => f.type);
  if (types.includes('RequestRedirect') && types.includes('URLRewrite'))
    report(at, 'a RequestRedirect and a URLRewrite filter cannot be in one rule; keep one');
  for (const once of ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'CORS'])
    if (types.filter((t) => t === once).length > 1) report(at, `the ${once} filter may appear once per rule`);
}

function checkRegex(value: string, path: (string | number)[], report: ReportIssue): void {
  const why = regexProblem(value);
  if (why) report(path, `invalid RE2 regular expression "${value}": ${why}`, 'regex');
}

type Spec = HTTPRouteSpec | GRPCRouteSpec;

/** What both route kinds check: parents, backends, filters. */
function checkCommon(spec: Spec, report: ReportIssue): void {
  spec.parentRefs?.forEach((p, i) => {
    if (!isServiceParent(p))
      report(
        ['spec', 'parentRefs', i],
        `parentRef ${p.kind ?? 'Gateway'} "${p.name}" is not a Service: meshctl routes only mesh traffic (GAMMA parentRefs with group: "" and kind: Service); for ingress use an Istio Gateway and a VirtualService`,
        'unsupported',
      );
  });
  spec.rules?.forEach((r, ri) => {
    const at = ['spec', 'rules', ri];
    checkFilters(r.filters as AnyFilter[] | undefined, [...at, 'filters'], report);
    r.backendRefs?.forEach((b, bi) => {
      checkFilters(b.filters as AnyFilter[] | undefined, [...at, 'backendRefs', bi, 'filters'], report);
      if (!isServiceBackend(b))
        report(
          [...at, 'backendRefs', bi],
          `backendRef ${b.kind} "${b.name}" is not a Service: requests to it are answered 500, as the Gateway API requires`,
          'unsupported',
        );
      else if (b.port === undefined)
        report([...at, 'backendRefs', bi, 'port'], 'a Service backendRef needs a port; add the Service port');
    });
  });
}

function checkHttp(spec: HTTPRouteSpec, report: ReportIssue): void {
  checkCommon(spec, report);
  spec.rules?.forEach((r, ri) => {
    r.matches?.forEach((m, mi) => {
      const at = ['spec', 'rules', ri, 'matches', mi];
      const p = m.path;
      if (p?.value !== undefined) {
        if (p.type === 'RegularExpression') checkRegex(p.value, [...at, 'path', 'value'], report);
        else if (!p.value.startsWith('/')) report([...at, 'path', 'value'], `path "${p.value}" must start with "/"`);
        else if (/\/\/|\/\.\.?(\/|$)|%2f|%2F|#/.test(p.value))
          report([...at, 'path', 'value'], `path "${p.value}" must not contain "//", "/./", "/../", "%2f" or "#"`);
      }
      m.headers?.forEach((h, hi) => {
        if (!HEADER_NAME.test(h.name)) report([...at, 'headers', hi, 'name'], `"${h.name}" is not a valid header name`);
        if (h.type === 'RegularExpression') checkRegex(h.value, [...at, 'headers', hi, 'value'], report);
      });
      m.queryParams?.forEach((q, qi) => {
        if (q.type === 'RegularExpression') checkRegex(q.value, [...at, 'queryParams', qi, 'value'], report);
      });
    });
    const t = r.timeouts;
    const req = t?.request !== undefined ? parseDuration(t.request) : undefined;
    const be = t?.backendRequest !== undefined ? parseDuration(t.backendRequest) : undefined;
    if (req !== undefined && be !== undefined && req !== 0 && be > req)
      report(['spec', 'rules', ri, 'timeouts', 'backendRequest'], 'backendRequest must not exceed request');
    const filters = r.filters ?? [];
    if (filters.some((f) => f.type === 'RequestRedirect') && (r.backendRefs?.length ?? 0) > 0)
      report(['spec', 'rules', ri], 'a rule with a RequestRedirect filter cannot have backendRefs; remove them');
    const prefixMatches = (r.matches ?? [{}]).every((m) => (m.path?.type ?? 'PathPrefix') === 'PathPrefix');
    for (const kind of ['requestRedirect', 'urlRewrite'] as const)
      filters.forEach((f, fi) => {
        if (f[kind]?.path?.type === 'ReplacePrefixMatch' && !prefixMatches)
          report(
            ['spec', 'rules', ri, 'filters', fi, kind, 'path'],
            'ReplacePrefixMatch needs every match of the rule to be a PathPrefix match',
          );
      });
  });
}

function checkGrpc(spec: GRPCRouteSpec, report: ReportIssue): void {
  checkCommon(spec, report);
  spec.rules?.forEach((r, ri) =>
    r.matches?.forEach((m, mi) => {
      const at = ['spec', 'rules', ri, 'matches', mi, 'method'];
      const x = m.method;
      if (!x) return;
      if (x.service === undefined && x.method === undefined)
        report(at, 'a method match needs service or method (or both); add one');
      if (x.type === 'RegularExpression') {
        if (x.service !== undefined) checkRegex(x.service, [...at, 'service'], report);
        if (x.method !== undefined) checkRegex(x.method, [...at, 'method'], report);
      } else {
        if (x.service !== undefined && !/^(?:[^.\s/]+\.)*[^.\s/]+$/.test(x.service))
          report([...at, 'service'], `"${x.service}" is not a gRPC service name (e.g. helloworld.Greeter)`);
        if (x.method !== undefined && !/^[A-Za-z_][A-Za-z_0-9]*$/.test(x.method))
          report([...at, 'method'], `"${x.method}" is not a gRPC method name (e.g. SayHello)`);
      }
      m.headers?.forEach((h, hi) => {
        if (h.type === 'RegularExpression')
          checkRegex(h.value, ['spec', 'rules', ri, 'matches', mi, 'headers', hi, 'value'], report);
      });
    }),
  );
}

const common = {
  family: 'gateway-api' as const,
  group: 'gateway.networking.k8s.io',
  categories: ['gateway-api'],
  namespaced: true,
  unknownFields: 'warn' as const,
  statusSubresource: true,
};

/** Gateway API HTTPRoute. */
export const httpRouteKind = defineKind({
  ...common,
  kind: 'HTTPRoute',
  plural: 'httproutes',
  singular: 'httproute',
  shortNames: [],
  versions: ['v1beta1', 'v1'],
  storageVersion: 'v1',
  summary: 'HTTP routing rules; with a Service parentRef they route the mesh traffic to that Service (GAMMA)',
  reference: 'https://gateway-api.sigs.k8s.io/reference/spec/#httproute',
  spec: HTTPRouteSpec,
  printerColumns: [
    { name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames', description: 'Hostnames of the route' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'When it was created' },
  ],
  check: checkHttp,
});

/** Gateway API GRPCRoute. */
export const grpcRouteKind = defineKind({
  ...common,
  kind: 'GRPCRoute',
  plural: 'grpcroutes',
  singular: 'grpcroute',
  shortNames: [],
  versions: ['v1'],
  storageVersion: 'v1',
  summary: 'gRPC routing rules by service and method; with a Service parentRef they route mesh traffic (GAMMA)',
  reference: 'https://gateway-api.sigs.k8s.io/reference/spec/#grpcroute',
  spec: GRPCRouteSpec,
  printerColumns: [
    { name: 'Hostnames', type: 'string', jsonPath: '.spec.hostnames', description: 'Hostnames of the route' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'When it was created' },
  ],
  check: checkGrpc,
});
