/**
 * HTTP/1.1 upgrades (WebSocket and others), done as Envoy does them: the request is routed like
 * any other (route, rewrite, header operations) and its head alone is written to the endpoint.
 * Nothing the client sent after the head is forwarded until the upstream answers
 * `101 Switching Protocols`; only then are the two connections spliced. Any other answer is a
 * normal response: it is forwarded with its body, framed by the proxy, and the downstream
 * connection closes after it, so bytes the client sent after the head (a second request) are never
 * read as anything (they would otherwise reach the backend past every route and policy).
 *
 * `h2c` is never upgraded to (HTTP/2 over cleartext only by prior knowledge): a request that offers
 * only h2c is served as a plain HTTP/1.1 request (see `wantsUpgrade`), and h2c is removed from a
 * list of offers.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionInfo, Exchange } from '../http/exchange.js';
import { RequestBody } from '../http/retry/request-body.js';
import type { ProxyContext } from './context.js';
import { pickDestination } from '../http/route/route-table.js';
import { applyHeaderOps } from '../http/headers/header-ops.js';
import { dial } from '../ground/dial/connect.js';
import { tcpEndpoint } from './tcp-proxy.js';
import { Flags, type HeaderMap, type ProxyResponse } from '../ground/types.js';
import { PEER_METADATA_HEADER } from '../ground/peer-metadata.js';
import { rateLimited } from '../http/ratelimit/rate-limit-layer.js';
import { authorize } from '../http/authz/authz-layer.js';
import { beginExchange, finishExchange } from './exchange-start.js';
import { absoluteTarget } from '../http/request-target.js';
import { parseHead, isHeadError, validHost, MAX_HEAD_BYTES, type MessageHead } from '../ground/http1/head-parser.js';
import {
  ChunkedDecoder,
  Feed,
  LengthDecoder,
  UntilCloseDecoder,
  type BodyDecoder,
} from '../ground/http1/body-decoder.js';
import { fieldLines, plainReply, statusLine } from '../ground/http1/head-writer.js';

/**
 * Whether node:http should treat a request as an upgrade: it carries `Upgrade` with at least one
 * protocol other than h2c. A request offering only h2c is served as an ordinary request (its
 * Upgrade, Connection and HTTP2-Settings fields are hop-by-hop and dropped), as Envoy does.
 */
export function wantsUpgrade(req: IncomingMessage): boolean {
  const offers = upgradeOffers(req.headers.upgrade);
  return offers.length > 0;
}

/** The protocols an Upgrade field offers, h2c left out. */
function upgradeOffers(v: string | undefined): string[] {
  if (v === undefined) return [];
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && !/^h2c$/i.test(s));
}

/** Handles a request carrying `Upgrade:` (node:http has detached `socket`; `head` holds bytes read after the head). */
export function handleUpgrade(
  ctx: ProxyContext,
  conn: ConnectionInfo,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  // Held, not forwarded: nothing after the head leaves before the upstream agreed to switch.
  socket.pause();
  socket.on('error', () => undefined);
  const headers: HeaderMap = {};
  for (const k in req.headers) headers[k] = req.headers[k];
  let authority = (headers.host as string | undefined) ?? '';
  let path = req.url ?? '/';
  let scheme = 'http';
  delete headers.host;
  const absolute = absoluteTarget(path);
  if (absolute === null || !validHost(authority)) {
    refuse(socket, 400, 'invalid request-target or Host');
    return;
  }
  if (absolute) ({ authority, scheme, path } = absolute);
  // Only the offers the proxy passes on; the Connection field is rewritten to name Upgrade alone.
  const offers = upgradeOffers(headers.upgrade as string | undefined).join(', ');
  for (const name of String(headers.connection ?? '').split(',')) {
    const n = name.trim().toLowerCase();
    if (n !== '' && n !== 'upgrade') delete headers[n];
  }
  delete headers['http2-settings'];
  delete headers['transfer-encoding'];
  delete headers['keep-alive'];
  delete headers['proxy-connection'];
  delete headers.te;
  headers.connection = 'upgrade';
  headers.upgrade = offers;
  const ex = beginExchange(
    ctx,
    conn,
    req.method ?? 'GET',
    path,
    authority,
    scheme,
    headers,
    'HTTP/1.1',
    new RequestBody(null),
  );
  const attempt = new UpgradeAttempt(ctx, ex, socket, head);
  // After authorization, the chain's rate limit, as for any request (a refused request spends no token).
  const admit = (): void => {
    const limited = rateLimited(ex);
    if (limited === null) attempt.start();
    else attempt.deny(limited.status);
  };
  const az = conn.listener.authz;
  if (az === undefined) return admit();
  // An upgrade is a request like any other: the listener's policies decide before the app sees it.
  new Promise<ProxyResponse | null>((resolve) => resolve(authorize(ex, az))).then(
    (refused) => (refused === null ? admit() : attempt.deny(refused.status)),
    () => attempt.deny(500),
  );
}

