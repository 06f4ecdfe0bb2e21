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
  'servers[].tls.caCertificates': enforced(T.externalFields),
  'servers[].tls.serverCertificate': enforced(T.externalFields),
  'servers[].tls.privateKey': enforced(T.externalFields),
  'servers[].tls.subjectAltNames': enforced(T.externalFields),
  'servers[].tls.caCertCredentialName': enforced(T.externalFields),
});

/** networking.istio.io ServiceEntry: clusters and virtual hosts of the proxies that see it. */
export const serviceEntryTruth = truthTable('networking.istio.io/ServiceEntry', {
  hosts: enforced(T.serviceEntry, T.gateway),
  ports: enforced(T.serviceEntry, T.gateway),
  location: enforced(T.serviceEntry),
  resolution: enforced(T.serviceEntry, T.gateway),
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

/** security.istio.io AuthorizationPolicy: not sent to proxies yet. */
export const authorizationPolicyTruth = truthTable('security.istio.io/AuthorizationPolicy', { '': accepted(NOT_TRANSLATED.authz) });

/** security.istio.io RequestAuthentication: not sent to proxies yet. */
export const requestAuthenticationTruth = truthTable('security.istio.io/RequestAuthentication', { '': accepted(NOT_TRANSLATED.jwt) });
