/**
 * Validation of a proxy config: the schema (shape, types, ranges) and then what a schema cannot
 * say (names that must resolve, regexes that must compile under RE2, unique names, one action per
 * route). Every problem comes with its field path, e.g. `listeners[0].chains[0].routeConfig`, so a
 * NACK tells the control plane, and an error tells the user, exactly what to fix.
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ProxyConfig } from './schema.js';
import { rootProblem, semanticProblems } from './semantic.js';

/** The outcome of validating a config. */
export type ValidationResult = { ok: true; config: ProxyConfig } | { ok: false; errors: string[] };

let compiled: TypeCheck<typeof ProxyConfig> | undefined;

function pointerToPath(pointer: string): string {
  let out = '';
  for (const part of pointer.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^[0-9]+$/.test(key)) out += `[${key}]`;
    else out += out === '' ? key : /^[A-Za-z_][\w-]*$/.test(key) ? `.${key}` : `["${key}"]`;
  }
  return out === '' ? '(root)' : out;
}

/** Validates `value` as a proxy config; returns it typed, or every problem with its path. */
export function validateProxyConfig(value: unknown): ValidationResult {
  const root = rootProblem(value);
  if (root !== undefined) return { ok: false, errors: [root] };
  compiled ??= TypeCompiler.Compile(ProxyConfig);
  if (!compiled.Check(value)) {
    const seen = new Map<string, string>();
    for (const e of compiled.Errors(value)) {
      const path = pointerToPath(e.path);
      // Unions report once per branch; the first message per path is the useful one.
      if (!seen.has(path)) seen.set(path, e.message);
    }
    // A parent reported only because a child failed adds nothing; keep the deepest paths.
    const paths = [...seen.keys()];
    const errors = paths
      .filter((p) => !paths.some((q) => q !== p && (q.startsWith(p + '.') || q.startsWith(p + '['))))
      .map((p) => `${p}: ${seen.get(p)!.toLowerCase()}`);
    return { ok: false, errors };
  }
  const errors = semanticProblems(value);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config: value };
}
