/**
 * The TypeScript types of every mesh kind, for the control plane and the analyzers. Each is the
 * Static<> of the kind's TypeBox schema wrapped in the Kubernetes envelope.
 */
import type { AuthorizationPolicy } from './kinds/authorization-policy.js';
import type { DestinationRule } from './kinds/destination-rule.js';
import type { Gateway } from './kinds/gateway.js';
import type { GatewayHTTPRoute, GRPCRoute } from './kinds/gateway-api.js';
import type {
  LinkerdAuthorizationPolicy,
  MeshTLSAuthentication,
  NetworkAuthentication,
  Server,
  ServerAuthorization,
} from './kinds/linkerd-policy.js';
import type { HTTPLocalRateLimitPolicy } from './kinds/linkerd-rate-limit.js';
import type { PeerAuthentication } from './kinds/peer-authentication.js';
import type { RequestAuthentication } from './kinds/request-authentication.js';
import type { ServiceEntry } from './kinds/service-entry.js';
import type { ServiceProfile } from './kinds/service-profile.js';
import type { Sidecar } from './kinds/sidecar.js';
import type { Telemetry } from './kinds/telemetry.js';
import type { TrafficSplit } from './kinds/traffic-split.js';
import type { VirtualService } from './kinds/virtual-service.js';
import type { WorkloadEntry, WorkloadGroup } from './kinds/workload-entry.js';

export type {
  AuthorizationPolicy,
  DestinationRule,
  Gateway,
  GatewayHTTPRoute,
  GRPCRoute,
  HTTPLocalRateLimitPolicy,
  LinkerdAuthorizationPolicy,
  MeshTLSAuthentication,
  NetworkAuthentication,
  PeerAuthentication,
  RequestAuthentication,
  Server,
  ServerAuthorization,
  ServiceEntry,
  ServiceProfile,
  Sidecar,
  Telemetry,
  TrafficSplit,
  VirtualService,
  WorkloadEntry,
  WorkloadGroup,
};

/** Any validated mesh resource. Discriminate on `kind` (and the apiVersion group for AuthorizationPolicy). */
export type MeshResource =
  | VirtualService
  | DestinationRule
  | Gateway
  | ServiceEntry
  | Sidecar
  | PeerAuthentication
  | AuthorizationPolicy
  | RequestAuthentication
  | Telemetry
  | ServiceProfile
  | TrafficSplit
  | Server
  | ServerAuthorization
  | LinkerdAuthorizationPolicy
  | MeshTLSAuthentication
  | NetworkAuthentication
  | HTTPLocalRateLimitPolicy
  | GatewayHTTPRoute
  | GRPCRoute
  | WorkloadEntry
  | WorkloadGroup;

/** Whether an AuthorizationPolicy is Linkerd's (policy.linkerd.io) rather than Istio's. */
export function isLinkerdAuthorizationPolicy(r: MeshResource): r is LinkerdAuthorizationPolicy {
  return r.kind === 'AuthorizationPolicy' && r.apiVersion.startsWith('policy.linkerd.io/');
}
