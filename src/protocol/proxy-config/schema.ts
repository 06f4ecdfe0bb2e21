/**
 * The proxy config format: ONE TypeBox schema that is the TypeScript type, the validator (with the
 * path of every error) and the documentation of what `meshctl proxy run --config FILE` reads and
 * what the control plane streams. Field names follow Istio's VirtualService/DestinationRule where
 * a concept is the same (retries, fault, mirror, connectionPool, outlierDetection), so a generator
 * from the mesh API is a rename, not a translation.
 *
 * Versioning: `apiVersion` names the format (`proxy.meshctl.dev/v1`); a breaking change gets a new
 * apiVersion and the proxy accepts both during a migration. `version` is the config's own version
 * string (the control plane's `version_info`), shown by the admin API and in the config gauge.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ISTIO_METRIC_NAMES, PROXY_CONFIG_API_VERSION } from './constants.js';

export { PROXY_CONFIG_API_VERSION, ISTIO_METRIC_NAMES } from './constants.js';

const doc = <T extends TSchema>(description: string, schema: T): T => ({ ...schema, description });
const opt = <T extends TSchema>(description: string, schema: T) => Type.Optional(doc(description, schema));

/** `250ms`, `5s`, `1.5m`, `1h`. */
export const Duration = Type.String({
  pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$',
  description: 'a duration: 250ms, 5s, 1m, 1h',
});
const Percent = Type.Number({ minimum: 0, maximum: 100, description: 'a percentage, 0 to 100 (fractions allowed)' });
const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Labels = Type.Record(Type.String(), Type.String());
const Strict = { additionalProperties: false } as const;

/** How a string is matched: exactly one of exact, prefix or regex (RE2 syntax, full match). */
export const StringMatch = Type.Object(
  {
    exact: Type.Optional(Type.String()),
    prefix: Type.Optional(Type.String()),
    regex: opt('RE2 regular expression that must match the whole value (as Istio)', Type.String()),
  },
  { ...Strict, minProperties: 1, maxProperties: 1, description: 'exactly one of exact, prefix, regex' },
);

/** A header condition: a StringMatch, or presence (`present: true`) / absence (`present: false`). */
export const HeaderMatch = Type.Object(
  {
    exact: Type.Optional(Type.String()),
    prefix: Type.Optional(Type.String()),
    regex: Type.Optional(Type.String()),
    present: opt('true: the header must be present (any value); false: it must be absent', Type.Boolean()),
  },
  { ...Strict, minProperties: 1, maxProperties: 1, description: 'exactly one of exact, prefix, regex, present' },
);

/** One match block: every condition in it must hold (AND); the route matches if any block does (OR). */
export const RouteMatch = Type.Object(
  {
    uri: opt('request path (without the query string)', StringMatch),
    method: opt('HTTP method', StringMatch),
    authority: opt('Host / :authority', StringMatch),
    scheme: opt('http or https', StringMatch),
    headers: opt('header name (lowercase) -> condition', Type.Record(Type.String(), HeaderMatch)),
    withoutHeaders: opt('header name -> condition that must NOT hold', Type.Record(Type.String(), HeaderMatch)),
    queryParams: opt('query parameter -> condition', Type.Record(Type.String(), HeaderMatch)),
    port: opt('the destination port of the connection', Port),
    sourceLabels: opt('labels the calling workload (this proxy node for outbound) must carry', Labels),
    ignoreUriCase: opt('match uri case-insensitively', Type.Boolean()),
  },
  Strict,
);

/** Header edits: set (replace), add (append), remove. */
export const HeaderOperations = Type.Object(
  {
    set: Type.Optional(Type.Record(Type.String(), Type.String())),
    add: Type.Optional(Type.Record(Type.String(), Type.String())),
    remove: Type.Optional(Type.Array(Type.String())),
  },
  Strict,
);

/** Request and response header edits. */
export const Headers = Type.Object(
  { request: Type.Optional(HeaderOperations), response: Type.Optional(HeaderOperations) },
  Strict,
);

/** A weighted destination: a cluster, optionally one subset of it. */
export const RouteDestination = Type.Object(
  {
    cluster: doc('name of a cluster in `clusters`', Type.String({ minLength: 1 })),
    subset: opt('name of a subset of that cluster', Type.String()),
    port: opt('override the endpoint port', Port),
    weight: opt(
      'relative weight; default 100 for a single destination, weights need not sum to 100',
      Type.Integer({ minimum: 0 }),
    ),
    headers: Type.Optional(Headers),
  },
  Strict,
);

