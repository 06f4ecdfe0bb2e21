/**
 * Validation of a proxy config on the proxy's path, without TypeBox: the schema's check compiled ahead of time
 * (shape-check.generated.ts) and the checks after it (semantic.ts). Only a config that fails the shape check loads the
 * full validator (validate.ts, TypeBox), which names every problem with its path for the NACK.
 */
import { checkProxyConfigShape } from './shape-check.generated.js';
import { rootProblem, semanticProblems } from './semantic.js';
import type { ProxyConfig } from './schema.js';
import type { ValidationResult } from './validate.js';

/** Validates `value` as `validateProxyConfig` does (same result), loading TypeBox only when its shape is wrong. */
export async function validateProxyConfigLazily(value: unknown): Promise<ValidationResult> {
  const root = rootProblem(value);
  if (root !== undefined) return { ok: false, errors: [root] };
  if (!checkProxyConfigShape(value)) return (await import('./validate.js')).validateProxyConfig(value);
  const errors = semanticProblems(value as ProxyConfig);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config: value as ProxyConfig };
}
