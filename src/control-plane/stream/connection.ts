/**
 * One proxy's stream: who it is, what it subscribed to, and per type what was sent and what the
 * proxy answered (ACK/NACK). This is what the debug API and `proxy-status` read.
 */
import { createHash, randomBytes } from 'node:crypto';
import { deriveSyncStatus, type SyncStatus, type TypeSyncState } from '../../protocol/stream/sync-status.js';
import type { DiscoveryResponse } from '../../protocol/stream/messages.js';
import type { GeneratedResources, ProxyNode } from './source.js';

/**
 * Encodings are cached per resources array and per resource object: a config shared by many
 * proxies is encoded once, and so is a resource shared by configs that differ elsewhere (the
 * outbound clusters and routes every proxy of a namespace gets, next to its own inbound ones).
 * Generated resources are never mutated (they come from immutable snapshots), so identity is enough.
 */
const encodings = new WeakMap<readonly unknown[], { bodies: Buffer[]; digest: string }>();
const resourceEncodings = new WeakMap<object, { body: Buffer; digest: Buffer }>();

function encodeResource(resource: unknown): { body: Buffer; digest: Buffer } {
  const cacheable = typeof resource === 'object' && resource !== null;
  let e = cacheable ? resourceEncodings.get(resource) : undefined;
  if (!e) {
    const body = Buffer.from(JSON.stringify(resource));
    e = { body, digest: createHash('sha256').update(body).digest() };
    if (cacheable) resourceEncodings.set(resource, e);
  }
  return e;
}

function encode(resources: readonly unknown[]): { bodies: Buffer[]; digest: string } {
  let e = encodings.get(resources);
  if (!e) {
    const encoded = resources.map(encodeResource);
    // The digest of the list is over the resources' digests: cheap for large shared resources.
    const digest = createHash('sha256').update(Buffer.concat(encoded.map((r) => r.digest))).digest('hex');
    e = { bodies: encoded.map((r) => r.body), digest };
    encodings.set(resources, e);
  }
  return e;
}

/** Per-type record: sync state plus the hash of what was last sent (to skip identical pushes). */
interface TypeRecord {
  state: TypeSyncState;
  sentHash?: string;
  sentResources?: readonly unknown[];
}

/** A snapshot of one connection, for the debug API. */
export interface ConnectionView {
  readonly proxy: ProxyNode;
  readonly connectionId: string;
  readonly peer: string;
  readonly spiffeId: string;
  readonly certificateExpiry?: string;
  readonly connectedAt: string;
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
    private readonly send: (response: DiscoveryResponse) => void,
  ) {}

  /** The types this proxy asked for, in subscription order. */
  subscribedTypes(): string[] {
    return [...this.types.keys()];
  }

  isSubscribed(typeUrl: string): boolean {
    return this.types.has(typeUrl);
  }

  /** Records a subscription (the first request of a type on this stream). */
  subscribe(typeUrl: string): void {
    if (!this.types.has(typeUrl)) this.types.set(typeUrl, { state: {} });
  }

  /**
   * Sends `generated` unless it is identical to what was last sent (unless `force`, for the first
   * response on a stream). Returns whether it sent.
   */
  push(typeUrl: string, generated: GeneratedResources, force = false): boolean {
    const record = this.types.get(typeUrl);
    if (!record) return false;
    const { bodies, digest } = encode(generated.resources);
    if (!force && digest === record.sentHash) return false;
    const nonce = `${this.connectionId}-${++this.nonceCounter}`;
    record.sentHash = digest;
    record.sentResources = generated.resources;
    record.state = { ...record.state, sentVersion: generated.version, sentNonce: nonce, sentAt: new Date().toISOString() };
    this.send({ version_info: generated.version, resources: bodies, type_url: typeUrl, nonce });
    return true;
  }

  /**
   * Records the proxy's answer to a response. Answers to an older nonce than the last sent are
   * stale (the proxy had not seen the newer one yet) and ignored, as xDS servers do.
   */
  answer(typeUrl: string, nonce: string, versionInfo: string, error: string | undefined): 'ack' | 'nack' | 'stale' {
    const record = this.types.get(typeUrl);
    if (!record || nonce !== record.state.sentNonce) return 'stale';
    const at = new Date().toISOString();
    if (error !== undefined) {
      record.state = { ...record.state, lastNack: { nonce, keptVersion: versionInfo, message: error, at } };
      return 'nack';
    }
    record.state = { ...record.state, ackedVersion: versionInfo, ackedNonce: nonce, ackedAt: at };
    return 'ack';
  }

  /** What was last sent of a type (for `proxy-status NAME` diffs). */
  lastSent(typeUrl: string): readonly unknown[] | undefined {
    return this.types.get(typeUrl)?.sentResources;
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
      types,
    };
  }
}
