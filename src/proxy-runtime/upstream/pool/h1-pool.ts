/**
 * The HTTP/1.1 upstream connections of one cluster, on the fast path: per endpoint a LIFO stack of
 * idle kept-alive connections (the warmest socket first), at most maxConnections open, requests
 * beyond that queued (the cluster's admission limits answer 503 UO before that queue grows past
 * http1MaxPendingRequests), idle connections closed after idleTimeout, a connection retired after
 * maxRequestsPerConnection. Sockets come from `dial` (connect timeout, mTLS with the peer check).
 */
import type { Readable } from 'node:stream';
import type { Endpoint } from '../../ground/endpoint.js';
import { UpstreamFailure, type HeaderMap, type ProxyResponse, type UpstreamRequestHead } from '../../ground/types.js';
import { dial } from '../../ground/dial/connect.js';
import type { H1PoolOptions, InFlight } from './in-flight.js';
import { isIdempotent } from '../../ground/types.js';
import { HANDOVER_RETRY_MS, isCertificateValidityFailure, ownCertificateExpired } from './handover.js';
import { proxyDns } from '../../ground/dial/dns-cache.js';
import { UpstreamConnection, type ConnectionOwner, type UpstreamRequest } from './h1-connection.js';

/** A request in the pool: its promise, its cancel, and the retry on a stale kept-alive socket. */
class PooledRequest implements UpstreamRequest, InFlight {
  readonly response: Promise<ProxyResponse>;
  cancelled: Error | undefined;
  connection: UpstreamConnection | undefined;
  /** already resent once after a stale reuse */
  resent = false;
  private settle!: { resolve: (r: ProxyResponse) => void; reject: (e: Error) => void };

  constructor(
    private readonly pool: EndpointPool,
    readonly head: UpstreamRequestHead,
    readonly body: Readable | null,
  ) {
    this.response = new Promise<ProxyResponse>((resolve, reject) => (this.settle = { resolve, reject }));
  }

  /** The header fields sent (the request keeps its head while it runs). */
  sentHeaders(): HeaderMap[] {
    return [this.head.headers];
  }

  resolve(res: ProxyResponse): void {
    if (this.cancelled === undefined) this.settle.resolve(res);
    else res.body?.destroy();
  }

  reject(err: UpstreamFailure, staleReuse: boolean): void {
    if (this.cancelled !== undefined) return;
    // A kept-alive connection the upstream closed as we reused it: a bodyless idempotent request
    // never reached the application; send it once more on a fresh connection.
    if (staleReuse && !this.resent && this.body === null && isIdempotent(this.head.method)) {
      this.resent = true;
      this.pool.enqueue(this, true);
      return;
    }
    this.settle.reject(err);
  }

  cancel(reason: Error): void {
    if (this.cancelled !== undefined) return;
    this.cancelled = reason;
    this.settle.reject(reason);
    this.pool.dequeue(this);
    this.connection?.abort(reason);
  }
}

/** The connections to one endpoint. */
class EndpointPool implements ConnectionOwner {
  private readonly idle: UpstreamConnection[] = [];
  private readonly waiting: PooledRequest[] = [];
  private readonly all = new Set<UpstreamConnection>();
  /** connections open or being dialed */
  private open = 0;
  private sweeper: NodeJS.Timeout | undefined;
  retired = false;
  /** Connections made before the last certificate renewal: they serve until one made after it connects. */
  private readonly stale = new Set<UpstreamConnection>();
  /** Stale connections busy when the handover happened: closed once their request ends. */
  private readonly retiring = new Set<UpstreamConnection>();
  private probing = false;
  /** A dial just failed a certificate's validity: no new dial before this while older connections serve. */
  private holdOffUntil = 0;

  constructor(
    private readonly ep: Endpoint,
    private readonly o: H1PoolOptions,
  ) {}

  get maxRequestsPerConnection(): number {
    return this.o.maxRequestsPerConnection;
  }

  get connections(): number {
    return this.open;
  }

  send(head: UpstreamRequestHead, body: Readable | null): InFlight {
    const r = new PooledRequest(this, head, body);
    this.enqueue(r, false);
    return r;
  }

  /** Runs `r` on an idle connection, a new one, or queues it. */
  enqueue(r: PooledRequest, fresh: boolean): void {
    if (!fresh) {
      let c = this.idle.pop();
      while (c !== undefined && !this.reusable(c)) c = this.idle.pop();
      if (c !== undefined) {
        if (this.stale.has(c)) this.probe();
        return c.start(r);
      }
    }
    if ((this.open < this.o.maxConnections || fresh) && !this.holdingOff()) return this.dialFor(r);
    this.waiting.push(r);
  }

  /** The workload certificate was renewed: open connections become stale (see pool/handover.ts). */
  renew(): void {
    if (!this.ep.mtls) return;
    for (const c of this.all) this.stale.add(c);
    this.holdOffUntil = 0;
  }

  /**
   * Whether a new connection should wait for an open one instead: the last dial failed on a
   * certificate's validity, or our own certificate has expired (the peer would refuse it), while a
   * connection authenticated earlier can still carry the request.
   */
  private holdingOff(): boolean {
    if (!this.ep.mtls || this.all.size === 0) return false;
    return Date.now() < this.holdOffUntil || ownCertificateExpired(this.o.mesh);
  }

