/**
 * The kind registry: every mesh kind meshctl understands (one schema each), and the core
 * Kubernetes kinds it reads. Lookup by apiVersion and kind tells a caller what an object is, or why
 * it is not one meshctl knows.
 */
import { CORE_KINDS, type CoreKind } from './kinds/core.js';
import type { KindDefinition } from './kind.js';
import { authorizationPolicyKind } from './kinds/authorization-policy.js';
import { destinationRuleKind } from './kinds/destination-rule.js';
import { gatewayKind } from './kinds/gateway.js';
import { grpcRouteKind, httpRouteKind } from './kinds/gateway-api.js';
import {
  linkerdAuthorizationPolicyKind,
  meshTlsAuthenticationKind,
  networkAuthenticationKind,
  serverAuthorizationKind,
  serverKind,
} from './kinds/linkerd-policy.js';
import { httpLocalRateLimitPolicyKind } from './kinds/linkerd-rate-limit.js';
import { peerAuthenticationKind } from './kinds/peer-authentication.js';
import { requestAuthenticationKind } from './kinds/request-authentication.js';
import { serviceEntryKind } from './kinds/service-entry.js';
import { serviceProfileKind } from './kinds/service-profile.js';
import { sidecarKind } from './kinds/sidecar.js';
import { telemetryKind } from './kinds/telemetry.js';
import { trafficSplitKind } from './kinds/traffic-split.js';
import { virtualServiceKind } from './kinds/virtual-service.js';
import { workloadEntryKind, workloadGroupKind } from './kinds/workload-entry.js';

/** Every mesh kind, in the order the README and the CRD directory list them. */
export const MESH_KINDS: readonly KindDefinition[] = [
  virtualServiceKind,
  destinationRuleKind,
  gatewayKind,
  serviceEntryKind,
  sidecarKind,
  peerAuthenticationKind,
  authorizationPolicyKind,
  requestAuthenticationKind,
  telemetryKind,
  workloadEntryKind,
  workloadGroupKind,
  serviceProfileKind,
  trafficSplitKind,
  serverKind,
  serverAuthorizationKind,
  linkerdAuthorizationPolicyKind,
  meshTlsAuthenticationKind,
  networkAuthenticationKind,
  httpLocalRateLimitPolicyKind,
  httpRouteKind,
  grpcRouteKind,
] as unknown as KindDefinition[];

/** Splits `group/version` (or the core `v1`) into its parts. */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.lastIndexOf('/');
  return i < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

/** What an apiVersion + kind resolved to. */
export type KindLookup =
  | { type: 'mesh'; def: KindDefinition; version: string; wrongGroup?: string }
  | { type: 'core'; core: CoreKind }
  | { type: 'bad-version'; def: KindDefinition; version: string }
  | { type: 'unknown' };

/** Resolves an apiVersion and kind to a mesh kind, a core kind, or nothing known. */
export function lookupKind(apiVersion: string, kind: string): KindLookup {
  const { group, version } = splitApiVersion(apiVersion);
  const def = MESH_KINDS.find((k) => k.group === group && k.kind === kind);
  if (def)
    return def.versions.includes(version) ? { type: 'mesh', def, version } : { type: 'bad-version', def, version };
  const core = CORE_KINDS.find((k) => k.group === group && k.kind === kind);
  if (core) return { type: 'core', core };
  // A kind of one Istio group written with the other Istio group's apiVersion (as in
  // `security.istio.io/v1beta1` + DestinationRule): unambiguous, so read it as meant, with a warning.
  if (group.endsWith('.istio.io')) {
    const sibling = MESH_KINDS.find((k) => k.family === 'istio' && k.kind === kind);
    if (sibling)
      return {
        type: 'mesh',
        def: sibling,
        version: sibling.versions.includes(version) ? version : sibling.storageVersion,
        wrongGroup: group,
      };
  }
  return { type: 'unknown' };
}

/** Finds a mesh kind by kind name, plural or short name (case-insensitive), as `meshctl get` takes it. */
export function findKindByName(name: string): KindDefinition[] {
  const n = name.toLowerCase();
  return MESH_KINDS.filter(
    (k) =>
      k.kind.toLowerCase() === n ||
      k.plural === n ||
      k.singular === n ||
      k.shortNames.includes(n) ||
      `${k.plural}.${k.group}` === n,
  );
}
