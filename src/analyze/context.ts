/**
 * The contract between the analysis runner and the analyzers: what an analyzer reads (the input,
 * typed resources by kind) and how it reports a finding (message type, resource, field, text).
 */
import type { AuthorizationPolicy, FieldPath, MeshResource, ResourceIdentity } from '../config/index.js';
import type { SourcePosition } from '../errors.js';
import type { AnalysisInput, AnalyzedResource } from './input.js';
import type { Level, MessageType } from './messages.js';

/** One finding: a message of the catalogue about a resource, located in its file when it has one. */
export interface Finding {
  readonly type: MessageType;
  readonly level: Level;
  readonly message: string;
  readonly resource?: ResourceIdentity;
  readonly position?: SourcePosition;
  /** The field the finding is about, e.g. `spec.http[0].route[1]`. */
  readonly field?: string;
}

/** A typed mesh resource with its analysis record. */
export interface Typed<R extends MeshResource> {
  readonly r: AnalyzedResource;
  readonly res: R;
}

/** What an analyzer gets. */
export interface AnalysisContext {
  readonly input: AnalysisInput;
  /** The valid mesh resources of a kind (optionally of one API group). */
  of<K extends MeshResource['kind']>(kind: K, group?: string): Typed<Extract<MeshResource, { kind: K }>>[];
  /** Istio's AuthorizationPolicies (Linkerd's share the kind name, in policy.linkerd.io). */
  istioAuthorizationPolicies(): Typed<AuthorizationPolicy>[];
  /** Reports a finding about an analyzed resource (located in its file), or about an identity only (e.g. a platform workload). */
  report(
    type: MessageType,
    on: AnalyzedResource | ResourceIdentity | undefined,
    message: string,
    path?: FieldPath,
  ): void;
  /** Reports a finding about a place in a file that holds no resource (a parse failure). */
  reportAt(type: MessageType, position: SourcePosition, message: string): void;
}

/** One analyzer: a name (for --verbose and docs) and its check. */
export interface Analyzer {
  readonly name: string;
  run(ctx: AnalysisContext): void;
}