/** Retry policy (Istio HTTPRetry plus Linkerd's budget). */
export const RetryPolicy = Type.Object(
  {
    attempts: doc('retries after the first try (Istio semantics); 0 disables', Type.Integer({ minimum: 0 })),
    perTryTimeout: Type.Optional(Duration),
    retryOn: opt(
      'comma-separated: 5xx, gateway-error, reset, connect-failure, refused-stream, retriable-4xx, retriable-status-codes, or status codes (e.g. "503,409")',
      Type.String(),
    ),
    retriableStatusCodes: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }))),
    retryNonIdempotent: opt(
      'also retry POST/PATCH/... on responses and resets (default: only when the request never reached the upstream)',
      Type.Boolean(),
    ),
    backoff: Type.Optional(
      Type.Object(
        { baseInterval: Type.Optional(Duration), maxInterval: Type.Optional(Duration) },
        { ...Strict, description: 'exponential backoff with full jitter; default 25ms, max 10x base' },
      ),
    ),
    maxBodyBytes: opt(
      'request bodies up to this size are kept for replay; larger ones are not retried (default 65536)',
      Type.Integer({ minimum: 0 }),
    ),
    budget: Type.Optional(
      Type.Object(
        {
          retryRatio: doc('retries allowed per original request over the ttl window', Type.Number({ minimum: 0 })),
          minRetriesPerSecond: Type.Optional(Type.Integer({ minimum: 0 })),
          ttl: Type.Optional(Duration),
        },
        { ...Strict, description: 'Linkerd-style retry budget, shared by every route of the cluster' },
      ),
    ),
  },
  Strict,
);

/** Fault injection (Istio HTTPFaultInjection). */
export const FaultPolicy = Type.Object(
  {
    delay: Type.Optional(
      Type.Object({ fixedDelay: Duration, percentage: Type.Optional(Type.Object({ value: Percent }, Strict)) }, Strict),
    ),
    abort: Type.Optional(
      Type.Object(
        {
          httpStatus: Type.Optional(Type.Integer({ minimum: 200, maximum: 599 })),
          grpcStatus: opt(
            'gRPC status code (number) to answer gRPC requests with',
            Type.Integer({ minimum: 0, maximum: 16 }),
          ),
          percentage: Type.Optional(Type.Object({ value: Percent }, Strict)),
        },
        Strict,
      ),
    ),
  },
  Strict,
);

/** A mirror destination and the share of requests copied to it. */
const MirrorPolicy = Type.Object(
  {
    cluster: Type.String(),
    subset: Type.Optional(Type.String()),
    percentage: Type.Optional(Type.Object({ value: Percent }, Strict)),
  },
  Strict,
);

/** CORS policy (Istio CorsPolicy): preflights from allowed origins are answered by the proxy. */
export const CorsPolicy = Type.Object(
  {
    allowOrigins: opt('origins allowed (exact, prefix or regex)', Type.Array(StringMatch)),
    allowMethods: Type.Optional(Type.Array(Type.String())),
    allowHeaders: Type.Optional(Type.Array(Type.String())),
    exposeHeaders: Type.Optional(Type.Array(Type.String())),
    maxAge: Type.Optional(Duration),
    allowCredentials: Type.Optional(Type.Boolean()),
    unmatchedPreflights: opt(
      'preflights from origins matching nothing: forward to the app (default) or answer without CORS headers',
      Type.Union([Type.Literal('forward'), Type.Literal('ignore')]),
    ),
  },
  Strict,
);

