/**
 * The config stream, server side: authenticates each proxy by its certificate, answers
 * subscriptions with the current config at once (so a reconnecting proxy is current immediately),
 * pushes new versions when the snapshot changes, and records ACKs and NACKs per type.
 */
import { EventEmitter } from 'node:events';
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Grpc } from '../../protocol/stream/grpc.js';
import type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
  NodeMessage,
  StatusMessage,
} from '../../protocol/stream/messages.js';
import { parseSpiffeUri, spiffeUri } from '../../protocol/pki/spiffe.js';
import { ProxyConnection, type ConnectionView, type StreamProtocol } from './connection.js';
import { EncodedMessage } from './resource-encoding.js';
import { StreamSender } from './send-queue.js';
import type { ProxyConfigSource, ProxyNode, PushFilter } from './source.js';
import { controlPlaneMetrics } from '../metrics.js';

type AdsCall = ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>;
type DeltaCall = ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse | EncodedMessage>;
type AnyCall = ServerDuplexStream<
  DiscoveryRequest | DeltaDiscoveryRequest,
  DiscoveryResponse | DeltaDiscoveryResponse | EncodedMessage
>;

/** How many unknown-key hints of one message are read. */
const MAX_KEY_HINTS = 16;

/**
 * Events: 'connected' (view), 'disconnected' (view), 'ack' / 'nack' (view, typeUrl),
 * 'unknownJwtKeys' (keys: { issuer, kid }[]) when a proxy met tokens signed with keys it lacks.
 */
export class AdsServer extends EventEmitter {
  private readonly connections = new Map<string, ProxyConnection>();

  constructor(
    private readonly grpc: Grpc,
    private source: ProxyConfigSource,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    super();
    controlPlaneMetrics.connectedProxies = () => this.connections.size;
  }

  /** Replaces the config source (the push pipeline's current snapshot). */
  setSource(source: ProxyConfigSource): void {
    this.source = source;
  }

  /** Pushes to every subscribed proxy and type that `filter` selects; returns how many responses were sent. */
  push(filter: PushFilter = () => true): number {
    let sent = 0;
    for (const conn of this.connections.values()) {
      for (const typeUrl of conn.subscribedTypes()) {
        if (!filter(conn.proxy, typeUrl)) continue;
        if (this.pushTo(conn, typeUrl, false)) sent++;
      }
    }
    return sent;
  }

  /** The connected proxies, for the debug API. */
  views(): ConnectionView[] {
    return [...this.connections.values()].map((c) => c.view());
  }

  /** A connection by proxy id (the latest one, if a proxy reconnected before the old stream closed). */
  connection(proxyId: string): ProxyConnection | undefined {
    for (const c of [...this.connections.values()].reverse()) if (c.proxy.id === proxyId) return c;
    return undefined;
  }

  /** The gRPC service implementation: state of the world and incremental. */
  service(): UntypedServiceImplementation {
    return {
      StreamAggregatedResources: (call: AdsCall) => this.handle(call as unknown as AnyCall, 'sotw'),
      DeltaAggregatedResources: (call: DeltaCall) => this.handle(call as unknown as AnyCall, 'delta'),
    };
  }

  private handle(call: AnyCall, protocol: StreamProtocol): void {
    let conn: ProxyConnection | undefined;
    // Responses go out in order; large ones (initial syncs) wait for a share of the process's send budget.
    const sender = new StreamSender<DiscoveryResponse | DeltaDiscoveryResponse | EncodedMessage>(
      (m, done) => void call.write(m, () => done()),
      (m) => (m instanceof EncodedMessage ? m.sizeHint : 0),
    );
    const fail = (code: number, details: string): void => {
      this.log(`config stream from ${call.getPeer()} refused: ${details}`);
      call.emit('error', { code, details });
      call.end();
    };
    call.on('data', (req: DiscoveryRequest | DeltaDiscoveryRequest) => {
      if (!conn) {
        const made = this.open(call, req.node, protocol, (m) => sender.send(m));
        if (typeof made === 'string') {
          fail(
            made.startsWith('no client certificate')
              ? this.grpc.status.UNAUTHENTICATED
              : this.grpc.status.PERMISSION_DENIED,
            made,
          );
          return;
        }
        conn = made;
      }
      if (protocol === 'delta') this.onDeltaRequest(conn, req as DeltaDiscoveryRequest);
      else this.onRequest(conn, req as DiscoveryRequest);
    });
    const close = (): void => {
      sender.close();
      if (conn && this.connections.get(conn.connectionId) === conn) {
        this.connections.delete(conn.connectionId);
        this.log(`proxy ${conn.proxy.id} disconnected`);
        this.emit('disconnected', conn.view());
      }
    };
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('error', close);
    call.on('cancelled', close);
  }

