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
  'servers[].tls.caCertificates': accepted('file paths are read in the gateway proxy; only credentialName (a Secret) is tested'),
  'servers[].tls.serverCertificate': accepted('file paths are read in the gateway proxy; only credentialName (a Secret) is tested'),
  'servers[].tls.privateKey': accepted('file paths are read in the gateway proxy; only credentialName (a Secret) is tested'),
  'servers[].tls.subjectAltNames': accepted('client certificate SANs are checked but not covered by a test yet'),
  'servers[].tls.caCertCredentialName': accepted('read, but not covered by a test yet'),
});

/** networking.istio.io ServiceEntry: clusters and virtual hosts of the proxies that see it. */
export const serviceEntryTruth = truthTable('networking.istio.io/ServiceEntry', {
  hosts: enforced(T.serviceEntry, T.gateway),
  ports: enforced(T.serviceEntry, T.gateway),
  location: enforced(T.serviceEntry),
  resolution: enforced(T.serviceEntry, T.gateway),
  endpoints: enforced(T.serviceEntry, T.gateway),
  workloadSelector: accepted('endpoints from a workloadSelector are generated but not covered by a test yet'),
  exportTo: accepted('exportTo is applied but not covered by a test yet'),
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
    ['principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks', 'remoteIpBlocks', 'notRemoteIpBlocks', 'serviceAccounts', 'notServiceAccounts', 'trustDomains', 'notTrustDomains'].map(
      (f) => [`${source}.${f}`, enforced(T.authz)],
    ),
  ),
  'rules[].to': enforced(T.authz, T.e2eAuthz),
  'rules[].to[].operation': enforced(T.authz, T.e2eAuthz),
  ...Object.fromEntries(['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'].map((f) => [`${operation}.${f}`, enforced(T.authz)])),
  'rules[].when': enforced(T.authz),
  'rules[].when[].key': enforced(T.authz),
  'rules[].when[].values': enforced(T.authz),
  'rules[].when[].notValues': enforced(T.authz),
  action: exceptValues(enforced(T.authz, T.e2eAuthz), { CUSTOM: 'external authorization is not run: the policy is skipped' }),
});

/** security.istio.io RequestAuthentication: JWTs verified in the destination sidecar, keys fetched by the control plane. */
export const requestAuthenticationTruth = truthTable('security.istio.io/RequestAuthentication', {
  selector: enforced(T.e2eAuthz, T.authzScope),
  'selector.matchLabels': enforced(T.e2eAuthz),
  jwtRules: enforced(T.authz, T.e2eAuthz),
  'jwtRules[].issuer': enforced(T.authz, T.e2eAuthz),
  'jwtRules[].audiences': enforced(T.authz),
  'jwtRules[].jwksUri': enforced(T.e2eAuthz, T.jwks),
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