/** One route: matches, then exactly one action (route, redirect, directResponse). */
export const Route = Type.Object(
  {
    name: Type.Optional(Type.String()),
    match: opt('any block matching selects the route; omitted = match everything', Type.Array(RouteMatch)),
    route: opt('weighted destinations', Type.Array(RouteDestination, { minItems: 1 })),
    redirect: Type.Optional(
      Type.Object(
        {
          uri: Type.Optional(Type.String()),
          authority: Type.Optional(Type.String()),
          scheme: Type.Optional(Type.String()),
          port: Type.Optional(Port),
          derivePort: opt(
            'FROM_PROTOCOL_DEFAULT: no port in the Location (the scheme default); FROM_REQUEST_PORT: the port of the request',
            Type.Union([Type.Literal('FROM_PROTOCOL_DEFAULT'), Type.Literal('FROM_REQUEST_PORT')]),
          ),
          prefixRewrite: opt('replace the matched uri prefix with this value in the Location path', Type.String()),
          redirectCode: Type.Optional(Type.Integer({ minimum: 300, maximum: 399 })),
        },
        Strict,
      ),
    ),
    directResponse: Type.Optional(
      Type.Object(
        {
          status: Type.Integer({ minimum: 100, maximum: 599 }),
          body: Type.Optional(Type.String()),
          flag: opt(
            'response flag for telemetry (NR: the blackhole of REGISTRY_ONLY; default DR-less)',
            Type.String({ pattern: '^[A-Z]{2,4}$' }),
          ),
        },
        Strict,
      ),
    ),
    rewrite: Type.Optional(
      Type.Object(
        {
          uri: Type.Optional(Type.String()),
          authority: Type.Optional(Type.String()),
          uriRegex: opt(
            'replace every match of the RE2 `match` in the path (query kept) with `rewrite` (\\1 for groups), as Envoy regex_rewrite',
            Type.Object({ match: Type.String(), rewrite: Type.String() }, Strict),
          ),
        },
        Strict,
      ),
    ),
    timeout: opt('whole-request timeout, all retries included; 0s = none', Duration),
    retries: Type.Optional(RetryPolicy),
    fault: Type.Optional(FaultPolicy),
    mirror: Type.Optional(MirrorPolicy),
    mirrors: opt('more mirror destinations, each with its own share (Istio mirrors)', Type.Array(MirrorPolicy)),
    headers: Type.Optional(Headers),
    cors: Type.Optional(CorsPolicy),
  },
  Strict,
);

/** A virtual host: the routes for a set of authorities. */
export const VirtualHost = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    domains: doc(
      'authorities served: exact ("reviews", "reviews:9080"), "*.suffix", "prefix.*" or "*"',
      Type.Array(Type.String(), { minItems: 1 }),
    ),
    routes: Type.Array(Route),
  },
  Strict,
);

/** A named route table, referenced by listeners. */
export const RouteConfig = Type.Object(
  { name: Type.String({ minLength: 1 }), virtualHosts: Type.Array(VirtualHost) },
  Strict,
);

/** Which bytes a listener chain expects: detected from the first bytes, or fixed. */
export const ListenerProtocol = Type.Union(
  [Type.Literal('auto'), Type.Literal('http1'), Type.Literal('http2'), Type.Literal('tcp')],
  {
    description:
      'auto: detect HTTP/1.1, h2c, TLS or else TCP from the first bytes; tcp: opaque (server-speaks-first ports)',
  },
);

/** TLS protocol versions as Node names them. */
export const TlsVersion = Type.Union([
  Type.Literal('TLSv1'),
  Type.Literal('TLSv1.1'),
  Type.Literal('TLSv1.2'),
  Type.Literal('TLSv1.3'),
]);

/** One server certificate (PEM inline: the config stream is TLS and the admin dump redacts keys). */
export const ServerCertificate = Type.Object(
  {
    name: doc('where it comes from (the Secret namespace/name), for logs and proxy-config secrets', Type.String()),
    certChain: doc('PEM: leaf then intermediates', Type.String({ minLength: 1 })),
    privateKey: doc('PEM private key (redacted in dumps)', Type.String({ minLength: 1 })),
    serverNames: opt(
      'SNI names this certificate serves (exact or *.suffix); absent: the default certificate',
      Type.Array(Type.String()),
    ),
  },
  Strict,
);

/** TLS the proxy terminates itself (a gateway server): certificates by SNI, optional client certificates. */
export const ServerTls = Type.Object(
  {
    mode: doc(
      'simple: server certificate only; mutual: a client certificate signed by caCertificates is required',
      Type.Union([Type.Literal('simple'), Type.Literal('mutual')]),
    ),
    certificates: Type.Array(ServerCertificate, { minItems: 1 }),
    caCertificates: opt('PEM bundle verifying client certificates (mutual)', Type.String()),
    subjectAltNames: opt('mutual: accepted client certificate SANs (any of them)', Type.Array(Type.String())),
    minProtocolVersion: Type.Optional(TlsVersion),
    maxProtocolVersion: Type.Optional(TlsVersion),
    cipherSuites: opt('OpenSSL cipher names (TLS 1.2 and below)', Type.Array(Type.String())),
  },
  Strict,
);

/** TLS the proxy originates towards a cluster's endpoints (DestinationRule tls SIMPLE/MUTUAL). */
export const UpstreamTls = Type.Object(
  {
    sni: opt('server name sent (default: the endpoint address when it is a name)', Type.String()),
    caCertificates: opt('PEM bundle trusted for the server certificate (default: the system roots)', Type.String()),
    certChain: opt('PEM client certificate (MUTUAL)', Type.String()),
    privateKey: opt('PEM client key (MUTUAL; redacted in dumps)', Type.String()),
    subjectAltNames: opt('the server certificate must carry one of these DNS/URI SANs', Type.Array(Type.String())),
    insecureSkipVerify: opt('do not verify the server certificate (logged as a warning)', Type.Boolean()),
  },
  Strict,
);

