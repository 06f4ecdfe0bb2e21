/**
 * re2js (RE2 semantics in JavaScript: linear-time matching, no backreferences), loaded on first use. It is 260 KB
 * of source and about 1.3 MB of a process's memory, and a sidecar whose config has no regular expression (most of
 * them) never needs it, so no module imports it at load time: they call `re2()` when a config names a regex.
 */
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';

let loaded: typeof RE2JS | undefined;

/** The RE2JS class, required synchronously (re2js's CommonJS build) the first time it is asked for. */
export function re2(): typeof RE2JS {
  return (loaded ??= (createRequire(import.meta.url)('re2js') as { RE2JS: typeof RE2JS }).RE2JS);
}
