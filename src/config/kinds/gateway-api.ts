/**
 * gateway.networking.k8s.io HTTPRoute and GRPCRoute (Gateway API, standard channel), for mesh
 * routing as GAMMA defines it: a route whose `parentRefs` name a Service (group "" or core, kind
 * Service) routes the traffic clients send to that Service, in every client's sidecar. A parentRef
 * to a Gateway (north-south) is accepted and flagged (MESH0002): meshctl's ingress is the Istio
 * Gateway kind. The schemas follow the upstream CRDs field by field
 * (test/fixtures/upstream/gateway-api/); their CEL rules are the checks of gateway-api-checks.ts.
 */
import type { Static } from '@sinclair/typebox';
import { Bool, Duration, Enum, FreeForm, Int32, List, Obj, Opt, Str, type Resource } from '../schema.js';
import { defineKind } from '../kind.js';
import { checkGrpc, checkHttp } from './gateway-api-checks.js';

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

const common = {
  family: 'gateway-api' as const,
  group: 'gateway.networking.k8s.io',
  categories: ['gateway-api'],
  namespaced: true,
  unknownFields: 'warn' as const,
  statusSubresource: true,
  // gateway.networking.k8s.io is a protected group: the API server refuses its CRDs without this.
  apiApproved: 'https://github.com/kubernetes-sigs/gateway-api/pull/4530',
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