/** A filter chain: what to do with connections whose original destination matches. */
/** Local rate limits of an inbound chain: requests per second (burst the same), checked after authz. */
export const RateLimit = Type.Object(
  {
    total: opt('all clients together', Type.Integer({ minimum: 1 })),
    identity: opt('each client identity (clients without one share a bucket)', Type.Integer({ minimum: 1 })),
    overrides: opt(
      'these identities (SPIFFE IDs) share one bucket of this rate instead of the identity limit',
      Type.Array(
        Type.Object(
          {
            requestsPerSecond: Type.Integer({ minimum: 1 }),
            identities: Type.Array(Type.String({ pattern: '^spiffe://' }), { minItems: 1 }),
          },
          Strict,
        ),
      ),
    ),
    policy: opt('the policy, `ns/name`, named in the access log of a limited request', Type.String()),
  },
  Strict,
);

export const FilterChain = Type.Object(
  {
    name: Type.Optional(Type.String()),
    match: opt(
      'original destination of the connection; first chain matching wins, a chain without match is the default',
      Type.Object(
        {
          destinationPort: Type.Optional(Port),
          destinationAddress: Type.Optional(Type.String()),
          destinationSubnets: opt(
            'IPv4/IPv6 addresses or CIDRs: the original destination address must fall in one (VirtualService tcp/tls destinationSubnets, ServiceEntry addresses)',
            Type.Array(Type.String({ minLength: 1 })),
          ),
          sourceLabels: opt(
            'labels this proxy node must carry for the chain to apply (outbound: VirtualService tcp/tls sourceLabels)',
            Labels,
          ),
          serverNames: opt(
            'TLS SNI names (exact or *.suffix): the chain takes TLS connections naming one of them',
            Type.Array(Type.String()),
          ),
        },
        Strict,
      ),
    ),
    protocol: Type.Optional(ListenerProtocol),
    routeConfig: opt('route table for HTTP traffic', Type.String()),
    tcpCluster: opt(
      'cluster for opaque TCP traffic (and CONNECT in http-proxy mode when no route names one)',
      Type.String(),
    ),
    tcpWeightedClusters: opt(
      'opaque TCP: clusters chosen per connection by weight (VirtualService tcp/tls routes with several destinations, as Envoy tcp_proxy weighted_clusters); tcpCluster stays the fallback',
      Type.Array(
        Type.Object({ cluster: Type.String(), weight: Type.Integer({ minimum: 0, maximum: 1_000_000 }) }, Strict),
        { minItems: 1 },
      ),
    ),
    tls: opt(
      'inbound: require mutual TLS from peers (strict) or accept both (permissive)',
      Type.Union([Type.Literal('strict'), Type.Literal('permissive'), Type.Literal('disable')]),
    ),
    serverTls: opt('gateway: terminate TLS with these certificates, then serve `protocol` inside', ServerTls),
    rateLimit: opt(
      'inbound HTTP: token buckets on the requests this chain admits (Linkerd HTTPLocalRateLimitPolicy); over: 429 RL',
      RateLimit,
    ),
    edge: opt(
      'gateway: the first hop from outside; sets x-forwarded-proto from the connection (never the client) and appends the client to x-forwarded-for',
      Type.Boolean(),
    ),
  },
  Strict,
);

const Strings = Type.Optional(Type.Array(Type.String()));

/** Who calls (Istio AuthorizationPolicy `from.source`): fields ANDed, values within a field ORed. */
export const AuthzSource = Type.Object(
  {
    principals: Strings,
    notPrincipals: Strings,
    requestPrincipals: Strings,
    notRequestPrincipals: Strings,
    namespaces: Strings,
    notNamespaces: Strings,
    serviceAccounts: Strings,
    notServiceAccounts: Strings,
    trustDomains: Strings,
    notTrustDomains: Strings,
    ipBlocks: Strings,
    notIpBlocks: Strings,
    remoteIpBlocks: Strings,
    notRemoteIpBlocks: Strings,
  },
  Strict,
);

/** What is called (Istio `to.operation`); paths match the normalized path without the query. */
export const AuthzOperation = Type.Object(
  {
    hosts: Strings,
    notHosts: Strings,
    ports: Strings,
    notPorts: Strings,
    methods: Strings,
    notMethods: Strings,
    paths: Strings,
    notPaths: Strings,
  },
  Strict,
);

