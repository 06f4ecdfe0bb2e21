/**
 * The config stream, proxy side. Connects to port 15012 over TLS with the workload certificate,
 * subscribes to its resource types on the incremental (delta) stream, applies each response onto
 * the resources it holds (added/changed ones replaced, removed ones dropped), hands the resulting
 * whole set of the type to `apply` (the proxy's applyConfig) and ACKs it, or NACKs it with the
 * reason, keeping what it held, so the control plane (and `proxy-status`) shows why. A response
 * is applied whole or not at all. It reconnects with backoff, telling the control plane what it
 * holds so it is sent only what differs, and never clears anything on disconnect: the proxy keeps
 * serving its last good config until the control plane is back.
 *
 * Events: 'connected', 'disconnected' (reason), 'applied' (typeUrl, version), 'rejected' (typeUrl, message),
 * 'response' (typeUrl, { changed: names, removed: names }) for each response received.
 */
import { EventEmitter } from 'node:events';
import type { Client, ClientDuplexStream } from '@grpc/grpc-js';
import { loadMeshProto, type MeshProto } from '../../../protocol/stream/grpc.js';
import { TypeUrl, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse } from '../../../protocol/stream/messages.js';
import { CONTROL_PLANE_SERVICE, MESH_NAMESPACE } from '../../../protocol/well-known.js';
import { MAX_STREAM_MESSAGE_BYTES } from '../../../config/limits.js';

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

/**
 * host:port of the control plane, or how to find it again: read before every (re)connect, so a
 * control plane that came back on another address (a local restart with --stream-port 0) is found.
 */
export type AddressSource = string | (() => string | Promise<string>);

/** Resolves an address source to host:port. */
export async function resolveAddress(source: AddressSource): Promise<string> {
  return typeof source === 'string' ? source : await source();
}

/** Options of the stream client. */
export interface XdsClientOptions {
  /** host:port of the control plane, or a function that finds it (called on every reconnect). */
  readonly address: AddressSource;
  readonly serverName?: string;
  readonly identity: StreamIdentity;
  readonly node: XdsNode;
  /** Resource types to subscribe to, in the order to request them. */
  readonly types: readonly string[];
  /** Called with every resource of the type the proxy would hold (in name order) after a response. */
  readonly apply: (typeUrl: string, resources: unknown[], version: string) => ApplyResult | Promise<ApplyResult>;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** How long one connection attempt (TCP, TLS, HTTP/2) may take before it is dropped and retried (default 5 s). */
  readonly connectTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

/** Per-type state on the proxy side. */
export interface XdsTypeState {
  appliedVersion?: string;
  lastNonce?: string;
  lastError?: string;
  /** How many resources of the type the proxy holds. */
  resources?: number;
}

/** One resource the proxy holds. */
interface Held {
  readonly version: string;
  readonly resource: unknown;
}

type DeltaCall = ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

/** Exponential from 250 ms, at most 5 s, each delay jittered ±20% so proxies do not reconnect in step. */
const DEFAULT_BACKOFF = { initialMs: 250, maxMs: 5_000 };
/**
 * gRPC (grpc-js) sets no deadline on a connection attempt: a SYN to an address that no longer answers
 * is retried by the kernel for ~2 minutes (tcp_syn_retries 6), and an ICMP host-unreachable does not end
 * it. That happens when a control plane pod goes away: kube-proxy still leads the Service to the pod
 * for a moment, and the conntrack entry of the attempt keeps every retried SYN on the dead address.
 * A fresh attempt gets a new source port, so a new conntrack entry and kube-proxy's current rules.
 * Istio's sidecar gives its xds connection 1 s; 5 s leaves room for a TLS handshake on a busy node.
 */
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const INVALID_ARGUMENT = 3;
/** The unknown-key hints of one issuer: when the last went out, and one held back. */
interface KeyHint {
  sentAt: number;
  pendingKid: string | undefined;
  timer: NodeJS.Timeout | undefined;
}

/** Shortest time between two unknown-key hints for one issuer. */
const KEY_HINT_GAP_MS = 1_000;

/** A reconnecting ADS client. */
export class XdsClient extends EventEmitter {
  private proto: MeshProto | undefined;
  private client: Client | undefined;
  private call: DeltaCall | undefined;
  private readonly types = new Map<string, XdsTypeState>();
  private readonly held = new Map<string, ReadonlyMap<string, Held>>();
  private queue: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private closed = false;
  private connectedNow = false;

