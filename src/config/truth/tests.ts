/** The test files the truth tables cite, by what they show (paths from the repository root). */
export const TESTS = {
  /** mesh config -> proxy config, the seed's examples. */
  translate: 'test/control-plane/translate/translate.test.ts',
  /** mesh config fields -> proxy config, one field at a time. */
  fields: 'test/control-plane/translate/fields.test.ts',
  /** the proxy's router on real sockets: matches, redirects, rewrites, header edits. */
  routing: 'test/proxy-runtime/http/routing.test.ts',
  /** the proxy's retries, timeouts, faults, mirrors on real sockets. */
  resilience: 'test/proxy-runtime/http/resilience.test.ts',
  /** the proxy's clusters on real sockets: balancers, pools, outlier detection. */
  clusters: 'test/proxy-runtime/upstream/clusters.test.ts',
  /** the local mesh end to end: canaries, header routes, mirroring, TrafficSplit. */
  shifting: 'test/e2e/traffic-shifting.test.ts',
  /** the local mesh end to end: retries, timeouts, faults, circuit breaking, ServiceProfile. */
  e2eResilience: 'test/e2e/resilience.test.ts',
  /** the local mesh end to end: mTLS modes. */
  security: 'test/e2e/security.test.ts',
  /** authorization and JWT rules in the destination sidecar, on real sockets between sidecars with SPIFFE identities. */
  authz: 'test/proxy-runtime/http/authz/authz.test.ts',
  /** the seed's AuthorizationPolicies and RequestAuthentication on the local mesh, issuer keys over HTTPS. */
  e2eAuthz: 'test/e2e/authorization.test.ts',
  /** which policies reach which workload, and in what form. */
  authzScope: 'test/control-plane/translate/authorization.test.ts',
  /** the control plane's JWKS fetching (HTTPS, refresh, unknown kid, issuer down). */
  jwks: 'test/control-plane/jwks/jwks-cache.test.ts',
  /** a key rotation reaching the sidecar through an unknown kid on the local mesh, issuer down keeps the keys. */
  e2eJwksRefresh: 'test/e2e/jwks-refresh.test.ts',
  /** Linkerd policy kinds on the local mesh, emojivoto style. */
  e2eLinkerdPolicy: 'test/e2e/linkerd-policy.test.ts',
  /** Linkerd's default inbound policy on the local mesh: install default and annotation, every value. */
  e2eLinkerdDefaultPolicy: 'test/e2e/linkerd-default-policy.test.ts',
  /** A Linkerd Server's proxyProtocol on the local mesh: HTTP/1 parsed, opaque and TLS never parsed (L4 rules only). */
  e2eLinkerdProxyProtocol: 'test/e2e/linkerd-proxy-protocol.test.ts',
  /** Linkerd policy kinds -> sidecar policies, field by field. */
  linkerdPolicy: 'test/control-plane/translate/linkerd-authorization.test.ts',
  /** the proxy's HTTP_PROXY mode and original-destination (PASSTHROUGH) clusters on real sockets. */
  proxyMode: 'test/proxy-runtime/downstream/tcp-and-proxy-mode.test.ts',
  /** Linkerd HTTPLocalRateLimitPolicy on the local mesh: rates measured under load, per identity, overrides. */
  e2eRateLimit: 'test/e2e/rate-limit.test.ts',
  /** HTTPLocalRateLimitPolicy -> the rate limit of the Server's inbound chain. */
  rateLimit: 'test/control-plane/translate/linkerd-rate-limit.test.ts',
  /** Sidecar scoping of what a proxy sees. */
  sidecarScope: 'test/control-plane/translate/sidecar-scope.test.ts',
  /** Gateways on the local mesh with curl and openssl: HTTPS, MUTUAL, SNI, PASSTHROUGH, TCP, redirect, CORS, rotation. */
  gateway: 'test/e2e/gateway.test.ts',
  /** ServiceEntry, outbound traffic policy, TLS origination and the egress gateway on the local mesh. */
  serviceEntry: 'test/e2e/service-entry.test.ts',
  /** VirtualService tcp/tls routes at sidecars on the local mesh: weighted splits, sourceLabels, port, gateways, SNI. */
  l4Routes: 'test/e2e/l4-routes.test.ts',
  /** VirtualService tcp/tls routes -> filter chains: per VIP, destinationSubnets, sourceNamespace, weights at gateways. */
  l4Translate: 'test/control-plane/translate/l4-routes.test.ts',
  /** the proxy's capture listener on real sockets: chains by destination port, address, subnets, node labels, weights. */
  chainMatch: 'test/proxy-runtime/listeners/capture.test.ts',
  /** `meshctl run --transparent` in network namespaces: tcp routes by VIP (weights, sourceLabels), a ServiceEntry CIDR. */
  l4Capture: 'test/netns/run-transparent-l4.test.ts',
  /** ServiceEntry addresses and DNS resolution with the record TTL on the local mesh, against a DNS server on loopback. */
  serviceEntryDns: 'test/e2e/service-entry-dns.test.ts',
  /** ISTIO_MUTUAL with curl and openssl: at a Gateway server, and in a DestinationRule towards a meshed service under STRICT. */
  istioMutual: 'test/e2e/istio-mutual.test.ts',
  /** ServiceEntry and Gateway TLS fields -> proxy config, one at a time. */
  externalFields: 'test/control-plane/translate/service-entry.test.ts',
  /** WorkloadEntries -> endpoints of Services and ServiceEntries: selection, ports, weight, mTLS. */
  workloadEntry: 'test/control-plane/registry/workload-entries.test.ts',
  /** A plain server described by WorkloadEntries on the local mesh: reached, weighted, removed without a failed request. */
  e2eWorkloadEntry: 'test/e2e/workload-entry.test.ts',
  /** `meshctl run --workload-group`: a member gets the group's labels, identity, port and weight, on real traffic. */
  runWorkloadGroup: 'test/commands/run-workload-group.test.ts',
  /** Linkerd ServiceProfile on the local mesh: dstOverrides counted per destination, per-route metrics scraped. */
  e2eServiceProfile: 'test/e2e/service-profile.test.ts',
  /** the proxy's Istio metrics, access log and trace propagation on real sockets. */
  metrics: 'test/proxy-runtime/telemetry/telemetry.test.ts',
  /** Telemetry (and MeshConfig) -> the proxies' tracing and access log settings, scoped mesh/namespace/workload. */
  telemetry: 'test/control-plane/generators/telemetry.test.ts',
  /** Telemetry metrics overrides on a live local mesh, scraped by a real Prometheus: disabled, removed and upserted tags. */
  metricsOverrides: 'test/observability/metrics-overrides.test.ts',
  /** Gateway API HTTPRoute/GRPCRoute with Service parents (GAMMA) -> sidecar routes, field by field. */
  gatewayApi: 'test/control-plane/translate/gateway-api.test.ts',
  /** GAMMA routes on the local mesh: weighted split, header match, redirect, rewrite, a gRPC method match. */
  e2eGatewayApi: 'test/e2e/gateway-api-routes.test.ts',
} as const;

/** Why a kind no generator reads yet has no effect (each names the issue that implements it). */
export const NOT_TRANSLATED = {} as const;
