/**
 * One HTTP request/response as it crosses the proxy: what the downstream sent (normalised from
 * HTTP/1.1 or HTTP/2), where the connection was going, what routing decided, and what telemetry
 * needs at the end (flags, upstream host, bytes, attempts). Layers read and annotate it.
 */
import type { Runtime } from './config-version.js';
import type { CompiledRoute } from './route/route-table.js';
import { UpstreamFailure, type HeaderMap } from '../ground/types.js';
import type { RequestBody } from './retry/request-body.js';
import type { ChainRuntime, ListenerRuntime } from './listener-runtime.js';
import type { InFlight } from '../upstream/pool/in-flight.js';

declare const hexId: unique symbol;
/**
 * A trace or span id as trace.ts takes it (after matching a lowercase-hex pattern) or makes it: span encoders copy it
 * with one native write and no escaping, so only trace.ts makes one (by a cast after its check).
 */
export type HexId = string & { readonly [hexId]: true };

/** Facts about the downstream connection, fixed for its lifetime. */
export interface ConnectionInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** where the connection was going: the listener itself, or SO_ORIGINAL_DST for capture */
  readonly destination: { readonly address: string; readonly port: number };
  /** SPIFFE ID of the peer when the connection is mTLS */
  readonly peerIdentity: string | undefined;
  readonly mtls: boolean;
  /** the SNI the peer asked for in its TLS handshake (authz `connection.sni`) */
  readonly sni?: string | undefined;
  readonly listener: ListenerRuntime;
  readonly chain: ChainRuntime;
  /** https when a gateway chain terminated TLS for this connection */
  readonly scheme?: 'https';
}

/** Ends an exchange for telemetry, exactly once: the status sent (0: none) and the gRPC status. */
export type ExchangeDone = (ex: Exchange, status: number, grpcStatus: string | undefined) => void;

/** One request through the proxy. */
export class Exchange {
  route: CompiledRoute | undefined;
  /** cluster of the attempt that produced the response (telemetry) */
  clusterName = '';
  upstreamHost = '';
  upstreamEndpointLabels: Readonly<Record<string, string>> | undefined;
  upstreamIdentity: string | undefined;
  attempts = 0;
  flags = '';
  requestId = '';
  /** this proxy generated `requestId` (a UUID) rather than taking the request's */
  requestIdIsUuid = false;
  traceId = '' as HexId;
  /** this proxy's span (the one it propagates to the upstream) */
  spanId = '' as HexId;
  /** the caller's span, when the request came with a trace context */
  parentSpanId: HexId | undefined;
  /**
   * The hex digits of `traceId` then `spanId` (48 bytes from `idBytesAt`) when this proxy generated both, and of a
   * generated `requestId` (36 bytes from `requestIdAt`): a span copies these bytes instead of writing the strings.
   */
  idBytes: Buffer | undefined = undefined;
  idBytesAt = 0;
  requestIdBytes: Buffer | undefined = undefined;
  requestIdAt = 0;
  /** the list of requests holding the random pool's generation this one's ids were cut from (trace.ts) */
  idsHolders: (Exchange | undefined)[] | undefined = undefined;
  idsHolderAt = 0;
  /** whether the trace is sampled (this proxy then exports its span) */
  sampled = false;
  bytesSent = 0;
  downstreamClosed = false;
  /** the route timeout fired: no further attempts */
  deadlineExpired = false;
  /** the attempt currently in flight, so timeouts and disconnects can cancel it */
  inFlight: InFlight | undefined;
  /** the protocol the original client spoke, when a peer sidecar upgraded HTTP/1.1 to h2 */
  origProto: 'HTTP/1.1' | 'HTTP/2' | undefined;
  /** where an originalDst cluster sends this request (capture: SO_ORIGINAL_DST; http-proxy: the URL) */
  target: { address: string; port: number } | undefined;
  /** set-cookie a consistent-hash cookie policy wants on the response */
  hashCookie: string | undefined;
  /** the peer sidecar's workload metadata header (inbound; telemetry labels) */
  peerMetadata: string | undefined;
  /** why the proxy answered itself (Envoy %RESPONSE_CODE_DETAILS%), e.g. the RBAC policy that denied */
  responseCodeDetails: string | undefined;
  /** the AUDIT policy rule that matched (logged, never blocking) */
  authzAudit: string | undefined;
  private query: URLSearchParams | undefined;
  /** listeners that abort the upstream work when the downstream disconnects */
  private onClose: (() => void)[] | undefined;

  constructor(
    readonly runtime: Runtime,
    readonly conn: ConnectionInfo,
    public method: string,
    /** origin-form path including the query */
    public path: string,
    public authority: string,
    public scheme: string,
    /** lowercase names, no pseudo headers, no hop-by-hop headers */
    readonly headers: HeaderMap,
    readonly protocol: 'HTTP/1.1' | 'HTTP/2',
    readonly body: RequestBody,
    readonly startedAt: number,
  ) {}

  /** The path without its query string. */
  pathOnly(): string {
    const q = this.path.indexOf('?');
    return q < 0 ? this.path : this.path.slice(0, q);
  }

  /** A query parameter, parsed once on first use. */
  queryParam(name: string): string | undefined {
    if (this.query === undefined) {
      const q = this.path.indexOf('?');
      this.query = new URLSearchParams(q < 0 ? '' : this.path.slice(q + 1));
    }
    return this.query.get(name) ?? undefined;
  }

  /** A header as one string (repeated values joined), or undefined. */
  header(name: string): string | undefined {
    const v = this.headers[name];
    if (v === undefined) return undefined;
    return Array.isArray(v) ? v.join(',') : v;
  }

  /** Adds an Envoy response flag (comma-separated in the log, as Envoy prints them). */
  flag(f: string): void {
    if (this.flags === '') this.flags = f;
    else if (!this.flags.split(',').includes(f)) this.flags += ',' + f;
  }

  /** Whether this is a gRPC request. */
  isGrpc(): boolean {
    const ct = this.header('content-type');
    return ct !== undefined && ct.startsWith('application/grpc');
  }

  /** Registers work to cancel when the downstream goes away. */
  whenDownstreamCloses(fn: () => void): () => void {
    (this.onClose ??= []).push(fn);
    return () => {
      const i = this.onClose?.indexOf(fn) ?? -1;
      if (i >= 0) this.onClose!.splice(i, 1);
    };
  }

  /** Called by the server when the downstream disconnected before the response finished: the attempt in flight is cancelled. */
  downstreamGone(): void {
    if (this.downstreamClosed) return;
    this.downstreamClosed = true;
    const list = this.onClose;
    this.onClose = undefined;
    for (const fn of list ?? []) fn();
    this.inFlight?.cancel(new UpstreamFailure('downstream-closed', 'downstream closed'));
  }
}
