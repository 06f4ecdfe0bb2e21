/**
 * Which mesh kinds take effect today. A kind is enforced when a control-plane generator reads it
 * (src/control-plane/generators), or where workloads register (REGISTRATION_KINDS); the kinds of
 * NOT_ENFORCED_KINDS are accepted (validated, stored, listed) but change no traffic yet, and say so:
 * `apply` and `analyze` warn about every object of them (MESH0002), and the control plane refuses to
 * start while a kind is in none of these.
 * When a generator starts reading one of these kinds, take it off this list (the same check fails
 * while it is on both).
 */
import { MESH_KINDS } from './registry.js';

/** A kind accepted but not enforced, and what is missing. */
export interface NotEnforcedKind {
  readonly group: string;
  readonly kind: string;
  readonly why: string;
}

/** The accepted-but-not-enforced kinds. */
export const NOT_ENFORCED_KINDS: readonly NotEnforcedKind[] = [];

/**
 * Kinds read where workloads register rather than by a config generator, and by what: they take
 * effect when a workload joins, so no push regenerates anything when they change.
 */
export const REGISTRATION_KINDS: readonly { readonly group: string; readonly kind: string; readonly readBy: string }[] =
  [{ group: 'networking.istio.io', kind: 'WorkloadGroup', readBy: '`meshctl run --workload-group` (local platform)' }];

/** Why objects of `group`/`kind` have no effect, or undefined when the kind is enforced. */
export function notEnforced(group: string, kind: string): NotEnforcedKind | undefined {
  return NOT_ENFORCED_KINDS.find((k) => k.group === group && k.kind === kind);
}

/** Every mesh kind (Services are registry input, not config: generators read them as `services`). */
export function configKinds(): { group: string; kind: string }[] {
  return MESH_KINDS.map((k) => ({ group: k.group, kind: k.kind }));
}
