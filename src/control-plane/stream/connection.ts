/**
 * One proxy's stream: who it is, what it subscribed to, and per type what was sent and what the
 * proxy answered (ACK/NACK). This is what the debug API and `proxy-status` read.
 *
 * Two protocols: state of the world (every response carries the whole type) and incremental
 * (delta: only resources whose version changed, and removed names). Either way a type's
 * `version_info` is the snapshot version of its last response, and a response is sent only when
 * what the proxy should hold differs from what it was last sent.
 */
import { randomBytes } from 'node:crypto';
import { deriveSyncStatus, type SyncStatus, type TypeSyncState } from '../../protocol/stream/sync-status.js';
import type { DiscoveryResponse } from '../../protocol/stream/messages.js';
import { assembleResources } from '../../protocol/stream/resources.js';
import { MAX_STREAM_MESSAGE_BYTES, formatBytes } from '../../config/limits.js';
import { DeltaTypeState } from './delta-state.js';
import {
  EncodedMessage,
  encodeDeltaResponse,
  encodeLayer,
  encodeList,
  layerOfList,
  versionsLayer,
} from './resource-encoding.js';
import type { GeneratedResources, ProxyNode } from './source.js';

/** Which protocol a stream speaks. */
export type StreamProtocol = 'sotw' | 'delta';

/** Per-type record: sync state plus what is needed to skip identical pushes and compute deltas. */
interface TypeRecord {
  state: TypeSyncState;
  /** State of the world: the digest and list last sent. */
  sentHash?: string;
  sentResources?: readonly unknown[];
  /** Incremental. */
  delta?: DeltaTypeState;
}

/** A snapshot of one connection, for the debug API. */
export interface ConnectionView {
  readonly proxy: ProxyNode;
  readonly connectionId: string;
  readonly peer: string;
  readonly spiffeId: string;
  readonly certificateExpiry?: string;
  readonly connectedAt: string;
  /** `delta` (incremental) or `sotw` (state of the world). */
  readonly protocol: StreamProtocol;
  readonly types: Record<string, TypeSyncState & { status: SyncStatus }>;
}

/** The state of one proxy's stream. */
export class ProxyConnection {
  readonly connectionId = randomBytes(6).toString('hex');
  readonly connectedAt = new Date().toISOString();
  private readonly types = new Map<string, TypeRecord>();
  private nonceCounter = 0;

  constructor(
    readonly proxy: ProxyNode,
    readonly peer: string,
    readonly spiffeId: string,
    readonly certificateExpiry: string | undefined,
    private readonly send: (response: DiscoveryResponse | EncodedMessage) => void,
    readonly protocol: StreamProtocol = 'sotw',
  ) {}

  /** The types this proxy asked for, in subscription order. */
  subscribedTypes(): string[] {
    return [...this.types.keys()];
  }

  isSubscribed(typeUrl: string): boolean {
    return this.types.has(typeUrl);
  }

  /** Records a subscription (the first request of a type on this stream), with what an incremental proxy says it holds. */
  subscribe(typeUrl: string, held?: Readonly<Record<string, string>>): void {
    if (this.types.has(typeUrl)) return;
    this.types.set(typeUrl, {
      state: {},
      ...(this.protocol === 'delta' ? { delta: new DeltaTypeState(held ? versionsLayer(held) : undefined) } : {}),
    });
  }

  /**
   * Sends what `generated` changes for this proxy, unless nothing (`force`: the first response
   * on a stream goes out even if empty, so the proxy knows it is current). Returns whether it sent.
   */
  push(typeUrl: string, generated: GeneratedResources, force = false): boolean {
    const record = this.types.get(typeUrl);
    if (!record) return false;
    return record.delta
      ? this.pushDelta(typeUrl, record, record.delta, generated, force)
      : this.pushWhole(typeUrl, record, generated, force);
  }

  private pushWhole(typeUrl: string, record: TypeRecord, generated: GeneratedResources, force: boolean): boolean {
    const { bodies, digest } = encodeList(generated.resources);
    if (!force && digest === record.sentHash) return false;
    let size = 0;
    for (const b of bodies) size += b.length;
    if (size > MAX_STREAM_MESSAGE_BYTES) return this.refuseOversize(typeUrl, record, generated.version, size);
    const nonce = this.nextNonce();
    record.sentHash = digest;
    record.sentResources = generated.resources;
    this.recordSent(record, generated.version, nonce);
    this.send({ version_info: generated.version, resources: bodies, type_url: typeUrl, nonce });
    return true;
  }

