/**
 * What each field of the Linkerd and SMI kinds does (see src/config/truth.ts for the format).
 */
import { accepted, enforced, truthTable } from '../truth.js';
import { NOT_TRANSLATED, TESTS as T } from './tests.js';

/** linkerd.io ServiceProfile. */
export const serviceProfileTruth = truthTable('linkerd.io/ServiceProfile', {
  routes: enforced(T.translate, T.e2eResilience),
  // The matched route's name is the `route` label of the proxy's HTTP series (Linkerd's rt_route).
  'routes[].name': enforced(T.e2eServiceProfile, T.metrics),
  'routes[].condition.not': accepted('a route with a negated condition is left out'),
  // Classification drives retries; metrics carry no success/failure classification label yet.
  'routes[].responseClasses': enforced(T.fields),
  retryBudget: enforced(T.translate, T.e2eResilience),
  // A TrafficSplit of the same service wins, as in Linkerd.
  dstOverrides: enforced(T.e2eServiceProfile, T.fields),
  opaquePorts: accepted('protocol detection is not skipped on these ports'),
});

/** split.smi-spec.io TrafficSplit. */
export const trafficSplitTruth = truthTable('split.smi-spec.io/TrafficSplit', {
  service: enforced(T.translate, T.shifting),
  backends: enforced(T.translate, T.shifting),
});

/** policy.linkerd.io Server: its port denies what no authorization (or its accessPolicy) allows. */
export const serverTruth = truthTable('policy.linkerd.io/Server', {
  podSelector: enforced(T.e2eLinkerdPolicy, T.linkerdPolicy),
  'podSelector.matchLabels': enforced(T.e2eLinkerdPolicy),
  'podSelector.matchExpressions': enforced(T.linkerdPolicy),
  port: enforced(T.e2eLinkerdPolicy, T.linkerdPolicy),
  proxyProtocol: enforced(T.e2eLinkerdProxyProtocol),
  accessPolicy: enforced(T.e2eLinkerdPolicy),
});

/** policy.linkerd.io ServerAuthorization. */
export const serverAuthorizationTruth = truthTable('policy.linkerd.io/ServerAuthorization', {
  server: enforced(T.e2eLinkerdPolicy, T.linkerdPolicy),
  'server.name': enforced(T.e2eLinkerdPolicy),
  'server.selector': enforced(T.linkerdPolicy),
  client: enforced(T.e2eLinkerdPolicy, T.linkerdPolicy),
  'client.networks': enforced(T.linkerdPolicy),
  'client.networks[].cidr': enforced(T.linkerdPolicy),
  'client.networks[].except': enforced(T.linkerdPolicy),
  'client.unauthenticated': enforced(T.linkerdPolicy),
  'client.meshTLS': enforced(T.e2eLinkerdPolicy, T.linkerdPolicy),
  'client.meshTLS.unauthenticatedTLS': enforced(T.linkerdPolicy),
  'client.meshTLS.identities': enforced(T.linkerdPolicy),
  'client.meshTLS.serviceAccounts': enforced(T.e2eLinkerdPolicy),
});

/** policy.linkerd.io AuthorizationPolicy: Server and Namespace targets (an HTTPRoute target authorizes nothing). */
export const linkerdAuthorizationPolicyTruth = truthTable('policy.linkerd.io/AuthorizationPolicy', {
  targetRef: enforced(T.e2eLinkerdPolicy, T.linkerdPolicy),
  requiredAuthenticationRefs: enforced(T.e2eLinkerdPolicy, T.linkerdPolicy),
});

/** policy.linkerd.io MeshTLSAuthentication. */
export const meshTlsAuthenticationTruth = truthTable('policy.linkerd.io/MeshTLSAuthentication', {
  identities: enforced(T.e2eLinkerdPolicy, T.linkerdPolicy),
  identityRefs: enforced(T.e2eLinkerdPolicy, T.linkerdPolicy),
});

/** policy.linkerd.io NetworkAuthentication. */
export const networkAuthenticationTruth = truthTable('policy.linkerd.io/NetworkAuthentication', {
  networks: enforced(T.linkerdPolicy),
  'networks[].cidr': enforced(T.linkerdPolicy),
  'networks[].except': enforced(T.linkerdPolicy),
});

/** policy.linkerd.io HTTPLocalRateLimitPolicy: token buckets on the targeted Server's inbound HTTP chain. */
export const httpLocalRateLimitPolicyTruth = truthTable('policy.linkerd.io/HTTPLocalRateLimitPolicy', {
  targetRef: enforced(T.e2eRateLimit, T.rateLimit),
  total: enforced(T.e2eRateLimit, T.rateLimit),
  'total.requestsPerSecond': enforced(T.e2eRateLimit),
  identity: enforced(T.e2eRateLimit, T.rateLimit),
  'identity.requestsPerSecond': enforced(T.e2eRateLimit),
  overrides: enforced(T.e2eRateLimit, T.rateLimit),
  'overrides[].requestsPerSecond': enforced(T.e2eRateLimit),
  'overrides[].clientRefs': enforced(T.e2eRateLimit, T.rateLimit),
});