  /** Authenticates the first request: the node must be who its certificate says. */
  private open(
    call: AnyCall,
    node: NodeMessage | null | undefined,
    protocol: StreamProtocol,
    send: (m: DiscoveryResponse | EncodedMessage) => void,
  ): ProxyConnection | string {
    const auth = call.getAuthContext();
    const raw = auth?.sslPeerCertificate;
    if (!raw) return 'no client certificate: a proxy must present its workload certificate (get one from the CA first)';
    const uri = (raw.subjectaltname ?? '')
      .split(/,\s*/)
      .find((s) => s.startsWith('URI:spiffe://'))
      ?.slice(4);
    const id = uri ? parseSpiffeUri(uri) : undefined;
    if (!uri || !id) return 'the client certificate carries no mesh SPIFFE identity';
    const meta = node?.metadata;
    if (!node?.id || !meta) return 'the first request must carry node.id and node.metadata';
    const namespace = meta.namespace || id.namespace;
    const serviceAccount = meta.service_account || id.serviceAccount;
    if (namespace !== id.namespace || serviceAccount !== id.serviceAccount) {
      return `node ${node.id} claims ${spiffeUri({ namespace, serviceAccount })} but its certificate is ${uri}`;
    }
    const proxy: ProxyNode = {
      id: node.id,
      workload: meta.workload_name || node.id,
      namespace,
      serviceAccount,
      labels: { ...meta.labels },
      proxyVersion: meta.proxy_version,
    };
    const expiry = raw.valid_to ? new Date(raw.valid_to).toISOString() : undefined;
    const conn = new ProxyConnection(proxy, call.getPeer(), uri, expiry, send, protocol);
    conn.oversize = (typeUrl, message) => this.log(`proxy ${proxy.id} ${typeUrl}: ${message}`);
    this.connections.set(conn.connectionId, conn);
    this.log(`proxy ${proxy.id} connected as ${uri}`);
    this.emit('connected', conn.view());
    return conn;
  }

  private onRequest(conn: ProxyConnection, req: DiscoveryRequest): void {
    const typeUrl = req.type_url;
    if (!typeUrl) return;
    if (!conn.isSubscribed(typeUrl)) {
      // First request of this type on this stream: answer with the current config at once, even if
      // the proxy says it already has this version (it may have been NACKing it before the restart).
      conn.subscribe(typeUrl);
      this.pushTo(conn, typeUrl, true);
      return;
    }
    if (!req.response_nonce) return;
    this.onAnswer(conn, typeUrl, req.response_nonce, req.version_info, req.error_detail);
  }

  private onDeltaRequest(conn: ProxyConnection, req: DeltaDiscoveryRequest): void {
    if (req.unknown_jwt_keys?.length) {
      // Bounded: a proxy cannot make the control plane do more than a few lookups per message.
      const keys = req.unknown_jwt_keys
        .slice(0, MAX_KEY_HINTS)
        .filter((k) => typeof k.issuer === 'string' && k.issuer.length <= 2048 && (k.kid ?? '').length <= 1024)
        .map((k) => ({ issuer: k.issuer, kid: k.kid ?? '' }));
      if (keys.length) this.emit('unknownJwtKeys', keys);
      return;
    }
    const typeUrl = req.type_url;
    if (!typeUrl) return;
    if (!conn.isSubscribed(typeUrl)) {
      // First request of this type: answer at once with everything that differs from what the
      // proxy says it holds (all of it for a new proxy), even if that is nothing.
      conn.subscribe(typeUrl, req.initial_resource_versions ?? {});
      this.pushTo(conn, typeUrl, true);
      return;
    }
    if (!req.response_nonce) return;
    this.onAnswer(conn, typeUrl, req.response_nonce, undefined, req.error_detail);
  }

  private onAnswer(
    conn: ProxyConnection,
    typeUrl: string,
    nonce: string,
    versionInfo: string | undefined,
    detail: StatusMessage | null | undefined,
  ): void {
    let error = detail && (detail.message || detail.code) ? detail.message || `code ${detail.code}` : undefined;
    if (error !== undefined) {
      // Name the config objects behind it, for proxy-status, check and this log.
      const from = this.describeSource(error.slice(0, 4096));
      if (from) error = `${from}: ${error}`;
    }
    const outcome = conn.answer(typeUrl, nonce, versionInfo, error);
    if (outcome === 'nack') {
      controlPlaneMetrics.rejected(typeUrl);
      this.log(`proxy ${conn.proxy.id} rejected ${typeUrl} (nonce ${nonce}): ${error}`);
      this.emit('nack', conn.view(), typeUrl);
    } else if (outcome === 'ack' && this.listenerCount('ack') > 0) {
      this.emit('ack', conn.view(), typeUrl);
    }
  }

  /** Generates and sends one type to one proxy when it changed (`force`: always); counted and timed. */
  private pushTo(conn: ProxyConnection, typeUrl: string, force: boolean): boolean {
    const started = performance.now();
    const generated = this.safeGenerate(conn, typeUrl);
    if (!generated || !conn.push(typeUrl, generated, force)) return false;
    controlPlaneMetrics.pushed(typeUrl, (performance.now() - started) / 1000);
    return true;
  }

  private describeSource(reason: string): string | undefined {
    try {
      return this.source.describeSource?.(reason);
    } catch {
      return undefined;
    }
  }

  private safeGenerate(conn: ProxyConnection, typeUrl: string) {
    try {
      return this.source.generate(conn.proxy, typeUrl);
    } catch (err) {
      // A generator bug must not take the stream down: the proxy keeps what it has.
      this.log(`generating ${typeUrl} for ${conn.proxy.id} failed: ${(err as Error).message}`);
      return undefined;
    }
  }
}
