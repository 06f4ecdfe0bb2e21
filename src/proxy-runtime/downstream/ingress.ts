/**
 * The HTTP servers of a listener. Connections arrive already accepted and classified (by the
 * listener and protocol detection) and are handed to a node:http server (HTTP/1.1: keep-alive,
 * chunked, Expect: 100-continue, upgrades, CONNECT; llhttp rejects request smuggling) or a
 * node:http2 server (h2c and h2 over mTLS). Each request becomes an Exchange and runs the stack.
 */
import {
  createServer as createH1Server,
  type IncomingMessage,
  type Server as H1Server,
  type ServerResponse,
} from 'node:http';
import {
  createServer as createH2Server,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { ConnectionInfo, ExchangeDone } from '../http/exchange.js';
import { RequestBody } from '../http/retry/request-body.js';
import { responseCompleted, sendResponse } from '../http/respond.js';
import { stripHopByHop, type HeaderMap } from '../ground/types.js';
import type { ProxyContext } from './context.js';
import { beginExchange, currentView, finishExchange, runExchange } from './exchange-start.js';
import {
  H1ServerConnection,
  KEEP_ALIVE_TIMEOUT_MS,
  REQUEST_HEAD_TIMEOUT_MS,
  type H1Host,
} from './http1/server-connection.js';
import { validHost } from '../ground/http1/head-parser.js';
import { handleUpgrade, wantsUpgrade } from './upgrade.js';
import { handleConnect } from './connect-tunnel.js';
import { absoluteTarget } from '../http/request-target.js';

const CONN = Symbol('meshConnectionInfo');
type TaggedSocket = Socket & { [CONN]?: ConnectionInfo };

/** Request heads larger than this are refused (Envoy's default is 60 KiB). */
export const MAX_HEADER_BYTES = 60 * 1024;

/** The HTTP/1.1 and HTTP/2 servers of one listener. */
export class HttpIngress implements H1Host {
  readonly h1: H1Server;
  private readonly fast = new Set<H1ServerConnection>();
  private idleSweep: NodeJS.Timeout | undefined;
  readonly h2: Http2Server;
  private readonly sessionConn = new WeakMap<ServerHttp2Session, ConnectionInfo>();
  private readonly sessions = new Set<ServerHttp2Session>();
  private pendingConn: ConnectionInfo | undefined;

  constructor(private readonly ctx: ProxyContext) {
    // node:http answers 408 itself when a head is not complete within headersTimeout (checked every second).
    this.h1 = createH1Server(
      {
        maxHeaderSize: MAX_HEADER_BYTES,
        keepAliveTimeout: 60_000,
        headersTimeout: REQUEST_HEAD_TIMEOUT_MS,
        connectionsCheckingInterval: 1_000,
        requestTimeout: 0,
        noDelay: true,
        shouldUpgradeCallback: wantsUpgrade,
      },
      (req, res) => this.handle(req, res, (req.socket as TaggedSocket)[CONN]!, 'HTTP/1.1'),
    );
    this.h1.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // Malformed or smuggling-shaped requests (CL+TE, bad chunking, oversized heads): refuse, forward nothing.
      const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (socket.writable && !inProgress?.headersSent) {
        socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 11\r\n\r\nBad Request');
      }
      socket.destroy();
      this.ctx.log.debug('refused malformed request', { reason: err.code ?? err.message });
    });
    this.h1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const conn = (req.socket as TaggedSocket)[CONN]!;
      handleUpgrade(this.ctx, currentView(conn, this.ctx.current()), req, socket, head);
    });
    this.h1.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const conn = (req.socket as TaggedSocket)[CONN]!;
      handleConnect(this.ctx, currentView(conn, this.ctx.current()), req, socket, head);
    });
    this.h2 = createH2Server(
      { settings: { initialWindowSize: 1 << 20, maxHeaderListSize: MAX_HEADER_BYTES } },
      (req, res) => {
        const conn = this.sessionConn.get(req.stream.session as ServerHttp2Session)!;
        this.handle(req, res, conn, 'HTTP/2');
      },
    );
    this.h2.on('session', (s: ServerHttp2Session) => {
      if (this.pendingConn) this.sessionConn.set(s, this.pendingConn);
      this.sessions.add(s);
      s.on('close', () => this.sessions.delete(s));
      s.on('error', () => undefined);
      if (this.ctx.draining) s.close();
    });
  }

  /** Serves an HTTP/1.1 connection. `socket` may hold unshifted bytes from detection. */
  acceptH1(socket: Socket, conn: ConnectionInfo): void {
    const c = new H1ServerConnection(this.ctx, this, socket, conn);
    this.fast.add(c);
    if (this.idleSweep === undefined) {
      this.idleSweep = setInterval(() => {
        const now = Date.now();
        for (const f of this.fast) f.closeIfIdle(now, KEEP_ALIVE_TIMEOUT_MS);
        if (this.fast.size === 0) {
          clearInterval(this.idleSweep);
          this.idleSweep = undefined;
        }
      }, 1_000);
      this.idleSweep.unref();
    }
    if (this.ctx.draining) c.drain();
  }

  /** Hands a fast-path connection to node:http from the request starting at `bytes` (upgrades, CONNECT). */
  handOff(socket: Socket, conn: ConnectionInfo, bytes: Buffer): void {
    socket.pause();
    if (bytes.length > 0) socket.unshift(bytes);
    (socket as TaggedSocket)[CONN] = conn;
    this.h1.emit('connection', socket);
    socket.resume();
  }

  forget(c: H1ServerConnection): void {
    this.fast.delete(c);
  }

  /** Serves an HTTP/2 connection (h2c preface seen, or ALPN h2). */
  acceptH2(socket: Socket, conn: ConnectionInfo): void {
    this.pendingConn = conn;
    try {
      this.h2.emit('connection', socket);
    } finally {
      this.pendingConn = undefined;
    }
  }

  /** Starts draining: GOAWAY on h2 sessions, idle h1 connections closed, busy ones after their response. */
  drain(): void {
    for (const s of this.sessions) s.close();
    this.h1.closeIdleConnections();
    for (const c of this.fast) c.drain();
  }

  /** Closes everything at once (end of the drain period). */
  destroy(): void {
    for (const s of this.sessions) s.destroy();
    this.h1.closeAllConnections();
    for (const c of this.fast) c.socket.destroy();
  }

  private handle(
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
    connAtAccept: ConnectionInfo,
    protocol: 'HTTP/1.1' | 'HTTP/2',
  ): void {
    const ctx = this.ctx;
    let headers: HeaderMap;
    let authority: string;
    let path = req.url ?? '/';
    let scheme: string = connAtAccept.scheme ?? 'http';
    // Decided before hop-by-hop headers (transfer-encoding) are stripped.
    const hasBody =
      protocol === 'HTTP/2'
        ? !(req as Http2ServerRequest).stream.endAfterHeaders
        : req.headers['transfer-encoding'] !== undefined ||
          (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    if (protocol === 'HTTP/1.1') {
      headers = stripHopByHop(req.headers as HeaderMap);
      authority = (headers.host as string | undefined) ?? '';
      delete headers.host;
      const absolute = absoluteTarget(path);
      if (absolute === null || (req.headers.host !== undefined && !validHost(req.headers.host))) {
        (res as ServerResponse).writeHead(400, { 'content-length': '0', connection: 'close' }).end();
        return;
      }
      if (absolute) ({ authority, scheme, path } = absolute);
    } else {
      headers = {};
      const h = req.headers;
      for (const k in h) if (k.charCodeAt(0) !== 58) headers[k] = h[k];
      stripHopByHop(headers);
      authority = (h[':authority'] as string | undefined) ?? (headers.host as string | undefined) ?? '';
      delete headers.host;
      scheme = (h[':scheme'] as string | undefined) ?? connAtAccept.scheme ?? 'http';
    }
    delete headers.expect;
    const body = new RequestBody(hasBody ? req : null);
    const ex = beginExchange(ctx, connAtAccept, req.method ?? 'GET', path, authority, scheme, headers, protocol, body);
    // Registered before the stack runs, so a downstream that goes away while the upstream is still
    // working (a peer sidecar's RST_STREAM CANCEL after its route timeout) cancels that work and
    // ends the exchange, instead of leaving it in flight until the upstream answers.
    res.once('close', () => {
      if (!responseCompleted(res)) ex.downstreamGone();
    });
    const done: ExchangeDone = (e, status, grpcStatus) => finishExchange(ctx, e, status, grpcStatus);
    runExchange(ctx, ex, { send: (e, pr) => sendResponse(e, res, pr, ctx.draining, done), abort: () => res.destroy() });
  }
}
