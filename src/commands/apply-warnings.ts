/**
 * What `apply` warns about after storing: every field or kind the mesh accepts but does not enforce
 * (MESH0002, as `meshctl analyze` reports it), so an object that changes no traffic never looks applied
 * and working. Pure: texts in, warning lines out.
 */
import { manifestObjects, parseDocuments, validateResource } from '../config/index.js';

/** One `Warning [MESH0002] (Kind name.namespace) file:line: field: message` line per accepted-but-not-enforced finding. */
export function notEnforcedWarnings(
  sources: readonly { file: string; text: string }[],
  defaultNamespace: string,
): string[] {
  const lines: string[] = [];
  for (const s of sources) {
    for (const input of manifestObjects(parseDocuments(s.text, s.file))) {
      const r = validateResource(input, { defaultNamespace });
      if (r.errors.length) continue;
      for (const w of r.warnings) {
        if (w.rule !== 'unsupported') continue;
        const where = w.position ? `${w.position.file}:${w.position.line}: ` : '';
        const who = `${r.identity.kind} ${r.identity.name}${r.identity.namespace ? `.${r.identity.namespace}` : ''}`;
        lines.push(`Warning [MESH0002] (${who}) ${where}${w.field ? `${w.field}: ` : ''}${w.message}`);
      }
    }
  }
  return lines;
}
