/**
 * The truth table: for every field of every mesh kind, whether the mesh really does what the field
 * says. A schema only says what is accepted; this says what takes effect:
 *
 * - `enforced(test, ...)`: the field changes traffic or proxy config, and the named test shows it
 *   (test/config/truth.test.ts checks the file exists and mentions the field);
 * - `accepted(why)`: the field is accepted but the mesh does not act on it: MESH0002 at `apply` and
 *   `analyze`, naming the field and `why`;
 * - `deprecated(use, test?)`: upstream deprecates the field (MESH0003 names `use`); with a test it is
 *   still honoured, without one it is also MESH0002.
 *
 * Tables live in src/config/truth/<kind>.ts, keyed by the field path as the README writes it
 * (`http[].route[].weight`, `<key>` for map keys). A field without its own entry takes its nearest
 * ancestor's; a schema's `unsupported`/`deprecated` marker counts as the field's own entry. Every
 * field must resolve to an entry (the test fails otherwise), so a new field cannot slip in unjudged.
 * The key `''` judges the whole kind (one MESH0002 per object, at `spec`), for a kind no proxy
 * receives yet.
 */
import type { KindDefinition } from './kind.js';
import { MeshKeyword } from './schema.js';

/** What the mesh does with one field. */
export type FieldTruth = (
  | { readonly status: 'enforced'; readonly tests: readonly string[] }
  | { readonly status: 'accepted'; readonly why: string }
  | { readonly status: 'deprecated'; readonly use: string; readonly tests: readonly string[] }
) & {
  /** Values of an enforced enum field that have no effect: value -> why (MESH0002 when set). */
  readonly ignoredValues?: Readonly<Record<string, string>>;
};

/** One kind's table: field path (under `spec`) -> truth. */
export interface TruthTable {
  /** `group/Kind`, as in `networking.istio.io/VirtualService`. */
  readonly kind: string;
  readonly fields: Readonly<Record<string, FieldTruth>>;
}

/** The field takes effect; `tests` are the test files (from the repo root) that show it. */
export function enforced(...tests: string[]): FieldTruth {
  return { status: 'enforced', tests };
}

/** The field is accepted but has no effect: analyze and apply warn with MESH0002 and `why`. */
export function accepted(why: string): FieldTruth {
  return { status: 'accepted', why };
}

/** Upstream deprecates the field for `use`; `tests` show it still honoured (none: not honoured). */
export function deprecated(use: string, ...tests: string[]): FieldTruth {
  return { status: 'deprecated', use, tests };
}

/** An enforced field some of whose values have no effect (value -> why): those values get MESH0002. */
export function exceptValues(truth: FieldTruth, values: Record<string, string>): FieldTruth {
  return { ...truth, ignoredValues: values };
}

/** Declares one kind's table. */
export function truthTable(kind: string, fields: Record<string, FieldTruth>): TruthTable {
  return { kind, fields };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The path of a property `key` of the node at `parent` ('' = spec itself). */
export function childPath(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}

/** The truth a schema node's own markers give (unsupported/deprecated), if any. */
export function schemaTruth(node: Record<string, unknown>): FieldTruth | undefined {
  const unsupported = node[MeshKeyword.unsupported];
  const dep = node[MeshKeyword.deprecated];
  if (typeof dep === 'string') return typeof unsupported === 'string' ? deprecated(dep) : undefined;
  if (typeof unsupported === 'string') return accepted(unsupported);
  return undefined;
}

/** One field of a kind, with the truth it resolves to and whether that is the field's own entry. */
export interface ResolvedField {
  readonly path: string;
  readonly node: Record<string, unknown>;
  readonly truth: FieldTruth | undefined;
  readonly own: boolean;
}

/**
 * Walks a kind's spec schema the way the README tables do and resolves each field's truth: its own
 * table entry, else its schema markers, else the nearest ancestor's.
 */
export function resolveFields(def: KindDefinition, table: TruthTable | undefined): ResolvedField[] {
  const out: ResolvedField[] = [];
  const visit = (node: unknown, path: string, inherited: FieldTruth | undefined): void => {
    if (!isRecord(node)) return;
    let truth = inherited;
    if (path) {
      const own = table?.fields[path] ?? schemaTruth(node);
      truth = own ?? inherited;
      out.push({ path, node, truth, own: own !== undefined });
    }
    if (typeof node.$ref === 'string') return;
    const isList = node.type === 'array' && isRecord(node.items);
    const item = isList ? (node.items as Record<string, unknown>) : node;
    const base = isList ? `${path}[]` : path;
    if (isRecord(item.properties)) {
      for (const [k, v] of Object.entries(item.properties)) visit(v, childPath(base, k), truth);
    } else if (isRecord(item.additionalProperties) && isRecord(item.additionalProperties.properties)) {
      for (const [k, v] of Object.entries(item.additionalProperties.properties)) visit(v, `${base}.<key>.${k}`, truth);
    }
  };
  visit(def.spec, '', table?.fields['']);
  return out;
}
