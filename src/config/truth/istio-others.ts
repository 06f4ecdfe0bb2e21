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

/** telemetry.istio.io Telemetry: tracing and access logging reach the proxies; metrics stay Istio's defaults. */
export const telemetryTruth = truthTable('telemetry.istio.io/Telemetry', {
  selector: enforced(T.telemetry),
  targetRef: accepted('waypoint/Gateway API targeting is not implemented; use selector'),
  tracing: enforced(T.telemetry),
  'tracing[].match': accepted('spans are reported on both sides (client and server)'),
  'tracing[].providers': enforced(T.telemetry),
  'tracing[].randomSamplingPercentage': enforced(T.telemetry),
  'tracing[].disableSpanReporting': enforced(T.telemetry),
  'tracing[].customTags': enforced(T.telemetry),
  'tracing[].customTags.<key>.formatter': accepted('Envoy format strings are not evaluated; use literal, header or environment'),
  'tracing[].useRequestIdForTraceSampling': accepted('sampling is random per new trace'),
  'tracing[].enableIstioTags': accepted('Istio tags are always added'),
  'tracing[].disableContextPropagation': accepted('trace context is always propagated'),
  accessLogging: enforced(T.telemetry),
  'accessLogging[].match': accepted('access logs are written on both sides'),
  'accessLogging[].providers': enforced(T.telemetry),
  'accessLogging[].disabled': enforced(T.telemetry),
  'accessLogging[].filter': enforced(T.telemetry),
  metrics: accepted('metric overrides are not applied: the Istio standard metrics are always produced'),
});
