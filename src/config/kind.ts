/**
 * What the registry knows about one kind of the mesh API: its names (for the CRD and for `get`),
 * versions, scope, spec schema, and the checks JSON Schema cannot express (Istio's webhook rules).
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type { FieldPath } from './documents.js';

/** The API family a kind comes from: decides its strictness and its documentation links. */
export type KindFamily = 'istio' | 'linkerd' | 'smi' | 'gateway-api';

/** Which rule produced a validation issue; analyze maps rules to its message codes. */
export type IssueRule =
  | 'schema'
  | 'unknown-field'
  | 'regex'
  | 'percent'
  | 'duration'
  | 'unsupported'
  | 'deprecated'
  | 'wrong-group'
  | 'not-mesh-kind'
  | 'unhonoured-kind'
  | 'too-large'
  | 'header';

/** Reports one problem at a path relative to the resource root (e.g. ['spec', 'http', 0]). */
export type ReportIssue = (path: FieldPath, message: string, rule?: IssueRule) => void;

/** A printer column of the CRD (what `kubectl get` shows). */
export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'date';
  readonly jsonPath: string;
  readonly description: string;
}

/** One kind of the mesh API, served as a CRD. */
export interface KindDefinition<S extends TSchema = TSchema> {
  readonly family: KindFamily;
  readonly group: string;
  readonly kind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  /** Every served version, oldest first. All share the one schema. */
  readonly versions: readonly string[];
  /** The one version the API server stores. */
  readonly storageVersion: string;
  readonly namespaced: boolean;
  /** One line: what the kind is for. */
  readonly summary: string;
  /** The upstream reference documentation. */
  readonly reference: string;
  readonly spec: S;
  /**
   * What an unknown field is: `error` where the upstream validating webhook rejects it (Istio),
   * `warn` where the API server silently prunes it (Linkerd and SMI CRDs).
   */
  readonly unknownFields: 'error' | 'warn';
  readonly statusSubresource: boolean;
  /**
   * The `api-approved.kubernetes.io` annotation the API server requires of a CRD in a protected group
   * (`*.k8s.io`, `*.kubernetes.io`): the upstream API review that approved it.
   */
  readonly apiApproved?: string;
  readonly printerColumns?: readonly PrinterColumn[];
  /** Checks across fields, run after the schema passed. Paths are relative to the resource root. */
  readonly check?: (spec: Static<S>, report: ReportIssue) => void;
}

/** Declares a kind with its spec type inferred, so `check` receives the typed spec. */
export function defineKind<S extends TSchema>(def: KindDefinition<S>): KindDefinition<S> {
  return def;
}
