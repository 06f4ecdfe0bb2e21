/**
 * What each field of the Linkerd and SMI kinds does (see src/config/truth.ts for the format).
 */
import { accepted, enforced, truthTable } from '../truth.js';
import { NOT_TRANSLATED, TESTS as T } from './tests.js';

/** linkerd.io ServiceProfile. */
export const serviceProfileTruth = truthTable('linkerd.io/ServiceProfile', {
  routes: enforced(T.translate, T.e2eResilience),
  'routes[].condition.not': accepted('a route with a negated condition is left out'),
  // Classification drives retries; metrics carry no success/failure classification label yet.
  'routes[].responseClasses': enforced(T.fields),
  retryBudget: enforced(T.translate, T.e2eResilience),
  dstOverrides: accepted('dstOverrides do not shift traffic; use a TrafficSplit or a VirtualService'),
  opaquePorts: accepted('protocol detection is not skipped on these ports'),
});

/** split.smi-spec.io TrafficSplit. */
export const trafficSplitTruth = truthTable('split.smi-spec.io/TrafficSplit', {
  service: enforced(T.translate, T.shifting),
  backends: enforced(T.translate, T.shifting),
});

const policy = accepted(NOT_TRANSLATED.linkerdPolicy);

/** policy.linkerd.io Server. */
export const serverTruth = truthTable('policy.linkerd.io/Server', { '': policy });

/** policy.linkerd.io ServerAuthorization. */
export const serverAuthorizationTruth = truthTable('policy.linkerd.io/ServerAuthorization', { '': policy });

/** policy.linkerd.io AuthorizationPolicy. */
export const linkerdAuthorizationPolicyTruth = truthTable('policy.linkerd.io/AuthorizationPolicy', { '': policy });

/** policy.linkerd.io MeshTLSAuthentication. */
export const meshTlsAuthenticationTruth = truthTable('policy.linkerd.io/MeshTLSAuthentication', { '': policy });

/** policy.linkerd.io NetworkAuthentication. */
export const networkAuthenticationTruth = truthTable('policy.linkerd.io/NetworkAuthentication', { '': policy });
