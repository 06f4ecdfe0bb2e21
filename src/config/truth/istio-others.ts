/**
 * What each field of the other Istio kinds does (see src/config/truth.ts for the format): Gateway,
 * ServiceEntry, Sidecar, PeerAuthentication, AuthorizationPolicy, RequestAuthentication.
 */
import { accepted, enforced, truthTable } from '../truth.js';
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

/** security.istio.io AuthorizationPolicy: not sent to proxies yet. */
export const authorizationPolicyTruth = truthTable('security.istio.io/AuthorizationPolicy', { '': accepted(NOT_TRANSLATED.authz) });

/** security.istio.io RequestAuthentication: not sent to proxies yet. */
export const requestAuthenticationTruth = truthTable('security.istio.io/RequestAuthentication', { '': accepted(NOT_TRANSLATED.jwt) });
