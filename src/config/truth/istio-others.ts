/**
 * What each field of the other Istio kinds does (see src/config/truth.ts for the format): Gateway,
 * ServiceEntry, Sidecar, PeerAuthentication, AuthorizationPolicy, RequestAuthentication.
 */
import { accepted, deprecated, enforced, exceptValues, truthTable } from '../truth.js';
import { NOT_TRANSLATED, TESTS as T } from './tests.js';

/** networking.istio.io Gateway: the listeners of the gateway proxies it selects. */
export const gatewayTruth = truthTable('networking.istio.io/Gateway', {
  selector: enforced(T.gateway),
  servers: enforced(T.gateway),
  'servers[].tls.mode': enforced(T.gateway, T.istioMutual),
  'servers[].tls.caCertificates': enforced(T.externalFields),
  'servers[].tls.serverCertificate': enforced(T.externalFields),
  'servers[].tls.privateKey': enforced(T.externalFields),
  'servers[].tls.subjectAltNames': enforced(T.externalFields),
  'servers[].tls.caCertCredentialName': enforced(T.externalFields),
});

/** networking.istio.io ServiceEntry: clusters and virtual hosts of the proxies that see it. */
export const serviceEntryTruth = truthTable('networking.istio.io/ServiceEntry', {
  hosts: enforced(T.serviceEntry, T.gateway),
  addresses: enforced(T.serviceEntryDns, T.l4Capture, T.l4Translate, T.chainMatch),
  ports: enforced(T.serviceEntry, T.gateway),
  location: enforced(T.serviceEntry),
  resolution: enforced(T.serviceEntry, T.gateway, T.serviceEntryDns),
  endpoints: enforced(T.serviceEntry, T.gateway),
  workloadSelector: enforced(T.externalFields),
  exportTo: enforced(T.externalFields),
});

/** networking.istio.io Sidecar. */
export const sidecarTruth = truthTable('networking.istio.io/Sidecar', {
  workloadSelector: enforced(T.sidecarScope),
  egress: enforced(T.sidecarScope),
  'egress[].port': accepted('egress hosts apply to every port'),
  outboundTrafficPolicy: enforced(T.serviceEntry),
});

/** security.istio.io PeerAuthentication. */
export const peerAuthenticationTruth = truthTable('security.istio.io/PeerAuthentication', {
  selector: enforced(T.translate),
  mtls: enforced(T.translate, T.security),
  portLevelMtls: enforced(T.translate),
});

const source = 'rules[].from[].source';
const operation = 'rules[].to[].operation';

/** security.istio.io AuthorizationPolicy: enforced in the destination sidecar (targetRef(s), provider: schema-marked). */
export const authorizationPolicyTruth = truthTable('security.istio.io/AuthorizationPolicy', {
  selector: enforced(T.e2eAuthz, T.authzScope),
  'selector.matchLabels': enforced(T.e2eAuthz),
  rules: enforced(T.authz, T.e2eAuthz),
  'rules[].from': enforced(T.authz, T.e2eAuthz),
  'rules[].from[].source': enforced(T.authz, T.e2eAuthz),
  ...Object.fromEntries(
    [
      'principals',
      'notPrincipals',
      'requestPrincipals',
      'notRequestPrincipals',
      'namespaces',
      'notNamespaces',
      'ipBlocks',
      'notIpBlocks',
      'remoteIpBlocks',
      'notRemoteIpBlocks',
      'serviceAccounts',
      'notServiceAccounts',
      'trustDomains',
      'notTrustDomains',
    ].map((f) => [`${source}.${f}`, enforced(T.authz)]),
  ),
  'rules[].to': enforced(T.authz, T.e2eAuthz),
  'rules[].to[].operation': enforced(T.authz, T.e2eAuthz),
  ...Object.fromEntries(
    ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'].map((f) => [
      `${operation}.${f}`,
      enforced(T.authz),
    ]),
  ),
  'rules[].when': enforced(T.authz),
  'rules[].when[].key': enforced(T.authz),
  'rules[].when[].values': enforced(T.authz),
  'rules[].when[].notValues': enforced(T.authz),
  action: exceptValues(enforced(T.authz, T.e2eAuthz), {
    CUSTOM: 'no external authorizer is run: the requests its rules match are denied (fail closed, 403)',
  }),
});

