/**
 * The "Supported configuration" tables of the README, generated from the schemas: for every kind,
 * every field with its type, whether the mesh implements it, and notes (defaults, enum values,
 * deprecations). scripts/generate-crds.mjs writes them; a test fails when the README is stale.
 */
import type { KindDefinition } from './kind.js';
import { MESH_KINDS } from './registry.js';
import { MeshKeyword } from './schema.js';

interface Row {
  field: string;
  type: string;
  support: string;
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
      return isRecord(s.additionalProperties) && !isRecord(s.properties) ? `map of ${typeOf(s.additionalProperties)}` : 'object';
    default:
      return String(s.type);
  }
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function walk(s: unknown, path: string, rows: Row[], inherited: string | undefined): void {
  if (!isRecord(s)) return;
  const unsupported = typeof s[MeshKeyword.unsupported] === 'string' ? (s[MeshKeyword.unsupported] as string) : undefined;
  const notUsed = unsupported ?? inherited;
  const notes: string[] = [];
  if (typeof s.description === 'string') notes.push(s.description);
  if (Array.isArray(s.enum)) notes.push(`one of ${(s.enum as string[]).map((v) => `\`${v}\``).join(', ')}`);
  if (typeof s[MeshKeyword.default] === 'string') notes.push(`default: ${s[MeshKeyword.default] as string}`);
  if (typeof s[MeshKeyword.deprecated] === 'string') notes.push(`deprecated: ${s[MeshKeyword.deprecated] as string}`);
  if (isRecord(s[MeshKeyword.deprecatedValues])) {
    for (const [v, why] of Object.entries(s[MeshKeyword.deprecatedValues] as Record<string, string>)) notes.push(`\`${v}\` deprecated: ${why}`);
  }
  if (unsupported) notes.push(`not implemented: ${unsupported}`);
  if (isRecord(s[MeshKeyword.unsupportedValues])) {
    for (const [v, why] of Object.entries(s[MeshKeyword.unsupportedValues] as Record<string, string>)) notes.push(`\`${v}\` not implemented: ${why}`);
  }
  const sameAs = typeof s.$ref === 'string';
  if (sameAs) notes.push('nested condition: same fields as its parent');
  if (path) rows.push({ field: `\`${path}\``, type: typeOf(s), support: notUsed ? '✖' : '✔', notes: notes.join('; ') });
  if (sameAs) return;
  const item = s.type === 'array' && isRecord(s.items) ? s.items : s;
  const suffix = s.type === 'array' ? '[]' : '';
  if (isRecord(item.properties)) {
    for (const [k, v] of Object.entries(item.properties)) walk(v, `${path}${suffix}${path || suffix ? '.' : ''}${k}`, rows, notUsed);
  } else if (item.type === 'object' && isRecord(item.additionalProperties) && isRecord(item.additionalProperties.properties)) {
    for (const [k, v] of Object.entries(item.additionalProperties.properties)) walk(v, `${path}${suffix}.<key>.${k}`, rows, notUsed);
  }
}

/** The Markdown table of one kind. */
export function supportTable(def: KindDefinition): string {
  const rows: Row[] = [];
  walk(def.spec, '', rows, undefined);
  const head = `#### ${def.kind} (\`${def.group}\` ${def.versions.join(', ')})\n\n${def.summary}. Reference: ${def.reference}\n`;
  const table = ['| Field (under `spec`) | Type | Supported | Notes |', '|---|---|---|---|', ...rows.map((r) => `| ${r.field} | ${r.type} | ${r.support} | ${cell(r.notes)} |`)].join('\n');
  return `${head}\n<details><summary>${rows.length} fields</summary>\n\n${table}\n\n</details>\n`;
}

/** Every kind's table, in registry order, as one Markdown block. */
export function supportTables(): string {
  return MESH_KINDS.map(supportTable).join('\n');
}
