/**
 * Printers for structured output (`-o yaml|json`), shared by every command that prints data.
 * The YAML engine is loaded only when YAML is printed (it costs ~25 ms at start-up).
 */
import { createRequire } from 'node:module';
import { stringifyForKubernetes } from './kube-yaml.js';

const require = createRequire(import.meta.url);

/** The structured output formats a command may accept with `-o`. */
export type DataFormat = 'json' | 'yaml';

/** JSON as kubectl prints it: two-space indent, trailing newline. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/**
 * YAML without line folding or anchors, with strings quoted wherever Kubernetes (YAML 1.1) would
 * read them as something else, so output round-trips through kubectl unchanged.
 */
export function toYaml(value: unknown): string {
  return stringifyForKubernetes(value);
}

/** Prints `value` in the requested structured format. */
export function formatData(value: unknown, format: DataFormat): string {
  return format === 'json' ? toJson(value) : toYaml(value);
}
