/**
 * Encoding once, sending many times. A resource is JSON-encoded, hashed (its version) and
 * protobuf-framed once per object; a layer (a list of named resources many proxies share, e.g.
 * the outbound clusters of a namespace in one snapshot) is indexed and digested once; the
 * difference between two layers is computed once. A delta response is then a concatenation of
 * bytes already made: no proxy pays for serialising content another proxy already got.
 * Generated objects are never mutated (they come from immutable snapshots), so identity is the key.
 */
import { createHash } from 'node:crypto';
import { nameResources, type NamedResource } from '../../protocol/stream/resources.js';

/** What a proxy is known to hold of one resource: its name and version. */
export interface VersionedName {
  readonly name: string;
  readonly version: string;
}

/** A resource ready to send: JSON body, content version, and its protobuf `Resource` entry. */
export interface EncodedResource extends VersionedName {
  readonly body: Buffer;
  /** Field 2 of a DeltaDiscoveryResponse (tag, length, Resource message), ready to concatenate. */
  readonly wire: Buffer;
}

/** A named list of resources shared by identity, as a generator returns it. */
export interface ResourceLayer {
  /** Which part of a proxy's config this is (e.g. `outbound`, `own`): layers are diffed by key. */
  readonly key: string;
  readonly resources: readonly NamedResource[];
}

/** A layer indexed by name, with a digest of its (name, version) set. */
export interface EncodedLayer<R extends VersionedName = EncodedResource> {
  readonly key: string;
  readonly byName: ReadonlyMap<string, R>;
  readonly digest: string;
}

/** What changed from one layer to another. */
export interface LayerDiff {
  readonly changed: readonly EncodedResource[];
  readonly removed: readonly string[];
}

/**
 * A pre-encoded message: the stream's serializer passes its bytes through unchanged. Made from a
 * function, the bytes are built only when the message is written (a queued initial sync holds
 * references to shared encoded resources, not its own ~1 MiB copy).
 */
export class EncodedMessage {
  private encoded: Buffer | undefined;
  private build: (() => Buffer) | undefined;

  constructor(
    source: Buffer | (() => Buffer),
    /** About how many bytes it encodes to (for send budgets), without encoding it. */
    readonly sizeHint: number = Buffer.isBuffer(source) ? source.length : 0,
  ) {
    if (Buffer.isBuffer(source)) this.encoded = source;
    else this.build = source;
  }

  get bytes(): Buffer {
    if (!this.encoded) {
      this.encoded = this.build!();
      this.build = undefined;
    }
    return this.encoded;
  }
}

// --- protobuf framing (length-delimited fields only: strings, bytes, messages) ---

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

function field(no: number, payload: Buffer): Buffer[] {
  return [Buffer.from([(no << 3) | 2]), varint(payload.length), payload];
}

const text = (s: string): Buffer => Buffer.from(s, 'utf8');

/** A DeltaDiscoveryResponse (mesh.proto) from already framed resources (`wires`: EncodedResource.wire, or runs of them). */
export function encodeDeltaResponse(
  systemVersion: string,
  wires: readonly Buffer[],
  typeUrl: string,
  nonce: string,
  removed: readonly string[],
): Buffer {
  const parts: Buffer[] = [];
  if (systemVersion) parts.push(...field(1, text(systemVersion)));
  parts.push(...wires);
  parts.push(...field(3, text(typeUrl)), ...field(4, text(nonce)));
  for (const name of removed) parts.push(...field(5, text(name)));
  return Buffer.concat(parts);
}

// --- caches ---

const bodies = new WeakMap<object, { body: Buffer; version: string }>();
const encodedNamed = new WeakMap<NamedResource, EncodedResource>();
const encodedLayers = new WeakMap<ResourceLayer, EncodedLayer>();
const diffs = new WeakMap<EncodedLayer<VersionedName>, WeakMap<EncodedLayer, LayerDiff>>();
const wholeDiffs = new WeakMap<EncodedLayer, LayerDiff>();
const diffWires = new WeakMap<LayerDiff, Buffer>();
const listLayers = new WeakMap<readonly unknown[], ResourceLayer>();
const lists = new WeakMap<readonly unknown[], { bodies: Buffer[]; digest: string }>();

/**
 * Content-keyed caches, bounded: a proxy's own resources are new objects in every snapshot but
 * mostly the same content (and many proxies share content, e.g. their passthrough cluster), so
 * equal JSON is hashed and framed once.
 */
const CONTENT_CACHE_LIMIT = 100_000;
const bodiesByJson = new Map<string, { body: Buffer; version: string }>();
const framedByVersion = new Map<string, EncodedResource>();

/**
 * A copy of a small buffer in its own memory. Node allocates small buffers as slices of shared 8 KiB
 * slabs; a kept slice keeps its whole slab alive, so thousands of kept small resources (every
 * proxy's own) would pin megabytes of otherwise garbage slabs.
 */
function ownedBuffer(b: Buffer): Buffer {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length) return b;
  const out = Buffer.allocUnsafeSlow(b.length);
  b.copy(out);
  return out;
}

