/**
 * Per-type config generators. Each generator serves one resource type and answers two questions:
 * does this change concern this proxy's resources of my type (istiod's cdsNeedsPush/…), and what
 * are those resources now. Generators are pure functions of (proxy, snapshot), so the same
 * snapshot gives every proxy a consistent view and the debug API can recompute what a proxy should have.
 */
import type { ResourceLayer } from '../stream/resource-encoding.js';
import type { ProxyNode } from '../stream/source.js';
import { changedKinds, type ChangeSet, type RegistryChange } from './change.js';
import type { PushSnapshot } from './snapshot.js';

/** A generator of one resource type. */
export interface ConfigGenerator {
  readonly typeUrl: string;
  /** Whether `change` can alter what `generate` returns for `proxy`. When in doubt: true. */
  concerns(change: ChangeSet, proxy: ProxyNode, snapshot: PushSnapshot): boolean;
  /** The resources of this type for `proxy` (JSON-serialisable, in a stable order). */
  generate(proxy: ProxyNode, snapshot: PushSnapshot): unknown[];
  /**
   * The same resources as named layers, where a generator shares them between proxies: a layer
   * object many proxies get (the outbound part of a namespace) is encoded and diffed once per
   * snapshot instead of once per proxy. Optional: without it the stream names `generate`'s list.
   */
  layers?(proxy: ProxyNode, snapshot: PushSnapshot): readonly ResourceLayer[];
}

/** What a generator's output depends on: config kinds and registry facts. */
export interface GeneratorInputs {
  readonly kinds: readonly string[];
  readonly registry: readonly RegistryChange[];
}

/** The usual `concerns`: a full push, a changed kind the generator reads, or a registry fact it reads. */
export function concernsByInputs(inputs: GeneratorInputs): ConfigGenerator['concerns'] {
  const kinds = new Set(inputs.kinds);
  return (change) => {
    if (change.full) return true;
    for (const k of changedKinds(change)) if (kinds.has(k)) return true;
    return change.registry.some((r) => inputs.registry.includes(r));
  };
}

/** The generators of a pipeline, by type URL. */
export class GeneratorSet {
  private readonly byType = new Map<string, ConfigGenerator>();

  constructor(generators: readonly ConfigGenerator[] = []) {
    for (const g of generators) this.add(g);
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
}
