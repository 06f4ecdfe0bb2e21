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
  /** the local mesh end to end: canaries, header routes, mirroring, TrafficSplit. */
  shifting: 'test/e2e/traffic-shifting.test.ts',
  /** the local mesh end to end: retries, timeouts, faults, circuit breaking, ServiceProfile. */
  e2eResilience: 'test/e2e/resilience.test.ts',
  /** the local mesh end to end: mTLS modes. */
  security: 'test/e2e/security.test.ts',
  /** Sidecar scoping of what a proxy sees. */
  sidecarScope: 'test/control-plane/sidecar-scope.test.ts',
  /** Telemetry (and MeshConfig) -> the proxies' tracing and access log settings, scoped mesh/namespace/workload. */
  telemetry: 'test/control-plane/generators/telemetry.test.ts',
} as const;

/** Why a kind no generator reads yet has no effect (each names the issue that implements it). */
export const NOT_TRANSLATED = {
  authz: 'the control plane does not send authorization policies to proxies yet (issue 15): nothing is enforced',
  jwt: 'the control plane does not send request authentication to proxies yet (issue 15): tokens are not checked',
  gateway: 'gateways are not configured from Gateway resources yet (issue 16)',
  serviceEntry: 'ServiceEntry hosts are not added to the proxies yet (issue 16)',
  linkerdPolicy: 'Linkerd policy resources are not sent to proxies yet (issue 15): nothing is enforced',
  cors: 'CORS is not applied by the proxy yet (issue 16)',
  tlsRoutes: 'TLS (SNI) routes are not applied by the proxy yet (issue 16)',
  tcpRoutes: 'TCP routes are not applied by the proxy yet (issue 16)',
} as const;
