/**
 * Regular expressions of the mesh API follow RE2 semantics, as in Istio (Envoy's safe_regex) and
 * Linkerd: no backreferences or lookaround, and matching in linear time, so no configuration can
 * make a proxy backtrack exponentially. Validation here and matching in the proxy both use re2js.
 */
import type { RE2JS } from 're2js';
import { re2 } from './re2.js';

const compiled = new Map<string, RE2JS | string>();
const CACHE_LIMIT = 2000;

function compileOrReason(pattern: string): RE2JS | string {
  let hit = compiled.get(pattern);
  if (hit === undefined) {
    try {
      hit = re2().compile(pattern);
    } catch (err) {
      hit = (err as Error).message.replace(/^error parsing regexp: /, '');
    }
    if (compiled.size >= CACHE_LIMIT) compiled.clear();
    compiled.set(pattern, hit);
  }
  return hit;
}

/** Why `pattern` is not a valid RE2 expression, or undefined when it is. */
export function regexProblem(pattern: string): string | undefined {
  const r = compileOrReason(pattern);
  return typeof r === 'string' ? r : undefined;
}

/**
 * A matcher with the mesh's semantics: the WHOLE value must match (Envoy safe_regex, Linkerd
 * pathRegex). Throws for an invalid pattern; validated config never has one.
 */
export function fullMatcher(pattern: string): (value: string) => boolean {
  const r = compileOrReason(pattern);
  if (typeof r === 'string') throw new Error(`invalid RE2 regex ${JSON.stringify(pattern)}: ${r}`);
  return (value) => r.matches(value);
}