function bounded<K, V>(map: Map<K, V>, key: K, value: V): V {
  if (map.size >= CONTENT_CACHE_LIMIT) map.clear();
  map.set(key, value);
  return value;
}

function encodeBody(resource: unknown): { body: Buffer; version: string } {
  const cacheable = typeof resource === 'object' && resource !== null;
  let e = cacheable ? bodies.get(resource) : undefined;
  if (!e) {
    const json = JSON.stringify(resource);
    // Large resources (shared layers) are cached by object only: keeping their text as keys costs memory for nothing.
    e = json.length <= 4096 ? bodiesByJson.get(json) : undefined;
    if (!e) {
      const body = ownedBuffer(Buffer.from(json));
      e = { body, version: createHash('sha256').update(body).digest('base64url').slice(0, 16) };
      if (json.length <= 4096) bounded(bodiesByJson, json, e);
    }
    if (cacheable) bodies.set(resource, e);
  }
  return e;
}

/** Encodes one named resource (cached per object). */
export function encodeResource(named: NamedResource): EncodedResource {
  let e = encodedNamed.get(named);
  if (!e) {
    const { body, version } = encodeBody(named.resource);
    const key = `${named.name}\0${version}`;
    e = framedByVersion.get(key);
    if (!e) {
      const message = Buffer.concat([...field(1, text(named.name)), ...field(2, text(version)), ...field(3, body)]);
      e = { name: named.name, version, body, wire: ownedBuffer(Buffer.concat(field(2, message))) };
      if (body.length <= 4096) bounded(framedByVersion, key, e);
    }
    encodedNamed.set(named, e);
  }
  return e;
}

/** The digest of a set of (name, version): what the per-type "config hash" of a proxy is made of. */
function digestOf(entries: Iterable<VersionedName>): string {
  const lines = [...entries].map((e) => `${e.name}\0${e.version}\n`).sort();
  return createHash('sha256').update(lines.join('')).digest('base64url').slice(0, 22);
}

/** Encodes and indexes a layer (cached per layer object). */
export function encodeLayer(layer: ResourceLayer): EncodedLayer {
  let e = encodedLayers.get(layer);
  if (!e) {
    const byName = new Map<string, EncodedResource>();
    for (const r of layer.resources) byName.set(r.name, encodeResource(r));
    e = { key: layer.key, byName, digest: digestOf(byName.values()) };
    encodedLayers.set(layer, e);
  }
  return e;
}

/** A whole list of resources (state of the world) as one layer, cached per list. */
export function layerOfList(resources: readonly unknown[]): ResourceLayer {
  let l = listLayers.get(resources);
  if (!l) {
    l = { key: 'all', resources: nameResources(resources) };
    listLayers.set(resources, l);
  }
  return l;
}

/** What a proxy says it holds (first request of a reconnecting proxy), as a layer of versions. */
export function versionsLayer(versions: Readonly<Record<string, string>>): EncodedLayer<VersionedName> {
  const byName = new Map<string, VersionedName>();
  for (const [name, version] of Object.entries(versions)) byName.set(name, { name, version });
  return { key: 'held', byName, digest: digestOf(byName.values()) };
}

/** What changed from `from` to `to` (cached per pair: proxies sharing both layers share the diff). */
export function diffLayers(from: EncodedLayer<VersionedName> | undefined, to: EncodedLayer): LayerDiff {
  if (!from) {
    let whole = wholeDiffs.get(to);
    if (!whole) wholeDiffs.set(to, (whole = { changed: [...to.byName.values()], removed: [] }));
    return whole;
  }
  let byTo = diffs.get(from);
  let d = byTo?.get(to);
  if (d) return d;
  const changed: EncodedResource[] = [];
  const removed: string[] = [];
  for (const [name, r] of to.byName) if (from.byName.get(name)?.version !== r.version) changed.push(r);
  for (const name of from.byName.keys()) if (!to.byName.has(name)) removed.push(name);
  d = { changed, removed };
  if (!byTo) diffs.set(from, (byTo = new WeakMap()));
  byTo.set(to, d);
  return d;
}

/** The framed resources of a diff as one buffer, made once per diff (every proxy given that diff shares it). */
export function diffWire(d: LayerDiff): Buffer {
  let w = diffWires.get(d);
  if (!w) diffWires.set(d, (w = Buffer.concat(d.changed.map((r) => r.wire))));
  return w;
}

/** State-of-the-world encoding of a list: bodies and a digest (cached per list). */
export function encodeList(resources: readonly unknown[]): { bodies: Buffer[]; digest: string } {
  let e = lists.get(resources);
  if (!e) {
    const list = [...encodeLayer(layerOfList(resources)).byName.values()];
    e = {
      bodies: list.map((r) => r.body),
      digest: createHash('sha256')
        .update(list.map((r) => r.version).join('\n'))
        .digest('hex'),
    };
    lists.set(resources, e);
  }
  return e;
}