/** security.istio.io RequestAuthentication: JWTs verified in the destination sidecar, keys fetched by the control plane. */
export const requestAuthenticationTruth = truthTable('security.istio.io/RequestAuthentication', {
  selector: enforced(T.e2eAuthz, T.authzScope),
  'selector.matchLabels': enforced(T.e2eAuthz),
  jwtRules: enforced(T.authz, T.e2eAuthz),
  'jwtRules[].issuer': enforced(T.authz, T.e2eAuthz),
  'jwtRules[].audiences': enforced(T.authz),
  'jwtRules[].jwksUri': enforced(T.e2eAuthz, T.jwks, T.e2eJwksRefresh),
  'jwtRules[].jwks_uri': deprecated('jwksUri', T.authzScope),
  'jwtRules[].jwks': enforced(T.authz),
  'jwtRules[].fromHeaders': enforced(T.authz, T.e2eAuthz),
  'jwtRules[].fromHeaders[].name': enforced(T.authz),
  'jwtRules[].fromHeaders[].prefix': enforced(T.authz, T.e2eAuthz),
  'jwtRules[].fromParams': enforced(T.authz),
  'jwtRules[].fromCookies': enforced(T.authz),
  'jwtRules[].outputPayloadToHeader': enforced(T.authz),
  'jwtRules[].outputClaimToHeaders': enforced(T.authz),
  'jwtRules[].outputClaimToHeaders[].header': enforced(T.authz),
  'jwtRules[].outputClaimToHeaders[].claim': enforced(T.authz),
  'jwtRules[].forwardOriginalToken': enforced(T.authz),
  'jwtRules[].timeout': enforced(T.jwks),
  'jwtRules[].spaceDelimitedClaims': enforced(T.authz),
  'jwtRules[].presence': enforced(T.authz),
});

/** telemetry.istio.io Telemetry: tracing, access logging and metrics overrides reach the proxies. */
export const telemetryTruth = truthTable('telemetry.istio.io/Telemetry', {
  selector: enforced(T.telemetry),
  targetRef: accepted('waypoint/Gateway API targeting is not implemented; use selector'),
  tracing: enforced(T.telemetry),
  'tracing[].match': accepted('spans are reported on both sides (client and server)'),
  'tracing[].providers': enforced(T.telemetry),
  'tracing[].randomSamplingPercentage': enforced(T.telemetry),
  'tracing[].disableSpanReporting': enforced(T.telemetry),
  'tracing[].customTags': enforced(T.telemetry),
  'tracing[].customTags.<key>.formatter': accepted(
    'Envoy format strings are not evaluated; use literal, header or environment',
  ),
  'tracing[].useRequestIdForTraceSampling': accepted('sampling is random per new trace'),
  'tracing[].enableIstioTags': accepted('Istio tags are always added'),
  'tracing[].disableContextPropagation': accepted('trace context is always propagated'),
  accessLogging: enforced(T.telemetry),
  'accessLogging[].match': accepted('access logs are written on both sides'),
  'accessLogging[].providers': enforced(T.telemetry),
  'accessLogging[].disabled': enforced(T.telemetry),
  'accessLogging[].filter': enforced(T.telemetry),
  metrics: enforced(T.telemetry, T.metricsOverrides),
  'metrics[].overrides[].match.metric': exceptValues(enforced(T.telemetry, T.metricsOverrides), {
    GRPC_REQUEST_MESSAGES: 'the proxy does not count gRPC messages (no istio_request_messages_total)',
    GRPC_RESPONSE_MESSAGES: 'the proxy does not count gRPC messages (no istio_response_messages_total)',
  }),
  'metrics[].overrides[].match.customMetric': accepted(
    'meshctl produces only the Istio standard metrics: a custom metric name matches nothing',
  ),
  'metrics[].reportingInterval': accepted(
    'TCP metrics are recorded when a connection opens and closes, not on an interval',
  ),
});

/**
 * networking.istio.io WorkloadEntry: an endpoint of the Services and ServiceEntries (workloadSelector)
 * of its namespace that select its labels, on both platforms (src/control-plane/registry/workload-entries.ts).
 */
export const workloadEntryTruth = truthTable('networking.istio.io/WorkloadEntry', {
  address: enforced(T.workloadEntry, T.e2eWorkloadEntry),
  ports: enforced(T.workloadEntry),
  labels: enforced(T.workloadEntry, T.e2eWorkloadEntry),
  weight: enforced(T.workloadEntry, T.e2eWorkloadEntry),
  serviceAccount: enforced(T.workloadEntry),
  network: accepted('there is one network: every endpoint is dialled at its address (no east-west gateway)'),
  locality: accepted('load balancing is not locality-aware: the locality of an endpoint changes nothing'),
});

/**
 * networking.istio.io WorkloadGroup: on the local platform, what `meshctl run --workload-group NAME`
 * registers a member with (Istio's VM auto-registration); read by the run command, not a generator.
 */
export const workloadGroupTruth = truthTable('networking.istio.io/WorkloadGroup', {
  metadata: enforced(T.runWorkloadGroup),
  'metadata.labels': enforced(T.runWorkloadGroup),
  'metadata.annotations': accepted('members do not get the annotations (a `meshctl run --annotations` does)'),
  template: enforced(T.runWorkloadGroup),
  'template.address': accepted(
    "a member is at the address `meshctl run` gives it (`--address`), as Istio takes the registering proxy's",
  ),
  'template.network': accepted('there is one network: every endpoint is dialled at its address'),
  'template.locality': accepted('load balancing is not locality-aware: the locality of an endpoint changes nothing'),
  probe: accepted(
    'the probe is not run: `meshctl run` announces a member once its port accepts (or `--ready-path` answers)',
  ),
});