/** One rule: any `from` AND any `to` AND every `when`; an empty rule matches everything. */
export const AuthzRule = Type.Object(
  {
    from: Type.Optional(Type.Array(Type.Object({ source: Type.Optional(AuthzSource) }, Strict))),
    to: Type.Optional(Type.Array(Type.Object({ operation: Type.Optional(AuthzOperation) }, Strict))),
    when: Type.Optional(
      Type.Array(Type.Object({ key: Type.String({ minLength: 1 }), values: Strings, notValues: Strings }, Strict)),
    ),
  },
  Strict,
);

/** One authorization policy as the destination sidecar runs it (Istio's rule shape, compiled at config time). */
export const AuthzPolicy = Type.Object(
  {
    name: doc(
      '`ns[NS]-policy[NAME]`: shown, with `-rule[N]`, in the access log of a denied request',
      Type.String({ minLength: 1 }),
    ),
    action: Type.Union([Type.Literal('ALLOW'), Type.Literal('DENY'), Type.Literal('AUDIT')]),
    rules: doc(
      'ORed; none: the policy matches nothing (an ALLOW policy without rules denies all)',
      Type.Array(AuthzRule),
    ),
  },
  Strict,
);

/** One accepted JWT issuer (Istio RequestAuthentication jwtRules), keys inline. */
export const JwtRule = Type.Object(
  {
    issuer: Type.String({ minLength: 1 }),
    audiences: Strings,
    jwks: doc('the JSON Web Key Set (the control plane fetched jwksUri)', Type.String()),
    fromHeaders: Type.Optional(
      Type.Array(Type.Object({ name: Type.String({ minLength: 1 }), prefix: Type.Optional(Type.String()) }, Strict)),
    ),
    fromParams: Strings,
    fromCookies: Strings,
    forwardOriginalToken: Type.Optional(Type.Boolean()),
    outputPayloadToHeader: Type.Optional(Type.String()),
    outputClaimToHeaders: Type.Optional(
      Type.Array(Type.Object({ header: Type.String({ minLength: 1 }), claim: Type.String({ minLength: 1 }) }, Strict)),
    ),
    spaceDelimitedClaims: Strings,
    presence: opt(
      'REQUIRED: a request without a token is refused (401); OPTIONAL (default): it passes as anonymous',
      Type.Union([Type.Literal('OPTIONAL'), Type.Literal('REQUIRED')]),
    ),
  },
  Strict,
);

/** Request authentication and authorization of an inbound listener (Envoy's jwt_authn + RBAC filters). */
export const Authz = Type.Object(
  {
    policies: Type.Optional(Type.Array(AuthzPolicy)),
    jwtRules: Type.Optional(Type.Array(JwtRule)),
    destinationPort: opt(
      'the port rules see as destination.port (an explicit listener standing in for this app port)',
      Port,
    ),
    numTrustedProxies: opt(
      'X-Forwarded-For hops to trust when finding remote.ip (meshConfig numTrustedProxies)',
      Type.Integer({ minimum: 0 }),
    ),
  },
  Strict,
);

/** A listener: an address and port, a direction, a mode, and its filter chains. */
export const Listener = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    address: opt('bind address (default 127.0.0.1 for outbound, 0.0.0.0 for inbound)', Type.String()),
    port: Port,
    direction: Type.Union([Type.Literal('inbound'), Type.Literal('outbound')]),
    mode: opt(
      'explicit: clients connect here; http-proxy: HTTP_PROXY target (absolute-form and CONNECT); capture: redirected by iptables, original destination from SO_ORIGINAL_DST',
      Type.Union([Type.Literal('explicit'), Type.Literal('http-proxy'), Type.Literal('capture')]),
    ),
    detectTimeout: opt(
      'how long protocol detection waits for the first bytes before treating the connection as TCP (default 5s)',
      Duration,
    ),
    tcpIdleTimeout: opt(
      'connections proxied as TCP after detection found no HTTP close after this long with no bytes either way (default 1h, as Envoy tcp_proxy)',
      Duration,
    ),
    chains: Type.Array(FilterChain, { minItems: 1 }),
    authz: opt('inbound: JWT authentication and authorization policies, applied after mTLS, before the app', Authz),
  },
  Strict,
);

/** One endpoint of a cluster. */
export const Endpoint = Type.Object(
  {
    address: Type.String({ minLength: 1 }),
    port: Port,
    labels: opt('used by subsets and by telemetry (app, version, workload, namespace)', Labels),
    weight: Type.Optional(Type.Integer({ minimum: 1 })),
    identity: opt('expected SPIFFE ID of the peer sidecar (mTLS only)', Type.String({ pattern: '^spiffe://' })),
    tls: opt(
      'mutual: the endpoint is a sidecar speaking mTLS; disable: plaintext (default: the cluster setting)',
      Type.Union([Type.Literal('mutual'), Type.Literal('disable')]),
    ),
  },
  Strict,
);

