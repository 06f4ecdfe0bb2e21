/**
 * Output of `meshctl analyze`: one line per finding in istioctl's shape,
 * `Error [MESH0101] (VirtualService reviews.default) vs.yaml:12 <what, and the fix>`, or JSON.
 */
import type { ChalkInstance } from 'chalk';
import type { Finding } from './context.js';
import type { Level, MessageType } from './messages.js';

/** The line of one finding (without colour when `style` has none). */
export function formatFinding(f: Finding, style?: ChalkInstance): string {
  const paint: Record<Level, (s: string) => string> = style
    ? { Error: style.red, Warning: style.yellow, Info: style.cyan }
    : { Error: (s) => s, Warning: (s) => s, Info: (s) => s };
  const parts = [`${paint[f.level](f.level)} [${f.type.code}]`];
  if (f.resource)
    parts.push(`(${f.resource.kind} ${f.resource.name}${f.resource.namespace ? `.${f.resource.namespace}` : ''})`);
  if (f.position) parts.push(`${f.position.file}:${f.position.line}`);
  parts.push(f.message);
  return parts.join(' ');
}

/** The JSON form of a finding (stable field names: scripts read them). */
export function findingJson(f: Finding): Record<string, unknown> {
  return {
    code: f.type.code,
    level: f.level,
    name: f.type.name,
    message: f.message,
    ...(f.resource
      ? {
          resource: {
            kind: f.resource.kind,
            name: f.resource.name,
            ...(f.resource.namespace ? { namespace: f.resource.namespace } : {}),
            ...(f.resource.apiVersion ? { apiVersion: f.resource.apiVersion } : {}),
          },
        }
      : {}),
    ...(f.position ? { origin: { file: f.position.file, line: f.position.line, column: f.position.column } } : {}),
    ...(f.field ? { field: f.field } : {}),
  };
}

/** The `--list` catalogue as rows: code, level, name, description. */
export function catalogueRows(types: readonly MessageType[]): string[][] {
  return types.map((t) => [t.code, t.level, t.name, t.description]);
}
