/**
 * What one proxy holds of one resource type on an incremental stream, as the control plane
 * tracks it to send only differences. Held as references to shared layers (not a per-proxy map
 * of thousands of names), plus the few names whose state is uncertain after a NACK.
 *
 * Optimistic like Envoy's delta servers: after a send, the proxy is assumed to hold what was sent.
 * A proxy answers responses in order, so a NACK means it holds what it had at its last ACK; the
 * names the NACKed response and any response sent after it touched become uncertain, and every
 * later response re-sends them (or removes them) until one that did is ACKed.
 */
import {
  diffLayers,
  diffWire,
  type EncodedLayer,
  type EncodedResource,
  type VersionedName,
} from './resource-encoding.js';

type Layers = ReadonlyMap<string, EncodedLayer<VersionedName>>;

interface Pending {
  readonly nonce: string;
  readonly version: string;
  /** What the proxy holds once it applies this response; undefined if built on a state a NACK invalidated. */
  layers: Layers | undefined;
  readonly changed: readonly EncodedResource[];
  readonly removed: readonly string[];
  /** Uncertain names this response settles. */
  readonly settles: readonly string[];
}

/** A delta to send: resources to add or replace, names to drop. */
export interface Delta {
  readonly changed: readonly EncodedResource[];
  /** The framed `changed` resources, in runs shared between proxies where possible. */
  readonly wires: readonly Buffer[];
  readonly removed: readonly string[];
  /** Identifies the desired set; equal digests mean nothing to send. */
  readonly digest: string;
  readonly layers: Layers;
}

/** Per proxy and type: what it is assumed to hold, what it acknowledged, what is in flight. */
export class DeltaTypeState {
  private assumed: Layers;
  private acked: Layers;
  private readonly uncertain = new Set<string>();
  private readonly pending: Pending[] = [];
  private lastDigest: string | undefined;
  private lastSent: Layers | undefined;

  /** `held`: what the proxy said it holds on subscribing (a reconnect), else nothing. */
  constructor(held?: EncodedLayer<VersionedName>) {
    this.assumed = this.acked = held && held.byName.size > 0 ? new Map([[held.key, held]]) : new Map();
  }

  /** The difference between what the proxy is assumed to hold and `desired`. */
  delta(desired: readonly EncodedLayer[]): Delta {
    const layers = new Map<string, EncodedLayer<VersionedName>>();
    for (const l of desired) layers.set(l.key, l);
    const digest = desired.map((l) => `${l.key}:${l.digest}`).join('|');
    const changed: EncodedResource[] = [];
    const wires: Buffer[] = [];
    const candidates: string[] = [];
    const held = (name: string): VersionedName | undefined => {
      for (const l of this.assumed.values()) {
        const r = l.byName.get(name);
        if (r) return r;
      }
      return undefined;
    };
    for (const l of desired) {
      const old = this.assumed.get(l.key);
      if (old === l) continue;
      if (!old && this.assumed.size > 0) {
        // A layer the proxy does not hold as such (a reconnect: it said what it holds, by name).
        for (const r of l.byName.values()) {
          if (held(r.name)?.version === r.version) continue;
          changed.push(r);
          wires.push(r.wire);
        }
        continue;
      }
      const d = diffLayers(old, l);
      if (d.changed.length > 0) {
        changed.push(...d.changed);
        wires.push(diffWire(d));
      }
      candidates.push(...d.removed);
    }
    for (const [key, old] of this.assumed) if (!layers.has(key)) candidates.push(...old.byName.keys());
    const find = (name: string): EncodedResource | undefined => {
      for (const l of desired) {
        const r = l.byName.get(name);
        if (r) return r;
      }
      return undefined;
    };
    // A name may move between layers: it is dropped only if no desired layer has it.
    const removed = new Set(candidates.filter((n) => !find(n)));
    if (this.uncertain.size > 0) {
      const have = new Set(changed.map((r) => r.name));
      for (const name of this.uncertain) {
        const r = find(name);
        if (!r) removed.add(name);
        else if (!have.has(name)) {
          changed.push(r);
          wires.push(r.wire);
        }
      }
    }
    return { changed, wires, removed: [...removed], digest, layers };
  }

  /** Whether `digest` is what was last sent (nothing new to say). */
  isCurrent(digest: string): boolean {
    return digest === this.lastDigest;
  }

  /** Records a response as sent. */
  sent(nonce: string, version: string, d: Delta): void {
    this.pending.push({
      nonce,
      version,
      layers: d.layers,
      changed: d.changed,
      removed: d.removed,
      settles: [...this.uncertain],
    });
    this.assumed = d.layers;
    this.lastSent = d.layers;
    this.lastDigest = d.digest;
  }

  /** Records that the desired set changed without any difference for this proxy (nothing sent). */
  unchanged(d: Delta): void {
    if (this.pending.length === 0 && this.uncertain.size === 0) this.acked = d.layers;
    this.assumed = d.layers;
    if (this.lastSent) this.lastSent = d.layers;
    this.lastDigest = d.digest;
  }

  /** The proxy applied the response `nonce`: returns its version, or undefined for an unknown nonce. */
  ack(nonce: string): string | undefined {
    const i = this.pending.findIndex((p) => p.nonce === nonce);
    if (i < 0) return undefined;
    const p = this.pending[i]!;
    this.pending.splice(0, i + 1);
    if (p.layers) {
      this.acked = p.layers;
      for (const n of p.settles) this.uncertain.delete(n);
    }
    return p.version;
  }

  /** The proxy rejected the response `nonce` and kept what it had. Returns false for an unknown nonce. */
  nack(nonce: string): boolean {
    const i = this.pending.findIndex((p) => p.nonce === nonce);
    if (i < 0) return false;
    for (const p of this.pending.slice(i)) {
      for (const r of p.changed) this.uncertain.add(r.name);
      for (const n of p.removed) this.uncertain.add(n);
      p.layers = undefined;
    }
    this.pending.splice(0, i + 1);
    this.assumed = this.acked;
    return true;
  }

  /** The layers of the last response (what the proxy holds once it applies it), even if it was rejected. */
  sentLayers(): Layers | undefined {
    return this.lastSent;
  }
}