/** Load balancing (Istio LoadBalancerSettings). */
export const LoadBalancer = Type.Object(
  {
    simple: Type.Optional(
      Type.Union([
        Type.Literal('ROUND_ROBIN'),
        Type.Literal('LEAST_REQUEST'),
        Type.Literal('LEAST_CONN'),
        Type.Literal('RANDOM'),
        Type.Literal('PASSTHROUGH'),
      ]),
    ),
    consistentHash: Type.Optional(
      Type.Object(
        {
          httpHeaderName: Type.Optional(Type.String()),
          httpCookie: Type.Optional(
            Type.Object(
              { name: Type.String(), path: Type.Optional(Type.String()), ttl: Type.Optional(Duration) },
              Strict,
            ),
          ),
          useSourceIp: Type.Optional(Type.Boolean()),
          httpQueryParameterName: Type.Optional(Type.String()),
        },
        { ...Strict, minProperties: 1, maxProperties: 1 },
      ),
    ),
  },
  { ...Strict, maxProperties: 1, description: 'exactly one of simple or consistentHash (default ROUND_ROBIN)' },
);

/** Connection pool limits (Istio ConnectionPoolSettings). Overflow answers 503 with flag UO. */
export const ConnectionPool = Type.Object(
  {
    tcp: Type.Optional(
      Type.Object(
        {
          maxConnections: Type.Optional(Type.Integer({ minimum: 1 })),
          connectTimeout: Type.Optional(Duration),
        },
        Strict,
      ),
    ),
    http: Type.Optional(
      Type.Object(
        {
          http1MaxPendingRequests: Type.Optional(Type.Integer({ minimum: 0 })),
          http2MaxRequests: Type.Optional(Type.Integer({ minimum: 1 })),
          maxRequestsPerConnection: Type.Optional(Type.Integer({ minimum: 0 })),
          maxRetries: Type.Optional(Type.Integer({ minimum: 0 })),
          idleTimeout: Type.Optional(Duration),
        },
        Strict,
      ),
    ),
  },
  Strict,
);

/** Outlier detection (Istio OutlierDetection). */
export const OutlierDetection = Type.Object(
  {
    consecutive5xxErrors: Type.Optional(Type.Integer({ minimum: 0 })),
    consecutiveGatewayErrors: Type.Optional(Type.Integer({ minimum: 0 })),
    consecutiveErrors: opt(
      'legacy Istio field: consecutive 502/503/504 (and connect failures)',
      Type.Integer({ minimum: 0 }),
    ),
    interval: Type.Optional(Duration),
    baseEjectionTime: Type.Optional(Duration),
    maxEjectionPercent: Type.Optional(Percent),
    minHealthPercent: opt(
      'below this share of healthy endpoints, ejections are ignored (panic mode); 0 disables',
      Percent,
    ),
  },
  Strict,
);

/** A cluster: a set of endpoints with its policies. */
export const Cluster = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    type: opt(
      'static: the endpoints listed (addresses may be DNS names, resolved at each new connection); originalDst: the original destination of the connection or proxy request',
      Type.Union([Type.Literal('static'), Type.Literal('originalDst')]),
    ),
    dnsResolution: opt(
      'endpoint addresses that are names are resolved by the proxy and re-resolved when the record TTL runs out: strict spreads connections over every address (Istio DNS, Envoy STRICT_DNS), logical uses the first (DNS_ROUND_ROBIN, LOGICAL_DNS); absent: the system resolver at each connection',
      Type.Union([Type.Literal('strict'), Type.Literal('logical')]),
    ),
    protocol: opt(
      'upstream protocol; auto = same as downstream (HTTP/1.1 stays HTTP/1.1)',
      Type.Union([Type.Literal('auto'), Type.Literal('http1'), Type.Literal('http2')]),
    ),
    service: opt('telemetry: the destination service (e.g. reviews.default.svc.cluster.local)', Type.String()),
    endpoints: Type.Optional(Type.Array(Endpoint)),
    subsets: Type.Optional(Type.Array(Type.Object({ name: Type.String({ minLength: 1 }), labels: Labels }, Strict))),
    loadBalancer: Type.Optional(LoadBalancer),
    connectionPool: Type.Optional(ConnectionPool),
    outlierDetection: Type.Optional(OutlierDetection),
    tls: opt(
      'mutual: mTLS to the endpoints with the proxy identity (ISTIO_MUTUAL); disable: plaintext',
      Type.Union([Type.Literal('mutual'), Type.Literal('disable')]),
    ),
    upstreamTls: opt(
      'TLS origination to endpoints outside the mesh (DestinationRule tls SIMPLE/MUTUAL); wins over tls',
      UpstreamTls,
    ),
    inboundPassthrough: opt(
      "originalDst only: the pod's own inbound side. IPv4 connections leave from 127.0.0.6 (which the capture rules never redirect, as Istio's InboundPassthroughCluster), IPv6 ones go to [::1]; without it a connection to the pod's own address would be captured again and loop",
      Type.Boolean(),
    ),
  },
  Strict,
);