  constructor(private readonly opts: XdsClientOptions) {
    super();
    for (const t of opts.types) {
      this.types.set(t, {});
      this.held.set(t, new Map());
    }
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

  /**
   * Tells the control plane that a token of `issuer` names a `kid` its keys lack, so it fetches
   * the issuer's keys again (mesh.proto UnknownJwtKey). At most one hint per issuer a second
   * goes out, however many such tokens arrive: one inside that second is held and sent when it is
   * up (the latest kid), so a rotation is never missed for being reported just after another.
   * Without a stream the hint is dropped (the control plane's 20-minute refresh still comes).
   */
  reportUnknownJwtKey(issuer: string, kid: string): void {
    if (!this.call || !this.connectedNow) return;
    const h = this.hinted.get(issuer);
    const now = Date.now();
    if (h && now - h.sentAt < KEY_HINT_GAP_MS) {
      h.pendingKid = kid;
      h.timer ??= setTimeout(
        () => {
          h.timer = undefined;
          if (h.pendingKid === undefined) return;
          const pending = h.pendingKid;
          h.pendingKid = undefined;
          this.sendKeyHint(issuer, pending, h);
        },
        KEY_HINT_GAP_MS - (now - h.sentAt),
      ).unref();
      return;
    }
    if (!h && this.hinted.size >= 256) {
      for (const old of this.hinted.values()) if (old.timer) clearTimeout(old.timer);
      this.hinted.clear();
    }
    this.sendKeyHint(issuer, kid, h ?? { sentAt: 0, pendingKid: undefined, timer: undefined });
  }

  private sendKeyHint(issuer: string, kid: string, h: KeyHint): void {
    const call = this.call;
    if (!call || !this.connectedNow || this.closed) return;
    h.sentAt = Date.now();
    this.hinted.set(issuer, h);
    call.write({
      node: null,
      type_url: TypeUrl.listeners,
      initial_resource_versions: {},
      response_nonce: '',
      error_detail: null,
      unknown_jwt_keys: [{ issuer, kid }],
    });
  }

  private readonly hinted = new Map<string, KeyHint>();

  close(): void {
    this.closed = true;
    for (const h of this.hinted.values()) if (h.timer) clearTimeout(h.timer);
    if (this.timer) clearTimeout(this.timer);
    this.teardown();
  }

  /** The address in use (host:port), once resolved. */
  get address(): string {
    return this.currentAddress;
  }

  private currentAddress = '';

  private connect(): void {
    if (this.closed || !this.proto) return;
    resolveAddress(this.opts.address).then(
      (address) => this.connectTo(address),
      (err: Error) => this.scheduleReconnect(`cannot find the control plane: ${err.message}`),
    );
  }

  private connectTo(address: string): void {
    if (this.closed || !this.proto) return;
    this.currentAddress = address;
    const { grpc, AdsClient } = this.proto;
    const serverName = this.opts.serverName ?? `${CONTROL_PLANE_SERVICE}.${MESH_NAMESPACE}.svc`;
    let creds;
    try {
      // The identity is read at each connect, so a reconnect after a rotation uses the new certificate.
      const id = this.opts.identity.current();
      creds = grpc.credentials.createSsl(
        Buffer.from(id.trustRoots),
        Buffer.from(id.privateKey),
        Buffer.from(id.certChain),
      );
    } catch (err) {
      this.scheduleReconnect(`no usable identity: ${(err as Error).message}`);
      return;
    }
    this.client = new AdsClient(address, creds, {
      'grpc.ssl_target_name_override': serverName,
      'grpc.default_authority': serverName,
      // Whatever the control plane may send (gRPC's 4 MiB default refused large route tables, and the
      // proxy reconnected every 200 ms for ever); a byte of framing above the limit.
      'grpc.max_receive_message_length': MAX_STREAM_MESSAGE_BYTES + 1024,
      // A control plane that vanished without closing (its pod's network gone, a node lost) is noticed
      // within ~15 s, so the proxy re-resolves the Service and finds a running replica (the control
      // plane's grpc-js server accepts pings this often; it enforces no minimum interval).
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      // While the Service has no ready control plane (a restart), the channel retries within 5 s
      // (gRPC's own backoff grows to 120 s): the proxies find the new pod soon after it is Ready.
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 5_000,
    });
    const client = this.client;
    const call = (client as unknown as { DeltaAggregatedResources(): DeltaCall }).DeltaAggregatedResources();
    this.call = call;
    let first = true;
    call.on('data', (res: DeltaDiscoveryResponse) => {
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
    const connectTimeoutMs = this.opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    client.waitForReady(Date.now() + connectTimeoutMs, (err) => {
      // Also called (with an error) once the channel is closed: only the attempt still in use counts.
      if (err && this.client === client) lost(`no connection to ${address} within ${connectTimeoutMs} ms`);
    });
    const node = this.opts.node;
    for (const typeUrl of this.types.keys()) {
      const initial: Record<string, string> = {};
      for (const [name, h] of this.held.get(typeUrl) ?? []) initial[name] = h.version;
      call.write({
        node: first
          ? {
              id: node.id,
              metadata: {
                workload_name: node.workload,
                namespace: node.namespace,
                labels: { ...(node.labels ?? {}) },
                service_account: node.serviceAccount,
                proxy_version: node.proxyVersion,
              },
            }
          : null,
        type_url: typeUrl,
        initial_resource_versions: initial,
        response_nonce: '',
        error_detail: null,
      });
      first = false;
    }
  }

  private async onResponse(call: DeltaCall, res: DeltaDiscoveryResponse): Promise<void> {
    const st = this.types.get(res.type_url);
    const held = this.held.get(res.type_url);
    if (!st || !held) return;
    this.emit('response', res.type_url, {
      changed: res.resources.map((r) => r.name),
      removed: [...res.removed_resources],
    });
    let result: ApplyResult;
    // The response applied onto a copy: what is held changes only if the proxy accepts the result.
    const next = new Map(held);
    try {
      for (const r of res.resources) {
        let resource: unknown;
        try {
          resource = JSON.parse(Buffer.from(r.resource).toString('utf8')) as unknown;
        } catch (err) {
          throw new Error(`resource ${r.name} is not valid JSON: ${(err as Error).message}`);
        }
        next.set(r.name, { version: r.version, resource });
      }
      for (const name of res.removed_resources) next.delete(name);
      const names = [...next.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      result = await this.opts.apply(
        res.type_url,
        names.map((n) => next.get(n)!.resource),
        res.system_version_info,
      );
    } catch (err) {
      result = { ok: false, error: (err as Error).message };
    }
    st.lastNonce = res.nonce;
    if (result.ok) {
      this.held.set(res.type_url, next);
      st.appliedVersion = res.system_version_info;
      st.lastError = undefined;
      st.resources = next.size;
      this.emit('applied', res.type_url, res.system_version_info);
    } else {
      st.lastError = result.error;
      this.opts.log?.(`rejected ${res.type_url} version ${res.system_version_info}: ${result.error}`);
      this.emit('rejected', res.type_url, result.error);
    }
    if (this.call !== call) return;
    call.write({
      node: null,
      type_url: res.type_url,
      initial_resource_versions: {},
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
    this.opts.log?.(
      `config stream${this.currentAddress ? ` to ${this.currentAddress}` : ''} lost (${reason}); reconnecting in ${delay} ms`,
    );
    this.timer = setTimeout(() => this.connect(), delay);
    this.timer.unref();
  }
}
