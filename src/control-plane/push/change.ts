/**
 * What changed since the last push, as istiod's PushRequest: the config objects touched, whether
 * the registry (services, workloads, endpoints) changed, and why. Changes arriving within the
 * debounce window merge into one.
 */
import type { ConfigKey } from './snapshot.js';

/** Registry facts that can change. */
export type RegistryChange = 'services' | 'workloads' | 'endpoints';

/** One (possibly merged) change. */
export interface ChangeSet {
  /** Everything may have changed (start-up, restart): every generator runs for every proxy. */
  readonly full: boolean;
  readonly configs: readonly ConfigKey[];
  readonly registry: readonly RegistryChange[];
  /** Human reasons, for the push log and the debug API. */
  readonly reasons: readonly string[];
}

/** A change of config objects. */
export function configChange(keys: readonly ConfigKey[], reason: string): ChangeSet {
  return { full: false, configs: keys, registry: [], reasons: [reason] };
}

/** A change of the registry. */
export function registryChange(what: readonly RegistryChange[], reason: string): ChangeSet {
  return { full: false, configs: [], registry: what, reasons: [reason] };
}

/** A change that concerns everything. */
export function fullChange(reason: string): ChangeSet {
  return { full: true, configs: [], registry: [], reasons: [reason] };
}

/** Merges two changes (the debouncer's job). */
export function mergeChanges(a: ChangeSet, b: ChangeSet): ChangeSet {
  const seen = new Set<string>();
  const configs = [...a.configs, ...b.configs].filter((k) => {
    const id = `${k.group ?? '*'}/${k.kind}/${k.namespace}/${k.name}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  return {
    full: a.full || b.full,
    configs,
    registry: [...new Set([...a.registry, ...b.registry])],
    reasons: [...a.reasons, ...b.reasons].slice(-20),
  };
}