  private pushDelta(
    typeUrl: string,
    record: TypeRecord,
    state: DeltaTypeState,
    generated: GeneratedResources,
    force: boolean,
  ): boolean {
    const layers = (generated.layers ?? [layerOfList(generated.resources)]).map(encodeLayer);
    const d = state.delta(layers);
    if (!force && state.isCurrent(d.digest)) return false;
    if (!force && d.changed.length === 0 && d.removed.length === 0) {
      state.unchanged(d);
      return false;
    }
    let size = 0;
    for (const w of d.wires) size += w.length;
    if (size > MAX_STREAM_MESSAGE_BYTES) return this.refuseOversize(typeUrl, record, generated.version, size);
    const nonce = this.nextNonce();
    state.sent(nonce, generated.version, d);
    this.recordSent(record, generated.version, nonce);
    const { wires, removed } = d;
    this.send(new EncodedMessage(() => encodeDeltaResponse(generated.version, wires, typeUrl, nonce, removed), size));
    return true;
  }

  /**
   * A response larger than a proxy accepts is not sent (the proxy would drop the stream and
   * reconnect in a loop): the type shows NACKED with the reason, and the proxy keeps its config.
   */
  private refuseOversize(typeUrl: string, record: TypeRecord, version: string, size: number): boolean {
    const nonce = this.nextNonce();
    this.recordSent(record, version, nonce);
    const type = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    const message =
      `not sent by the control plane: the ${type} for this proxy are ${formatBytes(size)}, above the ${formatBytes(MAX_STREAM_MESSAGE_BYTES)} ` +
      'a proxy accepts in one response; the proxy keeps its last config. Make the config objects that reach it smaller';
    record.state = {
      ...record.state,
      lastNack: { nonce, keptVersion: record.state.ackedVersion ?? '', message, at: new Date().toISOString() },
    };
    this.oversize?.(typeUrl, message);
    return false;
  }

  /** Told when a response was too large to send (for the control plane's log). */
  oversize: ((typeUrl: string, message: string) => void) | undefined;

  private nextNonce(): string {
    return `${this.connectionId}-${++this.nonceCounter}`;
  }

  private recordSent(record: TypeRecord, version: string, nonce: string): void {
    record.state = { ...record.state, sentVersion: version, sentNonce: nonce, sentAt: new Date().toISOString() };
  }

  /**
   * Records the proxy's answer to a response. `versionInfo` is what a state-of-the-world proxy
   * says it runs; an incremental proxy's version is the one sent with that nonce. Answers to an
   * older nonce than the last sent are stale for the sync state (the proxy had not seen the
   * newer one yet), as xDS servers treat them, but still settle what the proxy holds.
   */
  answer(
    typeUrl: string,
    nonce: string,
    versionInfo: string | undefined,
    error: string | undefined,
  ): 'ack' | 'nack' | 'stale' {
    const record = this.types.get(typeUrl);
    if (!record) return 'stale';
    let version = versionInfo;
    if (record.delta) {
      if (error === undefined) version = record.delta.ack(nonce);
      else record.delta.nack(nonce);
    }
    if (nonce !== record.state.sentNonce) return 'stale';
    const at = new Date().toISOString();
    if (error !== undefined) {
      record.state = {
        ...record.state,
        lastNack: {
          nonce,
          keptVersion: (record.delta ? record.state.ackedVersion : versionInfo) ?? '',
          message: error,
          at,
        },
      };
      return 'nack';
    }
    record.state = { ...record.state, ackedVersion: version ?? '', ackedNonce: nonce, ackedAt: at };
    return 'ack';
  }

  /** What the proxy holds once it applies the last response of a type (for `proxy-status NAME` diffs). */
  lastSent(typeUrl: string): readonly unknown[] | undefined {
    const record = this.types.get(typeUrl);
    if (!record?.delta) return record?.sentResources;
    const layers = record.delta.sentLayers();
    if (!layers) return undefined;
    const named = [];
    for (const l of layers.values())
      for (const r of l.byName.values())
        if ('body' in r)
          named.push({ name: r.name, resource: JSON.parse((r as { body: Buffer }).body.toString('utf8')) as unknown });
    return assembleResources(typeUrl, named);
  }

  view(): ConnectionView {
    const types: ConnectionView['types'] = {};
    for (const [typeUrl, r] of this.types) types[typeUrl] = { ...r.state, status: deriveSyncStatus(r.state) };
    return {
      proxy: this.proxy,
      connectionId: this.connectionId,
      peer: this.peer,
      spiffeId: this.spiffeId,
      ...(this.certificateExpiry ? { certificateExpiry: this.certificateExpiry } : {}),
      connectedAt: this.connectedAt,
      protocol: this.protocol,
      types,
    };
  }
}
