/**
 * Parsing of YAML and JSON manifests with positions. One loader for every command that reads
 * manifests (inject, analyze, apply), so that every error can name `file:line:column`.
 *
 * The `yaml` package is used rather than js-yaml because it keeps comments and source ranges:
 * inject must leave untouched documents byte-for-byte recognisable, and errors need positions.
 */
import { isMap, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import { InputParseError, type SourcePosition } from '../errors.js';
import { fixFlowColonScalars, KUBERNETES_YAML } from '../ui/kube-yaml.js';

/** A path into a document: keys and sequence indices, as in `spec.http[0].route[1]`. */
export type FieldPath = readonly (string | number)[];

/** One document of an input file, with the means to locate any field in it. */
export interface ParsedDocument {
  /** The name of the input (file path, URL or `<stdin>`). */
  readonly file: string;
  /** 0-based index of the document within its file. */
  readonly index: number;
  /** Whether the input was JSON (output should stay JSON) or YAML. */
  readonly format: 'yaml' | 'json';
  /** The parsed document, with comments and source ranges. */
  readonly doc: Document.Parsed;
  /** The plain JS value of the document; null for an empty document. */
  readonly object: unknown;
  /** Position of the node at `path`, or of its nearest ancestor that exists. */
  positionOf(path: FieldPath): SourcePosition;
}

/** A Kubernetes-style object found in a document: either the document itself or an item of a `List`. */
export interface ManifestObject {
  readonly document: ParsedDocument;
  /** Path of the object inside the document: [] for the document itself, ['items', i] in a List. */
  readonly path: FieldPath;
  readonly object: Record<string, unknown>;
}

/** Formats a field path the way users read it: `spec.http[0].route[1].weight`. */
export function formatFieldPath(path: FieldPath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/** Whether a text looks like JSON rather than YAML (JSON is valid YAML, but output should keep JSON). */
function looksLikeJson(text: string): boolean {
  const first = text.match(/^\s*(\S)/);
  return first?.[1] === '{' || first?.[1] === '[';
}

/**
 * Parses every document of `text` (YAML, multi-document, or JSON). Throws InputParseError at the
 * first syntax error, with its position and what is wrong. Empty documents are returned with
 * `object === null` so callers can decide whether they matter.
 */
export function parseDocuments(text: string, file: string): ParsedDocument[] {
  const lineCounter = new LineCounter();
  // YAML 1.1 scalars, as Kubernetes reads them (src/ui/kube-yaml.ts): `0400` is 256, `yes` is true.
  const docs = parseAllDocuments(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
    ...KUBERNETES_YAML,
  });
  const list = Array.isArray(docs) ? docs : [docs];
  const format = looksLikeJson(text) ? 'json' : 'yaml';
  const toPos = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  return list.map((doc, index) => {
    const error = doc.errors[0];
    if (error) {
      const reason = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      throw new InputParseError(toPos(error.pos[0]), `invalid ${format === 'json' ? 'JSON' : 'YAML'}: ${reason}`);
    }
    fixFlowColonScalars(doc, text);
    const object = doc.contents === null ? null : (doc.toJS({ maxAliasCount: 100 }) as unknown);
    const docStart = doc.range[0];
    return {
      file,
      index,
      format,
      doc,
      object,
      positionOf(path: FieldPath): SourcePosition {
        let node: unknown = doc.contents;
        let best: number = (node as Node | null)?.range?.[0] ?? docStart;
        for (const key of path) {
          if (isMap(node)) {
            const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
            if (!pair) break;
            const keyRange = (pair.key as Node | null)?.range;
            node = pair.value;
            best = (node as Node | null)?.range?.[0] ?? keyRange?.[0] ?? best;
          } else if (isSeq(node) && typeof key === 'number') {
            node = node.items[key];
            if (node === undefined) break;
            best = (node as Node).range?.[0] ?? best;
          } else break;
        }
        return toPos(best);
      },
    };
  });
}

/** Kinds that wrap other objects in `items` (kubectl's `List` and typed lists such as `PodList`). */
function isListObject(o: Record<string, unknown>): boolean {
  return typeof o.kind === 'string' && /List$/.test(o.kind) && Array.isArray(o.items);
}

/** Every object in the documents, with List items expanded in order. Empty documents are skipped. */
export function manifestObjects(docs: readonly ParsedDocument[]): ManifestObject[] {
  const out: ManifestObject[] = [];
  for (const document of docs) {
    const o = document.object;
    if (o === null || typeof o !== 'object' || Array.isArray(o)) {
      if (o !== null) out.push({ document, path: [], object: o as unknown as Record<string, unknown> });
      continue;
    }
    const rec = o as Record<string, unknown>;
    if (isListObject(rec)) {
      (rec.items as unknown[]).forEach((item, i) => {
        out.push({ document, path: ['items', i], object: item as Record<string, unknown> });
      });
    } else out.push({ document, path: [], object: rec });
  }
  return out;
}

/**
 * Reads a YAML file holding one value (install values, `-f values.yaml`) as Kubernetes reads YAML;
 * errors name the file, line and column. An empty file is an empty object.
 */
export function parseYamlValue(text: string, file: string): unknown {
  const docs = parseDocuments(text, file).filter((d) => d.object !== null);
  if (docs.length > 1)
    throw new InputParseError(
      { file, line: docs[1]!.positionOf([]).line, column: 1 },
      `expected one YAML document, found ${docs.length}`,
    );
  return docs[0]?.object ?? {};
}

/**
 * The annotation `meshctl apply` sets on every object it stores: the `file:line` its document
 * starts at. A proxy's refusal (NACK) names its source object with it, so the user is pointed at
 * the YAML to fix (an object written by other means, e.g. kubectl, has none or a stale one).
 */
export const APPLIED_FROM_ANNOTATION = 'meshctl.dev/applied-from';

/** Sets {@link APPLIED_FROM_ANNOTATION} on the object to where it starts in its input. */
export function recordAppliedFrom(m: ManifestObject): void {
  const meta = m.object.metadata;
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return;
  const md = meta as { annotations?: unknown };
  if (md.annotations !== undefined && (md.annotations === null || typeof md.annotations !== 'object')) return;
  const { file, line } = m.document.positionOf(m.path);
  md.annotations = {
    ...(md.annotations as Record<string, string> | undefined),
    [APPLIED_FROM_ANNOTATION]: `${file}:${line}`,
  };
}
