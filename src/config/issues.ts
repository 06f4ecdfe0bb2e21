/**
 * What validation reports: issues (severity, rule, field path, message, position), the identity of
 * an object, and the result of validating it. Shared by validation, analyze, apply and the store.
 */
import type { SourcePosition } from '../errors.js';
import type { FieldPath, ParsedDocument } from './documents.js';
import type { IssueRule, KindDefinition } from './kind.js';
import type { CoreKind, CoreObject } from './kinds/core.js';
import type { MeshResource } from './types.js';

/** How bad an issue is: errors reject the object; warnings and notes do not. */
export type IssueSeverity = 'error' | 'warning' | 'info';

/** One problem found in an object, located in its file. */
export interface ValidationIssue {
  readonly severity: IssueSeverity;
  readonly rule: IssueRule;
  /** Path from the object root, e.g. ['spec', 'http', 0, 'route', 1, 'weight']. */
  readonly path: FieldPath;
  /** The path as users read it: `spec.http[0].route[1].weight`. */
  readonly field: string;
  /** What is wrong and the fix, without the location. */
  readonly message: string;
  /** Where it is; absent for objects that did not come from a file (e.g. from the API server). */
  readonly position?: SourcePosition;
}

/** Formats an issue as `file:line:column: field: message` (without position: `field: message`). */
export function formatIssue(issue: ValidationIssue): string {
  const where = issue.position ? `${issue.position.file}:${issue.position.line}:${issue.position.column}: ` : '';
  return `${where}${issue.field ? `${issue.field}: ` : ''}${issue.message}`;
}

/** An object to validate, with where it came from (a ManifestObject from documents.ts fits). */
export interface ResourceInput {
  readonly object: unknown;
  readonly document?: ParsedDocument;
  /** Path of the object in its document ([] or ['items', i] for List items). */
  readonly path?: FieldPath;
}

/** The identity of an object: what analyze and the control plane call it. */
export interface ResourceIdentity {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  /** Undefined for cluster-scoped kinds. */
  readonly namespace: string | undefined;
}

/** Everything validation learned about one object. */
export interface ValidationResult {
  readonly identity: ResourceIdentity;
  /** The mesh kind, when the object is one. */
  readonly kind?: KindDefinition;
  /** The core Kubernetes kind, when the object is one. */
  readonly core?: CoreKind;
  /** The typed resource (namespace defaulted, unknown fields of pruning kinds removed); only when there is no error. */
  readonly resource?: MeshResource;
  /** The core object, when it is one and has no error. */
  readonly coreObject?: CoreObject;
  readonly errors: ValidationIssue[];
  readonly warnings: ValidationIssue[];
  /** Informational: deprecated fields, kinds passed over. */
  readonly notes: ValidationIssue[];
}

/** Options of validation. */
export interface ValidateOptions {
  /** Namespace given to namespaced objects without one (the command's namespace). */
  defaultNamespace?: string;
}

/** An issue before it is located in its file. */
export interface RawIssue {
  path: (string | number)[];
  message: string;
  rule: IssueRule;
}
