/**
 * The push pipeline: inputs (store + registry) -> debounced immutable snapshot -> per-type
 * generators that first check whether a change concerns them -> per-proxy resources -> the config
 * stream. Emits 'pushed' with what it did, for logs, the debug API and the benchmark.
 */
import { EventEmitter } from 'node:events';
import type { AdsServer } from '../stream/ads-server.js';
import type { GeneratedResources, ProxyConfigSource, ProxyNode } from '../stream/source.js';
import { assembleResources, nameResources } from '../../protocol/stream/resources.js';
import { fullChange, type ChangeSet } from './change.js';
import { Debouncer, DEFAULT_DEBOUNCE, type DebounceOptions } from './debouncer.js';
import { GeneratorSet } from './generator.js';
import { PushSnapshot, type SnapshotInputs } from './snapshot.js';
import { APPLIED_FROM_ANNOTATION } from '../../config/index.js';

/** What one push did. */
export interface PushRecord {
  readonly version: string;
  readonly reasons: readonly string[];
  /** How many changes the debouncer merged into this push. */
  readonly merged: number;
  /** Responses sent (proxy x type) that differed from what the proxy had. */
  readonly sent: number;
  /** Milliseconds to build the snapshot and generate + send. */
  readonly buildMs: number;
  readonly pushMs: number;
  readonly at: string;
}

/** Options of the pipeline. */
export interface PushPipelineOptions {
  readonly generators: GeneratorSet;
  /** Reads the current inputs (store objects, services, workloads) when a snapshot is built. */
  readonly inputs: () => SnapshotInputs;
  readonly debounce?: DebounceOptions;
  readonly log?: (line: string) => void;
}

/** Builds snapshots and pushes them to the stream. */
export class PushPipeline extends EventEmitter implements ProxyConfigSource {
  private current: PushSnapshot;
  private sequence = 0;
  private readonly debouncer: Debouncer;
  private ads: AdsServer | undefined;
  private readonly history: PushRecord[] = [];

  constructor(private readonly opts: PushPipelineOptions) {
    super();
    this.current = this.build();
    this.debouncer = new Debouncer((change, merged) => this.push(change, merged), opts.debounce ?? DEFAULT_DEBOUNCE);
  }

  /** The snapshot in force. */
  get snapshot(): PushSnapshot {
    return this.current;
  }

  get version(): string {
    return this.current.version;
  }

  /** Connects the pipeline to a stream server: it becomes the server's config source. */
  attach(ads: AdsServer): void {
    this.ads = ads;
    ads.setSource(this);
  }

  /** Reports a change; the push follows after the debounce window. */
  notify(change: ChangeSet): void {
    this.debouncer.add(change);
  }

  /** Rebuilds and pushes now, skipping the debounce (start-up, tests). */
  pushNow(change: ChangeSet = fullChange('explicit push')): PushRecord {
    this.debouncer.cancel();
    return this.push(change, 1);
  }

  /** Resources of `typeUrl` for `proxy` from the current snapshot (the stream's source contract). */
  generate(proxy: ProxyNode, typeUrl: string): GeneratedResources | undefined {
    const g = this.opts.generators.get(typeUrl);
    if (!g) return undefined;
    const snap = this.current;
    if (!g.layers) return { version: snap.version, resources: g.generate(proxy, snap) };
    let whole: unknown[] | undefined;
    // The whole list only for a state-of-the-world stream; incremental streams use the layers.
    return {
      version: snap.version,
      layers: g.layers(proxy, snap),
      get resources() {
        return (whole ??= g.generate(proxy, snap));
      },
    };
  }

  /**
   * The objects behind the clusters (`outbound|PORT|SUBSET|FQDN`: its DestinationRule) and virtual
   * hosts (`FQDN:PORT`: its VirtualService) a refusal names, as `DestinationRule reviews.default`,
   * followed by `(reviews.yaml:3)` when `meshctl apply` recorded where it was applied from.
   */
  describeSource(reason: string): string | undefined {
    const hosts = new Map<string, 'DestinationRule' | 'VirtualService'>();
    for (const m of reason.matchAll(/cluster "outbound\|\d*\|[^|"]*\|([^"]+)"/g)) hosts.set(m[1]!, 'DestinationRule');
    for (const m of reason.matchAll(/virtual host "([^":]+):\d+"/g)) hosts.set(m[1]!, 'VirtualService');
    const found = new Set<string>();
    for (const [fqdn, kind] of hosts) {
      for (const o of this.current.configs(kind)) {
        const ns = o.metadata.namespace ?? 'default';
        const spec = o.spec as { host?: string; hosts?: string[] };
        const names = kind === 'DestinationRule' ? [spec.host ?? ''] : (spec.hosts ?? []);
        // Short names resolve in the object's namespace, as Istio resolves them.
        if (
          names.some(
            (h) =>
              h === fqdn || `${h}.${ns}.svc.cluster.local` === fqdn || (h.includes('.') && fqdn.startsWith(`${h}.`)),
          )
        ) {
          // The file:line `meshctl apply` recorded, so the user is pointed at the YAML to fix.
          const from = (o.metadata as { annotations?: Record<string, string> }).annotations?.[APPLIED_FROM_ANNOTATION];
          found.add(`${kind} ${o.metadata.name}.${ns}${from ? ` (${from})` : ''}`);
        }
      }
    }
    return found.size ? [...found].sort().join(', ') : undefined;
  }

  /**
   * What the control plane would have `proxy` hold now, per type, as the proxy's config lists it
   * (resources in name order, split route tables joined): for `proxy-status NAME` and `proxy-config`.
   */
  desired(proxy: ProxyNode): Record<string, unknown[]> {
    const out: Record<string, unknown[]> = {};
    for (const t of this.opts.generators.types()) {
      const g = this.opts.generators.get(t)!;
      const named = g.layers
        ? g.layers(proxy, this.current).flatMap((l) => l.resources)
        : nameResources(g.generate(proxy, this.current));
      out[t] = assembleResources(t, named);
    }
    return out;
  }

  /** The most recent pushes, newest last. */
  recentPushes(): readonly PushRecord[] {
    return this.history;
  }

  close(): void {
    this.debouncer.cancel();
  }

  private build(): PushSnapshot {
    this.sequence++;
    const now = new Date();
    return new PushSnapshot(`${now.toISOString().replace(/\.\d+Z$/, 'Z')}/${this.sequence}`, this.opts.inputs(), now);
  }

  private push(change: ChangeSet, merged: number): PushRecord {
    const t0 = performance.now();
    const next = this.build();
    const t1 = performance.now();
    this.current = next;
    let sent = 0;
    if (this.ads) {
      sent = this.ads.push((proxy, typeUrl) => this.opts.generators.concerns(typeUrl, change, proxy, next));
    }
    const record: PushRecord = {
      version: next.version,
      reasons: change.reasons,
      merged,
      sent,
      buildMs: Math.round((t1 - t0) * 100) / 100,
      pushMs: Math.round((performance.now() - t1) * 100) / 100,
      at: next.createdAt.toISOString(),
    };
    this.history.push(record);
    if (this.history.length > 50) this.history.shift();
    this.opts.log?.(
      `push ${record.version}: ${change.full ? 'full' : `${change.configs.length} config(s), registry [${change.registry.join(', ')}]`} (${change.reasons.slice(0, 3).join('; ')}) -> ${sent} response(s)`,
    );
    this.emit('pushed', record);
    return record;
  }
}
