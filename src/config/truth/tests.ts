/** The test files the truth tables cite, by what they show (paths from the repository root). */
export const TESTS = {
  /** mesh config -> proxy config, the seed's examples. */
  translate: 'test/translate/translate.test.ts',
  /** mesh config fields -> proxy config, one field at a time. */
  fields: 'test/translate/fields.test.ts',
  /** the proxy's router on real sockets: matches, redirects, rewrites, header edits. */
  routing: 'test/proxy-runtime/http/routing.test.ts',
  /** the proxy's retries, timeouts, faults, mirrors on real sockets. */
  resilience: 'test/proxy-runtime/http/resilience.test.ts',
  /** the proxy's clusters on real sockets: balancers, pools, outlier detection. */
  clusters: 'test/proxy-runtime/clusters/clusters.test.ts',
  /** the proxy's HTTP_PROXY mode and original-destination (PASSTHROUGH) clusters on real sockets. */
  proxyMode: 'test/proxy-runtime/protocols/tcp-and-proxy-mode.test.ts',
  /** the local mesh end to end: canaries, header routes, mirroring, TrafficSplit. */
  shifting: 'test/e2e/traffic-shifting.test.ts',
  /** the local mesh end to end: retries, timeouts, faults, circuit breaking, ServiceProfile. */
  e2eResilience: 'test/e2e/resilience.test.ts',
  /** the local mesh end to end: mTLS modes. */
  security: 'test/e2e/security.test.ts',
  /** Sidecar scoping of what a proxy sees. */
  sidecarScope: 'test/control-plane/sidecar-scope.test.ts',
} as const;

/** Gateways from Gateway resources, end to end on the local mesh. */
export const GATEWAY_TESTS = ['test/e2e/gateway.test.ts'];
/** ServiceEntry hosts, end to end on the local mesh. */
export const SERVICE_ENTRY_TESTS = ['test/e2e/service-entry.test.ts'];
/** AuthorizationPolicy and RequestAuthentication, on traffic (proxy) and end to end. */
export const AUTHZ_TESTS = ['test/e2e/authorization.test.ts', 'test/proxy-runtime/http/authz/authz.test.ts'];
/** Linkerd Server and authorization policies, end to end. */
export const LINKERD_POLICY_TESTS = ['test/e2e/linkerd-policy.test.ts'];

/** Why a kind no generator reads yet has no effect (each names the issue that implements it). */
export const NOT_TRANSLATED = {
  cors: 'CORS is not applied by the proxy yet (issue 16)',
  tlsRoutes: 'TLS (SNI) routes are applied by gateways only; sidecars do not route by SNI yet (issue 16)',
  tcpRoutes: 'TCP routes are applied by gateways only; sidecars do not apply them yet (issue 16)',
} as const;
