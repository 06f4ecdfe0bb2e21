/**
 * The config stream, proxy side. Connects to port 15012 over TLS with the workload certificate,
 * subscribes to its resource types, hands each response to `apply` (the proxy's applyConfig), and
 * ACKs it, or NACKs it with the reason so the control plane (and `proxy-status`) shows why. It
 * reconnects with backoff and never clears anything on disconnect: the proxy keeps serving its
 * last good config until the control plane is back.
 *
 * Events: 'connected', 'disconnected' (reason), 'applied' (typeUrl, version), 'rejected' (typeUrl, message).
 */
import { EventEmitter } from 'node:events';
import type { Client, ClientDuplexStream } from '@grpc/grpc-js';
import { loadMeshProto, type MeshProto } from '../../protocol/stream/grpc.js';
import type { DiscoveryRequest, DiscoveryResponse } from '../../protocol/stream/messages.js';
import { CONTROL_PLANE_SERVICE, MESH_NAMESPACE } from '../../protocol/well-known.js';

/** What `apply` answers: the config is in place, or it was rejected and why. */
export type ApplyResult = { ok: true } | { ok: false; error: string };

/** The identity the stream's TLS presents (the proxy's IdentitySource satisfies it). */
export interface StreamIdentity {
  current(): { certChain: string; privateKey: string; trustRoots: string };
}

/** Who this proxy is (sent as node metadata; must match its certificate). */
export interface XdsNode {
  readonly id: string;
  readonly workload: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly proxyVersion: string;
}

/** Options of the stream client. */
export interface XdsClientOptions {
  /** host:port of the control plane. */
  readonly address: string;
  readonly serverName?: string;
  readonly identity: StreamIdentity;
  readonly node: XdsNode;
  /** Resource types to subscribe to, in the order to request them. */
  readonly types: readonly string[];
  readonly apply: (typeUrl: string, resources: unknown[], version: string) => ApplyResult | Promise<ApplyResult>;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  readonly log?: (line: string) => void;
}

/** Per-type state on the proxy side. */
export interface XdsTypeState {
  appliedVersion?: string;
  lastNonce?: string;
  lastError?: string;
}

const DEFAULT_BACKOFF = { initialMs: 250, maxMs: 15_000 };
const INVALID_ARGUMENT = 3;

/** A reconnecting ADS client. */
export class XdsClient extends EventEmitter {
  private proto: MeshProto | undefined;
  private client: Client | undefined;
  private call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> | undefined;
  private readonly types = new Map<string, XdsTypeState>();
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private closed = false;
  private connectedNow = false;

  constructor(private readonly opts: XdsClientOptions) {
    super();
    for (const t of opts.types) this.types.set(t, {});
  }

  /** Starts connecting (and keeps reconnecting until close()). */
  async start(): Promise<void> {
    this.proto = await loadMeshProto();
    this.connect();
  }

  /** Whether a stream is open and has received at least one response. */
  get connected(): boolean {
    return this.connectedNow;
  }

  /** Per-type state, for the admin API. */
  state(): Record<string, XdsTypeState> {
    return Object.fromEntries([...this.types].map(([k, v]) => [k, { ...v }]));
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.teardown();
  }

  private connect(): void {
    if (this.closed || !this.proto) return;
    const { grpc, AdsClient } = this.proto;
    const serverName = this.opts.serverName ?? `${CONTROL_PLANE_SERVICE}.${MESH_NAMESPACE}.svc`;
    let creds;
    try {
      // The identity is read at each connect, so a reconnect after a rotation uses the new certificate.
      const id = this.opts.identity.current();
      creds = grpc.credentials.createSsl(Buffer.from(id.trustRoots), Buffer.from(id.privateKey), Buffer.from(id.certChain));
    } catch (err) {
      this.scheduleReconnect(`no usable identity: ${(err as Error).message}`);
      return;
    }
    this.client = new AdsClient(this.opts.address, creds, {
      'grpc.ssl_target_name_override': serverName,
      'grpc.default_authority': serverName,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    });
    const call = (this.client as unknown as { StreamAggregatedResources(): ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> }).StreamAggregatedResources();
    this.call = call;
    let first = true;
    call.on('data', (res: DiscoveryResponse) => {
      if (this.call !== call) return;
      if (!this.connectedNow) {
        this.connectedNow = true;
        this.attempts = 0;
        this.emit('connected');
      }
      this.queue = this.queue.then(() => this.onResponse(call, res));
    });
    const lost = (reason: string): void => {
      if (this.call !== call) return;
      this.teardown();
      this.scheduleReconnect(reason);
    };
    call.on('error', (err: Error & { details?: string }) => lost(err.details || err.message));
    call.on('end', () => lost('the control plane closed the stream'));
    const node = this.opts.node;
    for (const [typeUrl, st] of this.types) {
      call.write({
        version_info: st.appliedVersion ?? '',
        node: first
          ? {
              id: node.id,
              metadata: { workload_name: node.workload, namespace: node.namespace, labels: { ...(node.labels ?? {}) }, service_account: node.serviceAccount, proxy_version: node.proxyVersion },
            }
          : null,
        resource_names: [],
        type_url: typeUrl,
        response_nonce: '',
        error_detail: null,
      });
      first = false;
    }
  }

  private async onResponse(call: ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>, res: DiscoveryResponse): Promise<void> {
    const st = this.types.get(res.type_url);
    if (!st) return;
    let result: ApplyResult;
    try {
      const resources = res.resources.map((b) => JSON.parse(Buffer.from(b).toString('utf8')) as unknown);
      result = await this.opts.apply(res.type_url, resources, res.version_info);
    } catch (err) {
      result = { ok: false, error: err instanceof SyntaxError ? `resource is not valid JSON: ${err.message}` : (err as Error).message };
    }
    st.lastNonce = res.nonce;
    if (result.ok) {
      st.appliedVersion = res.version_info;
      st.lastError = undefined;
      this.emit('applied', res.type_url, res.version_info);
    } else {
      st.lastError = result.error;
      this.opts.log?.(`rejected ${res.type_url} version ${res.version_info}: ${result.error}`);
      this.emit('rejected', res.type_url, result.error);
    }
    if (this.call !== call) return;
    call.write({
      // On NACK, version_info is the version still in force (xDS semantics).
      version_info: st.appliedVersion ?? '',
      node: null,
      resource_names: [],
      type_url: res.type_url,
      response_nonce: res.nonce,
      error_detail: result.ok ? null : { code: INVALID_ARGUMENT, message: result.error },
    });
  }

  private teardown(): void {
    const wasConnected = this.connectedNow;
    this.connectedNow = false;
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    this.client?.close();
    this.client = undefined;
    if (wasConnected) this.emit('disconnected', 'stream closed');
  }

  private scheduleReconnect(reason: string): void {
    if (this.closed) return;
    const { initialMs, maxMs } = this.opts.backoff ?? DEFAULT_BACKOFF;
    const delay = Math.round(Math.min(maxMs, initialMs * 2 ** this.attempts++) * (0.8 + Math.random() * 0.4));
    this.opts.log?.(`config stream lost (${reason}); reconnecting in ${delay} ms`);
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref();
  }
}
