/** Printers for structured output (`-o yaml|json`), shared by every command that prints data. */
import { stringify } from 'yaml';

/** The structured output formats a command may accept with `-o`. */
export type DataFormat = 'json' | 'yaml';

/** JSON as kubectl prints it: two-space indent, trailing newline. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** YAML without line folding or anchors, so output round-trips through kubectl unchanged. */
export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Prints `value` in the requested structured format. */
export function formatData(value: unknown, format: DataFormat): string {
  return format === 'json' ? toJson(value) : toYaml(value);
}
