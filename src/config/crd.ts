/**
 * CustomResourceDefinitions generated from the kind schemas: structural `openAPIV3Schema` (every node
 * typed, maps as additionalProperties, int-or-string and preserve-unknown-fields only where the API
 * has them), every version served, exactly one stored. `templates/crds/` holds the output, checked in;
 * `npm run crds:generate` rewrites it and a test fails when it is stale.
 */
import { stringify } from 'yaml';
import type { KindDefinition } from './kind.js';
import { MESH_KINDS } from './registry.js';
import { MeshKeyword } from './schema.js';

/** A JSON Schema node as the Kubernetes API server accepts it. */
export type StructuralSchema = Record<string, unknown>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function describe(s: Record<string, unknown>): string | undefined {
  const parts: string[] = [];
  if (typeof s.description === 'string') parts.push(s.description);
  if (typeof s[MeshKeyword.deprecated] === 'string') parts.push(`Deprecated: ${s[MeshKeyword.deprecated] as string}.`);
  return parts.length ? parts.join(' ') : undefined;
}

/** `at most one of` groups as value validations (no types inside, as structural schemas require). */
function exclusiveValidation(groups: string[][]): StructuralSchema {
  const oneOf = (g: string[]) => [
    { not: { anyOf: g.map((k) => ({ required: [k] })) } },
    ...g.map((k) => ({ required: [k] })),
  ];
  if (groups.length === 1) return { oneOf: oneOf(groups[0]!) };
  return { allOf: groups.map((g) => ({ oneOf: oneOf(g) })) };
}

/** Converts one schema node (TypeBox + meshctl annotations) to its structural CRD form. */
export function toStructural(schema: unknown): StructuralSchema {
  if (!isRecord(schema)) throw new Error('schema node is not an object');
  const out: StructuralSchema = {};
  const description = describe(schema);
  if (description) out.description = description;
  // A recursive reference (Linkerd's nested matches): structural schemas cannot recurse.
  if (typeof schema.$ref === 'string') return { ...out, type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  if (schema['x-kubernetes-int-or-string']) return { ...out, 'x-kubernetes-int-or-string': true };
  if (schema['x-kubernetes-preserve-unknown-fields'])
    return { ...out, type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  switch (schema.type) {
    case 'object': {
      out.type = 'object';
      if (isRecord(schema.properties)) {
        out.properties = Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, toStructural(v)]));
        if (Array.isArray(schema.required) && schema.required.length) out.required = [...(schema.required as string[])];
      } else if (isRecord(schema.additionalProperties)) {
        out.additionalProperties = toStructural(schema.additionalProperties);
      } else {
        out['x-kubernetes-preserve-unknown-fields'] = true;
      }
      const groups = schema[MeshKeyword.exclusive];
      if (Array.isArray(groups) && groups.length) Object.assign(out, exclusiveValidation(groups as string[][]));
      return out;
    }
    case 'array':
      out.type = 'array';
      out.items = toStructural(schema.items);
      if (typeof schema.minItems === 'number') out.minItems = schema.minItems;
      return out;
    case 'string':
      out.type = 'string';
      if (Array.isArray(schema.enum)) out.enum = [...(schema.enum as string[])];
      if (typeof schema.minLength === 'number') out.minLength = schema.minLength;
      return out;
    case 'integer':
      out.type = 'integer';
      if (schema.format === 'int32') out.format = 'int32';
      if (typeof schema.minimum === 'number') out.minimum = schema.minimum;
      if (typeof schema.maximum === 'number') out.maximum = schema.maximum;
      return out;
    case 'number':
      out.type = 'number';
      out.format = 'double';
      if (typeof schema.minimum === 'number') out.minimum = schema.minimum;
      if (typeof schema.maximum === 'number') out.maximum = schema.maximum;
      return out;
    case 'boolean':
      out.type = 'boolean';
      return out;
    default:
      throw new Error(`schema node of type ${String(schema.type)} has no structural form`);
  }
}

/** The `openAPIV3Schema` of a kind: the envelope plus its spec. */
export function openApiSchema(def: KindDefinition): StructuralSchema {
  const spec = toStructural(def.spec);
  spec.description = `${def.summary}. See ${def.reference}`;
  const properties: Record<string, unknown> = {
    apiVersion: {
      type: 'string',
      description: 'APIVersion defines the versioned schema of this representation of an object.',
    },
    kind: {
      type: 'string',
      description: 'Kind is a string value representing the REST resource this object represents.',
    },
    metadata: { type: 'object' },
    spec,
  };
  if (def.statusSubresource) properties.status = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
  return { type: 'object', required: ['spec'], properties };
}

/** The CustomResourceDefinition object of a kind. */
export function crdFor(def: KindDefinition): Record<string, unknown> {
  const schema = openApiSchema(def);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${def.plural}.${def.group}`,
      labels: { 'app.kubernetes.io/part-of': 'meshctl', 'meshctl.dev/api-family': def.family },
      ...(def.apiApproved ? { annotations: { 'api-approved.kubernetes.io': def.apiApproved } } : {}),
    },
    spec: {
      group: def.group,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        ...(def.shortNames.length ? { shortNames: [...def.shortNames] } : {}),
        categories: [...def.categories],
      },
      scope: def.namespaced ? 'Namespaced' : 'Cluster',
      versions: def.versions.map((name) => ({
        name,
        served: true,
        storage: name === def.storageVersion,
        ...(def.printerColumns?.length ? { additionalPrinterColumns: def.printerColumns.map((c) => ({ ...c })) } : {}),
        schema: { openAPIV3Schema: schema },
        ...(def.statusSubresource ? { subresources: { status: {} } } : {}),
      })),
    },
  };
}

/** One generated CRD file: its name under templates/crds/ and its YAML. */
export interface CrdFile {
  readonly fileName: string;
  readonly yaml: string;
}

const HEADER =
  '# Generated from src/config by `npm run crds:generate`. Do not edit: change the schema and regenerate.\n';

/** Every CRD of the mesh API, one YAML file per kind. Two kinds never share a group and plural. */
export function generateCrdFiles(): CrdFile[] {
  return MESH_KINDS.map((def) => ({
    fileName: `${def.group}_${def.plural}.yaml`,
    yaml: HEADER + stringify(crdFor(def), { lineWidth: 0, aliasDuplicateObjects: false }),
  }));
}
