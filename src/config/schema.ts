/**
 * Building blocks of the mesh API schemas. Every kind is written with these TypeBox helpers so that
 * one definition yields the TypeScript type, the ajv validator, the CRD `openAPIV3Schema` and the
 * README support tables.
 *
 * Keywords starting with `x-mesh-` are meshctl annotations: ajv understands them (see validate.ts),
 * the CRD export strips them (see crd.ts). They carry what JSON Schema cannot say well: Go-style
 * durations, RE2 regular expressions, percentages, mutually exclusive fields (protobuf `oneof`),
 * and whether the mesh implements a field.
 */
import { Type, type Static, type TSchema, type TProperties, type TObject, type TUnsafe } from '@sinclair/typebox';

/** The meshctl annotation keywords a schema node may carry. */
export const MeshKeyword = {
  /** The mesh accepts the field but does not implement it: `analyze` warns (value: why / what to do). */
  unsupported: 'x-mesh-unsupported',
  /** The upstream API deprecates the field (value: what to use instead). */
  deprecated: 'x-mesh-deprecated',
  /** A Go/Istio duration string: `1.5s`, `500ms`, `1h2m`. Value `positive` requires >= 1ms. */
  duration: 'x-mesh-duration',
  /** An RE2 regular expression (linear-time matching; no backreferences or lookaround). */
  regex: 'x-mesh-regex',
  /** A percentage, 0..100 inclusive. */
  percent: 'x-mesh-percent',
  /** Groups of properties of which at most one may be set (protobuf `oneof`). */
  exclusive: 'x-mesh-exclusive',
  /** Enum values the upstream API deprecates: value -> what to use instead. */
  deprecatedValues: 'x-mesh-deprecated-values',
  /** The default the upstream API documents (for the support tables only; never applied). */
  default: 'x-mesh-default',
  /** Values the mesh accepts but does not implement: value -> why (a warning, MESH0002, like unsupported fields). */
  unsupportedValues: 'x-mesh-unsupported-values',
} as const;

/** Annotation keywords that are only documentation for ajv (no validation of their own). */
export const ANNOTATION_KEYWORDS = [
  MeshKeyword.unsupported,
  MeshKeyword.deprecated,
  MeshKeyword.default,
  MeshKeyword.deprecatedValues,
  MeshKeyword.unsupportedValues,
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
] as const;

/** Options every field helper accepts: a description, and the mesh annotations. */
export interface FieldOptions {
  description?: string;
  /** Why the mesh does not implement this field (makes it a warning in analyze). */
  unsupported?: string;
  /** What replaces this deprecated field. */
  deprecated?: string;
  default?: string;
  /** Values accepted but not implemented: value -> why. */
  unsupportedValues?: Record<string, string>;
}

function annotations(o: FieldOptions | string | undefined): Record<string, unknown> {
  if (o === undefined) return {};
  if (typeof o === 'string') return { description: o };
  const out: Record<string, unknown> = {};
  if (o.description) out.description = o.description;
  if (o.unsupported) out[MeshKeyword.unsupported] = o.unsupported;
  if (o.deprecated) out[MeshKeyword.deprecated] = o.deprecated;
  if (o.default) out[MeshKeyword.default] = o.default;
  if (o.unsupportedValues) out[MeshKeyword.unsupportedValues] = o.unsupportedValues;
  return out;
}

/** An object with a closed set of fields (unknown fields are reported). */
export function Obj<P extends TProperties>(
  properties: P,
  o?: FieldOptions | string,
  extra: { exclusive?: string[][] } = {},
): TObject<P> {
  const opts: Record<string, unknown> = { ...annotations(o), additionalProperties: false };
  if (extra.exclusive) opts[MeshKeyword.exclusive] = extra.exclusive;
  return Type.Object(properties, opts);
}

/** A plain string. */
export function Str(o?: FieldOptions | string, extra: { minLength?: number; pattern?: string; format?: string } = {}) {
  return Type.String({ ...annotations(o), ...extra });
}

/** A string from a fixed set (protobuf enum). */
export function Enum<const T extends readonly string[]>(values: T, o?: FieldOptions | string): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...annotations(o) });
}

/** A signed 32-bit integer (protobuf int32), optionally bounded. */
export function Int32(o?: FieldOptions | string, bounds: { minimum?: number; maximum?: number } = {}) {
  return Type.Integer({
    ...annotations(o),
    format: 'int32',
    minimum: bounds.minimum ?? -2147483648,
    maximum: bounds.maximum ?? 2147483647,
  });
}

/** An unsigned 32-bit integer (protobuf uint32 / UInt32Value), optionally bounded. */
export function UInt32(o?: FieldOptions | string, bounds: { minimum?: number; maximum?: number } = {}) {
  return Type.Integer({ ...annotations(o), minimum: bounds.minimum ?? 0, maximum: bounds.maximum ?? 4294967295 });
}

/** A port number, 1..65535. */
export function PortNumber(o?: FieldOptions | string) {
  return Type.Integer({ ...annotations(o), minimum: 1, maximum: 65535 });
}

/** A floating point number (protobuf double / float). */
export function Num(o?: FieldOptions | string, bounds: { minimum?: number; maximum?: number } = {}) {
  return Type.Number({ ...annotations(o), ...bounds });
}

/** A boolean (protobuf bool / BoolValue). */
export function Bool(o?: FieldOptions | string) {
  return Type.Boolean(annotations(o));
}

