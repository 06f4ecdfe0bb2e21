/**
 * Per-type config generators. Each generator serves one resource type and answers two questions:
 * does this change concern this proxy's resources of my type (istiod's cdsNeedsPush/…), and what
 * are those resources now. Generators are pure functions of (proxy, snapshot), so the same
 * snapshot gives every proxy a consistent view and the debug API can recompute what a proxy should have.
 *
 * Adding a resource type (the authorization issue's policies, a gateway's listeners) is one object:
 * its `typeUrl`, the config kinds and registry facts it reads (`reads`), and `generate` (plus
 * `layers` where proxies share parts). Put it in the list of src/control-plane/generators/index.ts,
 * and take its kinds off src/config/enforcement.ts's "accepted, not enforced" list: the set refuses
 * to start while a kind is claimed by nothing, or by both a generator and that list.
 */
import type { ResourceLayer } from '../stream/resource-encoding.js';
import type { ProxyNode } from '../stream/source.js';
import type { ChangeSet, RegistryChange } from './change.js';
import type { PushSnapshot } from './snapshot.js';

/** A config kind as `group/Kind` (`networking.istio.io/VirtualService`; the core group is empty: `/Service`). */
export type KindRef = `${string}/${string}`;

/** What a generator's output depends on: config kinds and registry facts. */
export interface GeneratorInputs {
  readonly kinds: readonly KindRef[];
  readonly registry: readonly RegistryChange[];
}

/** A generator of one resource type. */
export interface ConfigGenerator {
  readonly typeUrl: string;
  /** What it reads; a change that names none of it does not regenerate this type. */
  readonly reads: GeneratorInputs;
  /**
   * A finer decision than `reads` (optional): whether `change` can alter what `generate` returns
   * for `proxy`. When in doubt: true. Only asked when `reads` says the change concerns the type.
   */
  concerns?(change: ChangeSet, proxy: ProxyNode, snapshot: PushSnapshot): boolean;
  /** The resources of this type for `proxy` (JSON-serialisable, in a stable order). */
  generate(proxy: ProxyNode, snapshot: PushSnapshot): unknown[];
  /**
   * The same resources as named layers, where a generator shares them between proxies: a layer
   * object many proxies get (the outbound part of a namespace) is encoded and diffed once per
   * snapshot instead of once per proxy. Optional: without it the stream names `generate`'s list.
   */
  layers?(proxy: ProxyNode, snapshot: PushSnapshot): readonly ResourceLayer[];
}

/** `group/Kind` of a config object or key. */
export function kindRef(group: string, kind: string): KindRef {
  return `${group}/${kind}`;
}

/** Whether a change names anything `inputs` reads: a full push, a kind it reads, or a registry fact it reads. */
export function readsChange(inputs: GeneratorInputs, change: ChangeSet): boolean {
  if (change.full) return true;
  if (change.registry.some((r) => inputs.registry.includes(r))) return true;
  return change.configs.some((k) =>
    inputs.kinds.some((ref) => (k.group === undefined ? ref.endsWith(`/${k.kind}`) : ref === kindRef(k.group, k.kind))),
  );
}

/** A kind that is neither enforced by a generator nor declared "accepted, not enforced", or is both. */
export class KindClaimError extends Error {
  constructor(
    readonly unclaimed: readonly KindRef[],
    readonly doubly: readonly KindRef[],
  ) {
    super(
      [
        unclaimed.length
          ? `config kinds no generator reads and not declared "accepted, not enforced": ${unclaimed.join(', ')}`
          : '',
        doubly.length ? `config kinds both read by a generator and declared not enforced: ${doubly.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('; ') + ' (add a generator that reads them, or list them in src/config/enforcement.ts)',
    );
    this.name = 'KindClaimError';
  }
}

/** Which kinds must be claimed, and which are declared accepted but not enforced. */
export interface KindClaims {
  readonly kinds: readonly KindRef[];
  readonly notEnforced: readonly KindRef[];
  /** Kinds read where workloads register (WorkloadGroup: `meshctl run --workload-group`), not by a generator. */
  readonly atRegistration?: readonly KindRef[];
}

/** The generators of a pipeline, by type URL. */
export class GeneratorSet {
  private readonly byType = new Map<string, ConfigGenerator>();

  /**
   * With `claims`, every kind must be read by some generator or declared not enforced (never both):
   * an unclaimed kind would be accepted and then silently push nothing.
   */
  constructor(generators: readonly ConfigGenerator[] = [], claims?: KindClaims) {
    for (const g of generators) this.add(g);
    if (claims) {
      const read = new Set(generators.flatMap((g) => g.reads.kinds));
      const declared = new Set(claims.notEnforced);
      const atRegistration = new Set(claims.atRegistration ?? []);
      const unclaimed = claims.kinds.filter((k) => !read.has(k) && !declared.has(k) && !atRegistration.has(k));
      const doubly = [...declared].filter((k) => read.has(k) || atRegistration.has(k));
      if (unclaimed.length || doubly.length) throw new KindClaimError(unclaimed, doubly);
    }
  }

  /** Registers a generator; a second one for the same type is a programming error. */
  add(generator: ConfigGenerator): void {
    if (this.byType.has(generator.typeUrl)) throw new Error(`two generators for ${generator.typeUrl}`);
    this.byType.set(generator.typeUrl, generator);
  }

  get(typeUrl: string): ConfigGenerator | undefined {
    return this.byType.get(typeUrl);
  }

  types(): string[] {
    return [...this.byType.keys()];
  }

  /** Whether `change` concerns `proxy`'s resources of `typeUrl`: what the generator reads, then its own decision. */
  concerns(typeUrl: string, change: ChangeSet, proxy: ProxyNode, snapshot: PushSnapshot): boolean {
    const g = this.byType.get(typeUrl);
    if (!g || !readsChange(g.reads, change)) return false;
    return g.concerns ? g.concerns(change, proxy, snapshot) : true;
  }
}
