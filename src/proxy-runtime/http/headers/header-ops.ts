/**
 * Header manipulation (Istio Headers: set, add, remove on requests and responses), compiled into
 * flat arrays so applying it costs a loop and no allocation beyond the values themselves.
 */
import type { HeaderOperationsConfig } from '../../../protocol/proxy-config/index.js';
import type { HeaderMap } from '../../ground/types.js';

/** Compiled set/add/remove. */
export interface HeaderOps {
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
}

/** No-op operations. */
export const NO_HEADER_OPS: HeaderOps = { set: [], add: [], remove: [] };

/** Compiles header operations (names lowercased). */
export function compileHeaderOps(cfg: HeaderOperationsConfig | undefined): HeaderOps {
  if (!cfg) return NO_HEADER_OPS;
  return {
    set: Object.entries(cfg.set ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const),
    add: Object.entries(cfg.add ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const),
    remove: (cfg.remove ?? []).map((k) => k.toLowerCase()),
  };
}

/** Whether applying `ops` would change anything. */
export function hasHeaderOps(ops: HeaderOps): boolean {
  return ops.set.length + ops.add.length + ops.remove.length > 0;
}

/** Applies operations in Envoy's order: remove, then set (replace), then add (append). */
export function applyHeaderOps(h: HeaderMap, ops: HeaderOps): void {
  for (const name of ops.remove) delete h[name];
  for (const [name, value] of ops.set) h[name] = value;
  for (const [name, value] of ops.add) {
    const cur = h[name];
    if (cur === undefined) h[name] = value;
    else if (Array.isArray(cur)) h[name] = [...cur, value];
    else h[name] = [cur, value];
  }
}