/** A duration string as Istio and Linkerd read it: `1.5s`, `500ms`, `1m30s`. */
export function Duration(o?: FieldOptions | string, mode: 'positive' | 'any' = 'positive') {
  return Type.String({ ...annotations(o), [MeshKeyword.duration]: mode });
}

/** An RE2 regular expression. */
export function Regex(o?: FieldOptions | string) {
  return Type.String({ ...annotations(o), [MeshKeyword.regex]: true });
}

/** A number that is a percentage, 0..100 (checked by the percentage rule, not by the CRD). */
export function Percentage(o?: FieldOptions | string) {
  return Type.Number({ ...annotations(o), [MeshKeyword.percent]: true });
}

/** An integer percentage, 0..100. */
export function IntPercentage(o?: FieldOptions | string) {
  return Type.Integer({ ...annotations(o), format: 'int32', [MeshKeyword.percent]: true });
}

/** A list. */
export function List<T extends TSchema>(items: T, o?: FieldOptions | string, extra: { minItems?: number } = {}) {
  return Type.Array(items, { ...annotations(o), ...extra });
}

/** A map with string keys (protobuf map<string, V>), rendered as `additionalProperties` for structural CRDs. */
export function MapOf<T extends TSchema>(value: T, o?: FieldOptions | string): TUnsafe<Record<string, Static<T>>> {
  return Type.Unsafe<Record<string, Static<T>>>({ type: 'object', additionalProperties: value, ...annotations(o) });
}

/** A string-to-string map such as labels. */
export function StringMap(o?: FieldOptions | string) {
  return MapOf(Type.String(), o);
}

/** Kubernetes IntOrString (ports by number or name, quantities such as `500m`). */
export function IntOrString(o?: FieldOptions | string): TUnsafe<number | string> {
  return Type.Unsafe<number | string>({
    ...annotations(o),
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
  });
}

/** A free-form object the mesh passes through (kept as is by the API server). */
export function FreeForm(o?: FieldOptions | string): TUnsafe<Record<string, unknown>> {
  return Type.Unsafe<Record<string, unknown>>({
    type: 'object',
    'x-kubernetes-preserve-unknown-fields': true,
    ...annotations(o),
  });
}

/** Marks a schema optional in its parent object. */
export const Opt = Type.Optional;

/** Kubernetes metav1.LabelSelector. */
export const LabelSelector = Obj(
  {
    matchLabels: Opt(StringMap('labels that must all be present with these values')),
    matchExpressions: Opt(
      List(
        Obj(
          {
            key: Str('the label key'),
            operator: Enum(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const, 'how the key relates to the values'),
            values: Opt(List(Type.String(), 'values for In and NotIn')),
          },
          undefined,
        ),
        'label requirements, ANDed',
      ),
    ),
  },
  'a Kubernetes label selector',
);
/** A Kubernetes label selector as the API server returns it. */
export type LabelSelector = Static<typeof LabelSelector>;

/** Istio's WorkloadSelector: `matchLabels` only. */
export const WorkloadSelector = Obj(
  { matchLabels: Opt(StringMap('labels that select the workloads; none selects every workload of the namespace')) },
  'the workloads (by label) this applies to, in the resource namespace',
);

/**
 * The selector of Istio's networking WorkloadSelector (Sidecar, ServiceEntry), which names its map
 * `labels`, unlike the type.v1beta1 selector of DestinationRule and the security kinds (`matchLabels`).
 */
export const NetworkingWorkloadSelector = Obj(
  { labels: Opt(StringMap('labels that select the workloads; none selects every workload of the namespace')) },
  'the workloads (by label) this applies to, in the resource namespace',
);

/** Istio's PolicyTargetReference (`targetRef`). */
export const PolicyTargetReference = Obj(
  {
    group: Opt(Str('API group of the target, e.g. gateway.networking.k8s.io')),
    kind: Str('kind of the target (Gateway, Service, ServiceEntry)'),
    name: Str('name of the target'),
    namespace: Opt(Str('namespace of the target; must be the policy namespace')),
  },
  {
    description: 'a Gateway API or Service resource the policy attaches to',
    unsupported: 'waypoint/Gateway API targeting is not implemented; use selector',
  },
);

/** The metadata the mesh reads from every object; other metadata fields are kept as is. */
export const ObjectMeta = Type.Object(
  {
    name: Opt(Str('name of the object (DNS-1123)', { minLength: 1 })),
    generateName: Opt(Type.String()),
    namespace: Opt(Str('namespace; the command namespace when omitted')),
    labels: Opt(StringMap()),
    annotations: Opt(StringMap()),
  },
  { additionalProperties: true },
);
/** Kubernetes object metadata, as far as the mesh reads it. */
export type ObjectMeta = Static<typeof ObjectMeta>;

/** The envelope of every Kubernetes object: apiVersion, kind, metadata and a spec of type S. */
export function ResourceSchema<S extends TSchema>(spec: S, specRequired: boolean) {
  return Type.Object(
    {
      apiVersion: Type.String(),
      kind: Type.String(),
      // checked by validate.ts (name format, string labels) with better messages than a schema gives
      metadata: Type.Unsafe<ObjectMeta>({ type: 'object' }),
      spec: specRequired ? spec : Type.Optional(spec),
      status: Type.Optional(FreeForm()),
    },
    { additionalProperties: false },
  );
}

/** A typed Kubernetes-style resource of kind K with spec S. */
export interface Resource<K extends string, S> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
}
