/**
 * The "Supported configuration" tables of the README, generated from the schemas and the truth
 * tables: for every kind, every field with its type, whether it takes effect (and the test that
 * shows it, or why not), and notes (defaults, enum values, deprecations). scripts/generate-crds.mjs writes them; a test fails when the README is stale.
 */
import type { KindDefinition } from './kind.js';
import { MESH_KINDS } from './registry.js';
import { MeshKeyword } from './schema.js';
import { resolveFields, type FieldTruth } from './truth.js';
import { truthTableOf } from './truth/index.js';

interface Row {
  field: string;
  type: string;
  support: string;
  evidence: string;
  notes: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function typeOf(s: Record<string, unknown>): string {
  if (typeof s.$ref === 'string') return 'object';
  if (s['x-kubernetes-int-or-string']) return 'int or string';
  if (s['x-kubernetes-preserve-unknown-fields']) return 'object (free-form)';
  if (s[MeshKeyword.duration]) return 'duration';
  if (s[MeshKeyword.regex]) return 'RE2 regex';
  if (s[MeshKeyword.percent]) return 'percentage';
  if (Array.isArray(s.enum)) return 'enum';
  switch (s.type) {
    case 'array':
      return `list of ${isRecord(s.items) ? typeOf(s.items) : 'values'}`;
    case 'object':
      return isRecord(s.additionalProperties) && !isRecord(s.properties)
        ? `map of ${typeOf(s.additionalProperties)}`
        : 'object';
    default:
      return String(s.type);
  }
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function support(t: FieldTruth | undefined): string {
  if (!t) return '?';
  if (t.status === 'enforced') return '✔';
  if (t.status === 'accepted') return '✖';
  return t.tests.length ? '✔ deprecated' : '✖ deprecated';
}

function evidence(t: FieldTruth | undefined, own: boolean): string {
  if (!t) return '';
  if (t.status === 'accepted') return own ? t.why : '';
  if (!own) return '↑ (as its parent)';
  return t.tests.map((f) => `[${f.replace(/^test\//, '').replace(/\.test\.ts$/, '')}](${f})`).join(', ');
}

function notesOf(s: Record<string, unknown>, t: FieldTruth | undefined, own: boolean): string {
  const notes: string[] = [];
  if (typeof s.description === 'string') notes.push(s.description);
  if (Array.isArray(s.enum)) notes.push(`one of ${(s.enum as string[]).map((v) => `\`${v}\``).join(', ')}`);
  if (typeof s[MeshKeyword.default] === 'string') notes.push(`default: ${s[MeshKeyword.default] as string}`);
  if (typeof s[MeshKeyword.deprecated] === 'string') notes.push(`deprecated: ${s[MeshKeyword.deprecated] as string}`);
  else if (own && t?.status === 'deprecated') notes.push(`deprecated: ${t.use}`);
  if (isRecord(s[MeshKeyword.deprecatedValues])) {
    for (const [v, why] of Object.entries(s[MeshKeyword.deprecatedValues] as Record<string, string>))
      notes.push(`\`${v}\` deprecated: ${why}`);
  }
  // A value both the truth table and the schema mark: said once (the truth table's words).
  const said = new Set<string>();
  if (own && t?.ignoredValues) {
    for (const [v, why] of Object.entries(t.ignoredValues)) {
      notes.push(`\`${v}\` not implemented: ${why}`);
      said.add(v);
    }
  }
  if (isRecord(s[MeshKeyword.unsupportedValues])) {
    for (const [v, why] of Object.entries(s[MeshKeyword.unsupportedValues] as Record<string, string>))
      if (!said.has(v)) notes.push(`\`${v}\` not implemented: ${why}`);
  }
  if (typeof s.$ref === 'string') notes.push('nested condition: same fields as its parent');
  return notes.join('; ');
}

/** The Markdown table of one kind. */
export function supportTable(def: KindDefinition): string {
  const table = truthTableOf(def);
  const rows: Row[] = resolveFields(def, table).map((f) => ({
    field: `\`${f.path}\``,
    type: typeOf(f.node),
    support: support(f.truth),
    evidence: evidence(f.truth, f.own),
    notes: notesOf(f.node, f.truth, f.own),
  }));
  const whole = table?.fields[''];
  const pending = whole?.status === 'accepted' ? `\n**No field takes effect yet**: ${whole.why}.\n` : '';
  const head = `#### ${def.kind} (\`${def.group}\` ${def.versions.join(', ')})\n\n${def.summary}. Reference: ${def.reference}\n${pending}`;
  const done = rows.filter((r) => r.support.startsWith('✔')).length;
  const table_ = [
    '| Field (under `spec`) | Type | Effect | Shown by (✔) or why not (✖) | Notes |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.field} | ${r.type} | ${r.support} | ${cell(r.evidence)} | ${cell(r.notes)} |`),
  ].join('\n');
  return `${head}\n<details><summary>${rows.length} fields, ${done} take effect</summary>\n\n${table_}\n\n</details>\n`;
}

/** Every kind's table, in registry order, as one Markdown block. */
export function supportTables(): string {
  return MESH_KINDS.map(supportTable).join('\n');
}