  /** Dials with the current certificate, with no request attached; once it connects the stale connections go. */
  private probe(): void {
    if (this.probing || this.retired || Date.now() < this.holdOffUntil || ownCertificateExpired(this.o.mesh)) return;
    this.probing = true;
    this.open++;
    const socket = dial(
      this.dialOptions(),
      (s) => {
        this.probing = false;
        const c = new UpstreamConnection(s, this);
        this.all.add(c);
        // The new certificate works with this peer: idle stale connections close now, busy ones when done.
        for (const old of this.stale) {
          if (old.usable) old.socket.destroy();
          else this.retiring.add(old);
        }
        this.stale.clear();
        this.release(c);
      },
      () => {
        this.probing = false;
        this.open--;
        this.holdOffUntil = Date.now() + HANDOVER_RETRY_MS;
        this.next();
      },
    );
    socket.on('error', () => undefined);
  }

  private dialOptions(): Parameters<typeof dial>[0] {
    const o = this.o;
    const ep = this.ep;
    const tls = ep.mtls && o.mesh ? { mesh: o.mesh, expectedIdentity: ep.identity, alpn: ['http/1.1'] } : undefined;
    return {
      address: ep.address,
      port: ep.port,
      localAddress: ep.localAddress,
      dns: ep.dns,
      connectTimeoutMs: o.connectTimeoutMs,
      tls,
      originate: ep.originate,
    };
  }

  /**
   * An idle connection may carry another request: it is open, and (a name resolved by the proxy)
   * its address is still in the name's current answer, so traffic follows a changed DNS record.
   */
  private reusable(c: UpstreamConnection): boolean {
    if (!c.usable) return false;
    if (this.ep.dns === undefined || proxyDns.stillServes(this.ep.address, c.socket.remoteAddress)) return true;
    c.socket.destroy();
    return false;
  }

  dequeue(r: PooledRequest): void {
    const i = this.waiting.indexOf(r);
    if (i >= 0) this.waiting.splice(i, 1);
  }

  private dialFor(r: PooledRequest): void {
    this.open++;
    const socket = dial(
      this.dialOptions(),
      (s) => {
        const c = new UpstreamConnection(s, this);
        this.all.add(c);
        if (r.cancelled !== undefined) this.release(c);
        else c.start(r);
      },
      (e) => {
        this.open--;
        if (r.cancelled === undefined) {
          if (this.ep.mtls && this.all.size > 0 && isCertificateValidityFailure(e)) {
            // A connection authenticated before (e.g. before a CA outage) carries it instead.
            this.holdOffUntil = Date.now() + HANDOVER_RETRY_MS;
            this.waiting.push(r);
          } else r.reject(e, false);
        }
        this.next();
      },
    );
    socket.on('error', () => undefined);
  }

  release(c: UpstreamConnection): void {
    if (this.retired || this.retiring.delete(c)) {
      c.socket.destroy();
      return;
    }
    const w = this.waiting.shift();
    if (w !== undefined) return c.start(w);
    c.idleSince = Date.now();
    this.idle.push(c);
    this.sweep();
  }

  closed(c: UpstreamConnection): void {
    this.open--;
    this.all.delete(c);
    this.stale.delete(c);
    this.retiring.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    this.next();
  }

  /** A connection slot freed: start the oldest waiting request. */
  private next(): void {
    if (this.waiting.length > 0 && this.open < this.o.maxConnections && !this.retired && !this.holdingOff())
      this.dialFor(this.waiting.shift()!);
  }

  /** Closes connections idle for longer than idleTimeout (checked a few times per timeout). */
  private sweep(): void {
    if (this.sweeper !== undefined || !Number.isFinite(this.o.idleTimeoutMs)) return;
    const every = Math.max(20, Math.min(this.o.idleTimeoutMs / 4, 5_000));
    this.sweeper = setInterval(() => {
      const limit = Date.now() - this.o.idleTimeoutMs;
      // idle[0] is the coldest (LIFO use): close from the bottom while old enough.
      while (this.idle.length > 0 && this.idle[0]!.idleSince <= limit) this.idle.shift()!.socket.destroy();
      if (this.idle.length === 0) {
        clearInterval(this.sweeper);
        this.sweeper = undefined;
      }
    }, every);
    this.sweeper.unref();
  }

  /** No new requests: idle connections close now, busy ones after their response. */
  retire(): void {
    this.retired = true;
    for (const c of this.idle.splice(0)) c.socket.destroy();
    for (const w of this.waiting.splice(0)) w.reject(new UpstreamFailure('reset', 'upstream pool retired'), false);
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /** Closes every connection now, busy or not. */
  destroy(): void {
    this.retire();
    for (const c of this.all) c.socket.destroy();
  }
}

/** The HTTP/1.1 connections of one cluster, per endpoint. */
export class FastH1Pool {
  private readonly pools = new Map<string, EndpointPool>();
  private retired = false;

  constructor(readonly options: H1PoolOptions) {}

  /** Sends a request; `body` is streamed into it (null: none). */
  send(ep: Endpoint, head: UpstreamRequestHead, body: NodeJS.ReadableStream | null): InFlight {
    let p = this.pools.get(ep.key);
    if (p === undefined) {
      p = new EndpointPool(ep, this.options);
      if (this.retired) p.retired = true;
      else this.pools.set(ep.key, p);
    }
    return p.send(head, body as Readable | null);
  }

  /** The workload certificate was renewed: connections are replaced make-before-break (pool/handover.ts). */
  renew(): void {
    for (const p of this.pools.values()) p.renew();
  }

  /** Stops using these connections; they close once their requests finish. */
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    for (const p of this.pools.values()) p.retire();
    this.pools.clear();
  }

  connectionCount(): number {
    let n = 0;
    for (const p of this.pools.values()) n += p.connections;
    return n;
  }

  close(): void {
    for (const p of this.pools.values()) p.destroy();
    this.pools.clear();
  }
}
