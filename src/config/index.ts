/**
 * The mesh API: the kinds meshctl understands (Istio, Linkerd, SMI), their TypeScript types, the
 * kind registry, validation with file:line:column and fixes, and the CRD generator. The control
 * plane, the CRD install and `analyze` all go through this module.
 */
export type { FieldPath, ManifestObject, ParsedDocument } from './documents.js';
export {
  APPLIED_FROM_ANNOTATION,
  formatFieldPath,
  manifestObjects,
  parseDocuments,
  recordAppliedFrom,
} from './documents.js';
export { readSources, type SourceText } from './sources.js';
export type { IssueRule, KindDefinition, KindFamily, PrinterColumn } from './kind.js';
export { MESH_KINDS, findKindByName, lookupKind, splitApiVersion, type KindLookup } from './registry.js';
export { CORE_KINDS, podTemplateOf, type CoreKind, type CoreObject, type CoreRole } from './kinds/core.js';
export {
  formatIssue,
  precompileValidators,
  validateResource,
  type IssueSeverity,
  type ResourceIdentity,
  type ResourceInput,
  type ValidateOptions,
  type ValidationIssue,
  type ValidationResult,
} from './validate.js';
export { crdFor, generateCrdFiles, openApiSchema, toStructural, type CrdFile } from './crd.js';
export { parseDuration, formatDuration } from './duration.js';
export { exportedTo, serviceExportTo } from './export-to.js';
export { fullMatcher, regexProblem } from './regex.js';
export { parseQuantity } from './kinds/traffic-split.js';
export { RETRY_ON_POLICIES, type HTTPRoute, type VirtualServiceSpec } from './kinds/virtual-service.js';
export type { DestinationRuleSpec, TrafficPolicy } from './kinds/destination-rule.js';
export type { Destination, StringMatch } from './kinds/istio-common.js';
export type { GatewaySpec } from './kinds/gateway.js';
export type { ServiceEntrySpec } from './kinds/service-entry.js';
export type { GRPCRouteSpec, HTTPRouteSpec } from './kinds/gateway-api.js';
export { isServiceBackend, isServiceParent } from './kinds/gateway-api-checks.js';
export type { SidecarSpec } from './kinds/sidecar.js';
export type { PeerAuthenticationSpec } from './kinds/peer-authentication.js';
export type { AuthorizationPolicySpec } from './kinds/authorization-policy.js';
export type { RequestAuthenticationSpec } from './kinds/request-authentication.js';
export type { TelemetrySpec } from './kinds/telemetry.js';
export type { RequestMatch, ResponseMatch, ServiceProfileSpec } from './kinds/service-profile.js';
export type { TrafficSplitSpec } from './kinds/traffic-split.js';
export type { LinkerdAuthorizationPolicySpec, ServerAuthorizationSpec, ServerSpec } from './kinds/linkerd-policy.js';
export type { LabelSelector, ObjectMeta, Resource } from './schema.js';
export * from './types.js';
export { supportTables } from './support-tables.js';
export {
  accepted,
  deprecated,
  enforced,
  exceptValues,
  resolveFields,
  truthTable,
  type FieldTruth,
  type ResolvedField,
  type TruthTable,
} from './truth.js';
export { TRUTH_TABLES, truthTableOf } from './truth/index.js';
export {
  configKinds,
  notEnforced,
  NOT_ENFORCED_KINDS,
  REGISTRATION_KINDS,
  type NotEnforcedKind,
} from './enforcement.js';