/** Where the proxy's workload certificate comes from. */
export const Identity = Type.Object(
  {
    certChain: doc('PEM file: leaf certificate (URI SAN spiffe://...) then intermediates', Type.String()),
    privateKey: doc('PEM file of the private key (mode 0600)', Type.String()),
    trustRoots: doc('PEM file of the mesh root certificates', Type.String()),
  },
  Strict,
);

/** Where a custom span tag takes its value from: exactly one of literal, header, environment (Istio's CustomTag). */
const CustomTag = Type.Object(
  {
    literal: Type.Optional(Type.Object({ value: Type.String() }, Strict)),
    header: Type.Optional(
      Type.Object({ name: Type.String({ minLength: 1 }), defaultValue: Type.Optional(Type.String()) }, Strict),
    ),
    environment: Type.Optional(
      Type.Object({ name: Type.String({ minLength: 1 }), defaultValue: Type.Optional(Type.String()) }, Strict),
    ),
  },
  { ...Strict, minProperties: 1, maxProperties: 1, description: 'exactly one of literal, header, environment' },
);

/** A collector address: `host:port` (or `http://host:port/path`). */
const CollectorAddress = Type.String({ minLength: 1, maxLength: 2048, description: 'host:port, or an http:// URL' });

/**
 * Span export (one span per request per proxy, through a bounded queue that drops and counts when the collector is
 * slow or down). Without `tracing`, trace context is only propagated (new traces sampled).
 */
export const Tracing = doc(
  'span export: sampling and the collectors (Zipkin v2 JSON, OTLP/HTTP JSON)',
  Type.Object(
    {
      sampling: opt('percentage of new traces sampled (default 1, as Istio); an incoming sampled flag wins', Percent),
      zipkin: opt('Zipkin collector (POST /api/v2/spans)', Type.Object({ address: CollectorAddress }, Strict)),
      openTelemetry: opt(
        'OTLP/HTTP collector (POST /v1/traces, JSON)',
        Type.Object({ address: CollectorAddress, path: Type.Optional(Type.String({ pattern: '^/' })) }, Strict),
      ),
      customTags: opt('tag name -> where its value comes from', Type.Record(Type.String({ minLength: 1 }), CustomTag)),
      maxQueuedSpans: opt(
        'spans held for export before new ones are dropped (default 4096)',
        Type.Integer({ minimum: 1, maximum: 1_000_000 }),
      ),
    },
    Strict,
  ),
);

/** One metric's change on one side (Istio's merged Telemetry metrics overrides). */
const MetricOverride = Type.Object(
  {
    metric: Type.Union(ISTIO_METRIC_NAMES.map((m) => Type.Literal(m))),
    mode: doc(
      'CLIENT: the series this proxy reports as the source (outbound, gateways); SERVER: as the destination',
      Type.Union([Type.Literal('CLIENT'), Type.Literal('SERVER')]),
    ),
    disabled: opt('the metric is not produced on this side', Type.Boolean()),
    tags: opt(
      'label changes, applied in order: remove a label, or set one (new or standard) to a CEL expression',
      Type.Array(
        Type.Object(
          {
            name: Type.String({ pattern: '^[a-zA-Z_][a-zA-Z0-9_]*$', maxLength: 128 }),
            remove: Type.Optional(Type.Literal(true)),
            value: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
          },
          Strict,
        ),
        { maxItems: 64 },
      ),
    ),
  },
  Strict,
);

/** Which Istio metrics the proxy produces, and with which labels (Telemetry metrics, resolved per side). */
export const MetricsSettings = doc(
  'Istio metrics changes from the Telemetry kind; without it every standard metric has its standard labels',
  Type.Object(
    {
      disabled: opt('no Istio metric at all (no prometheus provider in scope)', Type.Boolean()),
      overrides: opt('per metric and side', Type.Array(MetricOverride, { maxItems: 16 })),
    },
    Strict,
  ),
);

