/**
 * What each field of the Gateway API route kinds does for mesh routing (GAMMA: Service parents).
 * See src/config/truth.ts for the format.
 */
import { accepted, enforced, truthTable } from '../truth.js';
import { TESTS as T } from './tests.js';

const HOSTNAMES = 'ignored for Service parents (GAMMA routes match by the Service addressed, not by Host)';

/** What both kinds share: parents, backends, header filters, mirrors. */
const shared = {
  parentRefs: enforced(T.e2eGatewayApi, T.gatewayApi),
  'parentRefs[].sectionName': enforced(T.gatewayApi),
  'parentRefs[].port': enforced(T.gatewayApi),
  hostnames: accepted(HOSTNAMES),
  rules: enforced(T.e2eGatewayApi, T.gatewayApi),
  'rules[].name': enforced(T.gatewayApi),
  'rules[].matches': enforced(T.e2eGatewayApi, T.gatewayApi),
  'rules[].matches[].headers': enforced(T.e2eGatewayApi, T.gatewayApi),
  'rules[].filters': enforced(T.e2eGatewayApi, T.gatewayApi),
  'rules[].filters[].requestHeaderModifier': enforced(T.e2eGatewayApi, T.gatewayApi),
  'rules[].filters[].responseHeaderModifier': enforced(T.e2eGatewayApi, T.gatewayApi),
  'rules[].filters[].requestMirror': enforced(T.gatewayApi),
  'rules[].backendRefs': enforced(T.e2eGatewayApi, T.gatewayApi),
  'rules[].backendRefs[].weight': enforced(T.e2eGatewayApi, T.gatewayApi),
  'rules[].backendRefs[].filters': enforced(T.gatewayApi),
};

/** gateway.networking.k8s.io HTTPRoute. */
export const httpRouteTruth = truthTable('gateway.networking.k8s.io/HTTPRoute', {
  ...shared,
  'rules[].matches[].path': enforced(T.e2eGatewayApi, T.gatewayApi),
  'rules[].matches[].queryParams': enforced(T.gatewayApi),
  'rules[].matches[].method': enforced(T.gatewayApi),
  'rules[].filters[].requestRedirect': enforced(T.e2eGatewayApi, T.gatewayApi),
  'rules[].filters[].urlRewrite': enforced(T.e2eGatewayApi, T.gatewayApi),
  'rules[].backendRefs[].filters[].requestMirror': accepted('per-backend mirrors are not implemented'),
  'rules[].backendRefs[].filters[].requestRedirect': accepted('per-backend redirects are not implemented'),
  'rules[].backendRefs[].filters[].urlRewrite': accepted('per-backend rewrites are not implemented'),
  'rules[].filters[].cors': enforced(T.gatewayApi),
  'rules[].backendRefs[].filters[].cors': accepted('per-backend CORS is not implemented'),
  'rules[].timeouts': enforced(T.gatewayApi),
  'rules[].retry': enforced(T.gatewayApi),
});

/** gateway.networking.k8s.io GRPCRoute. */
export const grpcRouteTruth = truthTable('gateway.networking.k8s.io/GRPCRoute', {
  ...shared,
  'rules[].matches[].method': enforced(T.e2eGatewayApi, T.gatewayApi),
  'rules[].backendRefs[].filters[].requestMirror': accepted('per-backend mirrors are not implemented'),
});