function refuse(socket: Duplex, status: number, reason: string): void {
  if (socket.writable) socket.end(plainReply(status, reason));
  socket.destroy();
}

/** One upgrade request: routed, its head sent, the upstream's answer awaited, then spliced or answered. */
class UpgradeAttempt {
  private status = 0;
  private finished = false;
  private upstream: Socket | undefined;
  private pending: Buffer | undefined;
  private decoder: BodyDecoder | undefined;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly ex: Exchange,
    private readonly socket: Duplex,
    private held: Buffer,
  ) {}

  start(): void {
    const { ex, ctx } = this;
    const conn = ex.conn;
    const found = conn.chain.routes?.match(ex, ex.runtime.node.labels);
    if (!found || !found.route.destinations.length) {
      ex.flag(Flags.noRoute);
      return this.answer(404, 'Not Found');
    }
    ex.route = found.route;
    const headers = ex.headers;
    applyHeaderOps(headers, found.route.requestHeaders);
    if (found.route.rewrite?.authority) ex.authority = found.route.rewrite.authority;
    const cluster = pickDestination(found.route).cluster;
    ex.clusterName = cluster.name;
    const byUrl = conn.listener.mode === 'http-proxy' ? /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(ex.authority) : null;
    const ep = tcpEndpoint(
      cluster,
      conn,
      byUrl ? { address: byUrl[1]!, port: byUrl[2] ? Number(byUrl[2]) : 80 } : undefined,
    );
    if (!ep) {
      ex.flag(Flags.noHealthyUpstream);
      return this.answer(503, 'Service Unavailable');
    }
    ex.upstreamHost = ep.key;
    ex.upstreamEndpointLabels = ep.labels;
    if (ep.mtls && conn.listener.direction === 'outbound') headers[PEER_METADATA_HEADER] = ex.runtime.peerMetadata;
    const w = fieldLines(headers, `${ex.method} ${ex.path} HTTP/1.1\r\nhost: ${ex.authority}\r\n`);
    if (w === undefined || /[\s\0]/.test(ex.path) || /[\r\n\0]/.test(ex.authority))
      return this.answer(400, 'Bad Request');
    const text = w + '\r\n';
    const mesh = ctx.mesh();
    const up = dial(
      {
        address: ep.address,
        port: ep.port,
        localAddress: ep.localAddress,
        dns: ep.dns,
        connectTimeoutMs: cluster.connectTimeoutMs,
        tls: ep.mtls && mesh ? { mesh, expectedIdentity: ep.identity, alpn: ['http/1.1'] } : undefined,
        originate: ep.originate,
      },
      (upstream) => {
        if (this.finished || this.socket.destroyed) return void upstream.destroy();
        this.upstream = upstream;
        upstream.write(text, 'latin1');
        upstream.on('data', this.onUpstreamData);
        upstream.once('close', () => this.upstreamClosed());
        upstream.on('error', () => undefined);
        this.socket.once('close', () => this.downstreamClosed());
      },
      () => {
        ex.flag(Flags.upstreamConnectFailure);
        this.answer(503, 'Service Unavailable');
      },
    );
    up.on('error', () => undefined);
    this.socket.once('close', () => {
      if (this.upstream === undefined) up.destroy();
    });
  }

  /** Refused by the listener's policies (401/403/400), or 500 when they could not be evaluated. */
  deny(status: number): void {
    this.answer(
      status,
      status === 401
        ? 'Unauthorized'
        : status === 403
          ? 'Forbidden'
          : status === 400
            ? 'Bad Request'
            : 'Internal Server Error',
    );
  }

  /** A local answer (no upstream involved), then close. */
  private answer(status: number, reason: string): void {
    this.status = status;
    refuse(this.socket, status, reason);
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    finishExchange(this.ctx, this.ex, this.status, undefined);
  }

  /** Bytes from the upstream before it switched protocols: its response head (and body). */
  private readonly onUpstreamData = (chunk: Buffer): void => {
    if (this.decoder !== undefined) return this.feedBody(chunk, 0);
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    let at = 0;
    for (;;) {
      const h = parseHead(buf, at, false, MAX_HEAD_BYTES);
      if (h === undefined) {
        this.pending = Buffer.from(buf.subarray(at));
        return;
      }
      this.pending = undefined;
      if (isHeadError(h)) return this.upstreamBroken(`invalid response from upstream: ${h.reason}`);
      if (h.status === 101) return this.switched(buf, at, h);
      if (h.status >= 100 && h.status < 200) {
        at = h.end; // 100 Continue, 103 Early Hints: not forwarded
        continue;
      }
      return this.normalResponse(buf, h);
    }
  };

  /** The upstream agreed: its 101 goes to the client, then the held bytes upstream, then both ways as they come. */
  private switched(buf: Buffer, at: number, h: MessageHead): void {
    const upstream = this.upstream!;
    const raw = buf.toString('latin1', at, h.end);
    const chosen = /\r\nupgrade:[ \t]*([^\r]*)/i.exec(raw)?.[1] ?? '';
    if (!h.upgrade || /(^|[\s,])h2c($|[\s,])/i.test(chosen))
      return this.upstreamBroken('upstream switched to a protocol the client was not offered');
    this.status = 101;
    const ex = this.ex;
    const socket = this.socket;
    upstream.off('data', this.onUpstreamData);
    socket.write(buf.subarray(at));
    ex.bytesSent += buf.length - h.end;
    if (this.held.length > 0) {
      ex.body.bytesReceived += this.held.length;
      upstream.write(this.held);
    }
    this.held = Buffer.alloc(0);
    upstream.on('data', (c: Buffer) => {
      ex.bytesSent += c.length;
      if (!socket.write(c)) upstream.pause();
    });
    socket.on('drain', () => upstream.resume());
    socket.on('data', (c: Buffer) => {
      ex.body.bytesReceived += c.length;
      if (!upstream.write(c)) socket.pause();
    });
    upstream.on('drain', () => socket.resume());
    // Half-closes pass through (a WebSocket peer may finish sending and still read).
    socket.once('end', () => upstream.end());
    upstream.once('end', () => socket.end());
    socket.resume();
  }

  /** Any answer but 101: forwarded as a normal response with `connection: close`; the client's held bytes are dropped. */
  private normalResponse(buf: Buffer, h: MessageHead): void {
    if (h.otherEncoding) return this.upstreamBroken('upstream response uses a transfer coding other than chunked');
    this.status = h.status;
    const noBody = this.ex.method === 'HEAD' || h.status === 204 || h.status === 304 || h.contentLength === 0;
    const headers = h.headers;
    delete headers['content-length'];
    let head = fieldLines(headers, statusLine(h.status));
    if (head === undefined) return this.upstreamBroken('upstream response head cannot be forwarded');
    if (noBody) head += 'content-length: 0\r\n';
    else if (!h.chunked && h.contentLength > 0) head += `content-length: ${h.contentLength}\r\n`;
    // A chunked or until-close body is delimited by the close the proxy does after it.
    this.socket.write(head + 'connection: close\r\n\r\n', 'latin1');
    if (noBody) return this.responseDone();
    this.decoder = h.chunked
      ? new ChunkedDecoder()
      : h.contentLength > 0
        ? new LengthDecoder(h.contentLength)
        : new UntilCloseDecoder();
    this.feedBody(buf, h.end);
  }

  private feedBody(buf: Buffer, start: number): void {
    const end = this.decoder!.feed(buf, start, (c) => {
      this.ex.bytesSent += c.length;
      this.socket.write(c);
    });
    if (end === Feed.More) return;
    if (end === Feed.Invalid) return this.upstreamBroken('invalid chunked framing from upstream');
    this.responseDone();
  }

  private responseDone(): void {
    this.upstream?.destroy();
    this.socket.end();
    this.finish();
  }

  /** The upstream broke the exchange: 502 if nothing was sent yet, else the client sees the connection break. */
  private upstreamBroken(reason: string): void {
    this.ctx.log.debug('upgrade refused', { reason });
    this.upstream?.destroy();
    if (this.status === 0) {
      this.status = 502;
      this.ex.flag(Flags.upstreamConnectionTermination);
      refuse(this.socket, 502, 'Bad Gateway');
    } else {
      this.ex.flag(Flags.upstreamConnectionTermination);
      this.socket.destroy();
    }
    this.finish();
  }

  private upstreamClosed(): void {
    if (this.finished) return;
    if (this.status === 101) {
      this.socket.end();
      return;
    }
    if (this.decoder?.closeEnds()) return this.responseDone();
    if (this.status === 0) {
      this.ex.flag(Flags.upstreamConnectionTermination);
      this.status = 503;
      refuse(this.socket, 503, 'Service Unavailable');
      return this.finish();
    }
    this.upstreamBroken('upstream closed the connection mid-response');
  }

  private downstreamClosed(): void {
    this.upstream?.destroy();
    if (this.finished) return;
    if (this.status !== 101) this.ex.flag(Flags.downstreamConnectionTermination);
    this.finish();
  }
}
