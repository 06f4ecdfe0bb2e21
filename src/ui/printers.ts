/**
 * Printers for structured output (`-o yaml|json`), shared by every command that prints data.
 * The YAML engine is loaded only when YAML is printed (it costs ~25 ms at start-up).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The structured output formats a command may accept with `-o`. */
export type DataFormat = 'json' | 'yaml';

/** JSON as kubectl prints it: two-space indent, trailing newline. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** YAML without line folding or anchors, so output round-trips through kubectl unchanged. */
export function toYaml(value: unknown): string {
  const { stringify } = require('yaml') as typeof import('yaml');
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Prints `value` in the requested structured format. */
export function formatData(value: unknown, format: DataFormat): string {
  return format === 'json' ? toJson(value) : toYaml(value);
}
