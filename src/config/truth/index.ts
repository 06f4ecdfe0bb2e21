/**
 * Every kind's truth table (what each field really does), looked up by kind. To add or change an
 * entry, edit the kind's file here; test/config/truth.test.ts checks the tables against the schemas.
 */
import type { KindDefinition } from '../kind.js';
import { schemaTruth, type FieldTruth, type TruthTable } from '../truth.js';
import { destinationRuleTruth } from './destination-rule.js';
import {
  authorizationPolicyTruth,
  gatewayTruth,
  peerAuthenticationTruth,
  requestAuthenticationTruth,
  serviceEntryTruth,
  sidecarTruth,
  telemetryTruth,
  workloadEntryTruth,
  workloadGroupTruth,
} from './istio-others.js';
import {
  httpLocalRateLimitPolicyTruth,
  linkerdAuthorizationPolicyTruth,
  meshTlsAuthenticationTruth,
  networkAuthenticationTruth,
  serverAuthorizationTruth,
  serverTruth,
  serviceProfileTruth,
  trafficSplitTruth,
} from './linkerd.js';
import { virtualServiceTruth } from './virtual-service.js';
import { grpcRouteTruth, httpRouteTruth } from './gateway-api.js';

/** Every table, one per kind. */
export const TRUTH_TABLES: readonly TruthTable[] = [
  virtualServiceTruth,
  destinationRuleTruth,
  gatewayTruth,
  serviceEntryTruth,
  sidecarTruth,
  peerAuthenticationTruth,
  authorizationPolicyTruth,
  requestAuthenticationTruth,
  telemetryTruth,
  workloadEntryTruth,
  workloadGroupTruth,
  serviceProfileTruth,
  trafficSplitTruth,
  serverTruth,
  serverAuthorizationTruth,
  linkerdAuthorizationPolicyTruth,
  meshTlsAuthenticationTruth,
  networkAuthenticationTruth,
  httpLocalRateLimitPolicyTruth,
  httpRouteTruth,
  grpcRouteTruth,
];

const BY_KIND = new Map(TRUTH_TABLES.map((t) => [t.kind, t]));

/** The table of a kind, if it has one. */
export function truthTableOf(def: KindDefinition): TruthTable | undefined {
  return BY_KIND.get(`${def.group}/${def.kind}`);
}

/** The own truth of the field at `path` of `def`: its table entry, else its schema markers. */
export function ownTruth(def: KindDefinition, path: string, node: Record<string, unknown>): FieldTruth | undefined {
  return truthTableOf(def)?.fields[path] ?? schemaTruth(node);
}