/** The whole proxy config. */
export const ProxyConfig = Type.Object(
  {
    apiVersion: Type.Literal(PROXY_CONFIG_API_VERSION),
    version: opt('version of this config (shown by /config_dump and the config gauge)', Type.String()),
    node: opt(
      'who this proxy is: telemetry source/destination labels and sourceLabels matching',
      Type.Object(
        {
          id: Type.Optional(Type.String()),
          workload: Type.Optional(Type.String()),
          namespace: Type.Optional(Type.String()),
          cluster: Type.Optional(Type.String()),
          serviceAccount: Type.Optional(Type.String()),
          labels: Type.Optional(Labels),
        },
        Strict,
      ),
    ),
    identity: Type.Optional(Identity),
    admin: opt(
      'admin API, always bound to 127.0.0.1 (default port 15000)',
      Type.Object({ port: Type.Optional(Port) }, Strict),
    ),
    telemetry: opt(
      'telemetry port (default 15020), access log, tracing and metrics',
      Type.Object(
        {
          port: Type.Optional(Port),
          address: Type.Optional(Type.String()),
          accessLog: opt(
            'where access log lines go: stdout, stderr, off, or an absolute file path (opened 0600, appended)',
            Type.Union([
              Type.Literal('stdout'),
              Type.Literal('stderr'),
              Type.Literal('off'),
              Type.String({ pattern: '^/' }),
            ]),
          ),
          accessLogEncoding: opt(
            "JSON (one object per line, default) or TEXT (Envoy's default format)",
            Type.Union([Type.Literal('JSON'), Type.Literal('TEXT')]),
          ),
          accessLogFilter: opt(
            'log only requests this CEL subset selects (response.code >= 400, request.method == "POST", ...)',
            Type.String({ maxLength: 4096 }),
          ),
          tracing: Type.Optional(Tracing),
          metrics: Type.Optional(MetricsSettings),
          workloadLabels: opt(
            "the workload's labels as the control plane knows them (Kubernetes: the pod's): telemetry names the proxy by them (app, version, canonical service) where its bootstrap gave none",
            Labels,
          ),
        },
        Strict,
      ),
    ),
    drainPeriod: opt('how long SIGTERM waits for in-flight requests (default 5s)', Duration),
    listeners: Type.Array(Listener),
    routes: Type.Optional(Type.Array(RouteConfig)),
    clusters: Type.Optional(Type.Array(Cluster)),
  },
  Strict,
);

export type ProxyConfig = Static<typeof ProxyConfig>;
/** The span export settings of a proxy. */
export type TracingConfig = Static<typeof Tracing>;
/** The Istio metrics settings of a proxy. */
export type MetricsSettingsConfig = Static<typeof MetricsSettings>;
/** A custom span tag's source. */
export type CustomTagConfig = Static<typeof CustomTag>;
export type ListenerConfig = Static<typeof Listener>;
export type FilterChainConfig = Static<typeof FilterChain>;
export type RouteConfigConfig = Static<typeof RouteConfig>;
export type VirtualHostConfig = Static<typeof VirtualHost>;
export type RouteSpec = Static<typeof Route>;
export type RouteMatchConfig = Static<typeof RouteMatch>;
export type StringMatchConfig = Static<typeof StringMatch>;
export type HeaderMatchConfig = Static<typeof HeaderMatch>;
export type HeaderOperationsConfig = Static<typeof HeaderOperations>;
export type RetryPolicyConfig = Static<typeof RetryPolicy>;
export type FaultPolicyConfig = Static<typeof FaultPolicy>;
export type ClusterConfig = Static<typeof Cluster>;
export type EndpointConfig = Static<typeof Endpoint>;
export type LoadBalancerConfig = Static<typeof LoadBalancer>;
export type ConnectionPoolConfig = Static<typeof ConnectionPool>;
export type OutlierDetectionConfig = Static<typeof OutlierDetection>;
export type IdentityConfig = Static<typeof Identity>;
export type ServerTlsConfig = Static<typeof ServerTls>;
export type CorsPolicyConfig = Static<typeof CorsPolicy>;
export type UpstreamTlsConfig = Static<typeof UpstreamTls>;
export type AuthzConfig = Static<typeof Authz>;
/** Local rate limits of an inbound chain. */
export type RateLimitConfig = Static<typeof RateLimit>;
export type AuthzPolicyConfig = Static<typeof AuthzPolicy>;
export type AuthzRuleConfig = Static<typeof AuthzRule>;
export type JwtRuleConfig = Static<typeof JwtRule>;
