/**
 * Applies a per-object transform (inject or uninject) to whole manifests: every document of every
 * input in order, `List` items one by one, untouched documents left as they were. Produces the
 * complete output text only when no object was refused, so a failed run writes nothing.
 */
import { stringifyForKubernetes } from '../ui/kube-yaml.js';
import { parseDocuments, type ParsedDocument } from '../config/documents.js';
import type { SourceText } from '../config/sources.js';
import type { ReportEntry } from './report.js';
import type { TransformResult } from './transform.js';
import { isObject, type JsonObject } from './workloads.js';
import { rebaseEdit } from './rebase.js';
import { syncNode } from './yaml-sync.js';

/** A per-object transform: the object and where it came from (`file:line`). */
export type ObjectTransform = (
  obj: JsonObject,
  source: string,
  locate: (path: readonly (string | number)[]) => string,
) => TransformResult;

/** The outcome of a whole run. */
export interface ManifestResult {
  /** One rendered document per output document, in input order. */
  documents: string[];
  /**
   * The whole output. YAML: each input as written, with only the lines the transform changed
   * replaced (separators, comments, blank lines and empty documents kept byte for byte).
   */
  output: string;
  entries: ReportEntry[];
  /** Entries whose object was refused; when non-empty, `documents` must not be printed. */
  refused: ReportEntry[];
}

/** Whether sequences in the source are indented under their key (`key:\n  - x`) or flush (`key:\n- x`, kubectl's style). */
function indentsSequences(text: string): boolean {
  const m = text.match(/^([ \t]*)[^\s#-][^\n]*:[ \t]*\n(?:[ \t]*#[^\n]*\n)*([ \t]*)- /m);
  return m ? m[2]!.length > m[1]!.length : true;
}

/**
 * Renders one output document. `before` is the object with an earlier injection removed: syncing it
 * first drops the old proxy's nodes, so a re-injection renders exactly like a first injection.
 */
function render(
  doc: ParsedDocument,
  value: unknown,
  before: unknown,
  changed: boolean,
  format: 'yaml' | 'json',
  indentSeq: boolean,
): string {
  if (format === 'json') return JSON.stringify(value, null, 2) + '\n';
  if (doc.format === 'json') return stringifyForKubernetes(value, { indentSeq: false });
  if (changed) {
    if (before !== undefined) doc.doc.contents = syncNode(doc.doc, doc.doc.contents, before) as never;
    doc.doc.contents = syncNode(doc.doc, doc.doc.contents, value) as never;
  }
  return doc.doc.toString({ lineWidth: 0, indentSeq, flowCollectionPadding: false }).replace(/^---\n/, '');
}

/** Runs `transform` over every object of `sources` and renders the output documents. */
export function transformManifests(
  sources: readonly SourceText[],
  transform: ObjectTransform,
  format: 'yaml' | 'json',
): ManifestResult {
  const documents: string[] = [];
  const entries: ReportEntry[] = [];
  const outputs: string[] = [];
  for (const source of sources) {
    const fileIndentSeq = indentsSequences(source.text);
    const first = documents.length;
    // Each document as the renderer prints it unchanged: the base the edits are diffed against.
    const plain: string[] = [];
    let yamlOnly = true;
    for (const doc of parseDocuments(source.text, source.name)) {
      if (doc.format === 'json') yamlOnly = false;
      // Each document in its own sequence style (files concatenated from several charts mix them).
      const [start, , end] = doc.doc.range;
      const own = source.text.slice(start, end);
      const indentSeq = /\n[ \t]*- /.test(own) ? indentsSequences(own) : fileIndentSeq;
      const value = doc.object;
      if (value === null || value === undefined) continue;
      if (format === 'yaml') plain.push(render(doc, value, undefined, false, format, indentSeq));
      const where = (path: readonly (string | number)[]) => {
        const pos = doc.positionOf(path);
        return `${pos.file}:${pos.line}`;
      };
      if (!isObject(value)) {
        entries.push({
          object: `document ${doc.index + 1}`,
          source: where([]),
          outcome: 'skipped',
          reasons: ['no-kind'],
          warnings: [],
        });
        documents.push(render(doc, value, undefined, false, format, indentSeq));
        continue;
      }
      let changed = false;
      let out: JsonObject;
      let before: JsonObject | undefined;
      if (typeof value.kind === 'string' && /List$/.test(value.kind) && Array.isArray(value.items)) {
        const results = value.items.map((item: unknown, i: number) => {
          if (!isObject(item)) return { object: item, uninjected: undefined };
          const r = transform(item, where(['items', i]), (p) => where(['items', i, ...p]));
          entries.push(r.entry);
          if (r.object !== item) changed = true;
          return r;
        });
        out = changed ? { ...value, items: results.map((r) => r.object) } : value;
        if (results.some((r) => r.uninjected))
          before = { ...value, items: results.map((r) => r.uninjected ?? r.object) };
      } else {
        const r = transform(value, where([]), where);
        entries.push(r.entry);
        changed = r.object !== value;
        out = r.object;
        before = r.uninjected;
      }
      documents.push(render(doc, out, before, changed, format, indentSeq));
    }
    const mine = documents.slice(first);
    if (format === 'json') outputs.push(joinDocuments(mine, 'json'));
    else {
      const edited = joinDocuments(mine, 'yaml');
      const rebased = yamlOnly ? rebaseEdit(source.text, joinDocuments(plain, 'yaml'), edited) : undefined;
      outputs.push(rebased !== undefined && sameObjects(rebased, edited, source.name) ? rebased : edited);
    }
  }
  return {
    documents,
    output: format === 'json' ? outputs.join('') : joinYamlStreams(outputs),
    entries,
    refused: entries.filter((e) => e.outcome === 'refused'),
  };
}

/**
 * Whether the line replay kept the meaning: the replayed text must parse to exactly the objects of
 * the rendered edit. The replay works on lines, not on YAML, so this check is what guarantees that
 * keeping the user's bytes never changes what Kubernetes reads; when it fails the rendering is used.
 */
function sameObjects(rebased: string, edited: string, name: string): boolean {
  try {
    // Empty documents (a trailing `---`, a comment-only document) are kept by the replay, dropped by the renderer.
    const values = (text: string) =>
      JSON.stringify(parseDocuments(text, name).flatMap((d) => (d.object == null ? [] : [d.object])));
    return values(rebased) === values(edited);
  } catch {
    return false;
  }
}

/** Joins the YAML outputs of several inputs into one stream (a `---` between two, unless the second starts with one). */
function joinYamlStreams(texts: readonly string[]): string {
  let out = '';
  for (const t of texts) {
    if (t === '') continue;
    if (out !== '') {
      if (!out.endsWith('\n')) out += '\n';
      if (!/^---(\s|$)/.test(t)) out += '---\n';
    }
    out += t;
  }
  return out;
}

/** Joins rendered documents into one stream: YAML separated by `---`, JSON objects one after another. */
export function joinDocuments(documents: readonly string[], format: 'yaml' | 'json'): string {
  return format === 'json' ? documents.join('') : documents.join('---\n');
}
