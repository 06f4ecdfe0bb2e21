/**
 * What each field of the other Istio kinds does (see src/config/truth.ts for the format): Gateway,
 * ServiceEntry, Sidecar, PeerAuthentication, AuthorizationPolicy, RequestAuthentication.
 */
import { accepted, enforced, truthTable } from '../truth.js';
import { AUTHZ_TESTS, GATEWAY_TESTS, SERVICE_ENTRY_TESTS, TESTS as T } from './tests.js';

/**
 * networking.istio.io Gateway (issue 16): the kind as a whole is shown end to end; the fields it
 * does not honour carry `unsupported` markers in the schema, which count as their own entries.
 */
export const gatewayTruth = truthTable('networking.istio.io/Gateway', { '': enforced(...GATEWAY_TESTS) });

/** networking.istio.io ServiceEntry (issue 16); unsupported fields are marked in the schema. */
export const serviceEntryTruth = truthTable('networking.istio.io/ServiceEntry', { '': enforced(...SERVICE_ENTRY_TESTS) });

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

/** security.istio.io AuthorizationPolicy (issue 15); unsupported fields and values are marked in the schema. */
export const authorizationPolicyTruth = truthTable('security.istio.io/AuthorizationPolicy', { '': enforced(...AUTHZ_TESTS) });

/** security.istio.io RequestAuthentication (issue 15); unsupported fields are marked in the schema. */
export const requestAuthenticationTruth = truthTable('security.istio.io/RequestAuthentication', { '': enforced(...AUTHZ_TESTS) });
