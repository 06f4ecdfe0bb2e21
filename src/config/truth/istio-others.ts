/**
 * What each field of the other Istio kinds does (see src/config/truth.ts for the format): Gateway,
 * ServiceEntry, Sidecar, PeerAuthentication, AuthorizationPolicy, RequestAuthentication.
 */
import { accepted, enforced, truthTable } from '../truth.js';
import { NOT_TRANSLATED, TESTS as T } from './tests.js';

/** networking.istio.io Gateway: not read by the control plane yet. */
export const gatewayTruth = truthTable('networking.istio.io/Gateway', { '': accepted(NOT_TRANSLATED.gateway) });

/** networking.istio.io ServiceEntry: not read by the control plane yet. */
export const serviceEntryTruth = truthTable('networking.istio.io/ServiceEntry', { '': accepted(NOT_TRANSLATED.serviceEntry) });

/** networking.istio.io Sidecar. */
export const sidecarTruth = truthTable('networking.istio.io/Sidecar', {
  workloadSelector: enforced(T.sidecarScope),
  egress: enforced(T.sidecarScope),
  'egress[].port': accepted('egress hosts apply to every port'),
  outboundTrafficPolicy: accepted('REGISTRY_ONLY/ALLOW_ANY is set at install time, not per Sidecar'),
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
