/**
 * The HTTP servers of a listener. Connections arrive already accepted and classified (by the
 * listener and protocol detection) and are handed to a node:http server (HTTP/1.1: keep-alive,
 * chunked, Expect: 100-continue, upgrades, CONNECT; llhttp rejects request smuggling) or a
 * node:http2 server (h2c and h2 over mTLS). Each request becomes an Exchange and runs the stack.
 */
import { createServer as createH1Server, type IncomingMessage, type Server as H1Server, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { Exchange, type ConnectionInfo } from './exchange.js';
import { RequestBody } from './retry/request-body.js';
import { httpStack } from './stack.js';
import { failureResponse, responseCompleted, sendResponse } from './respond.js';
import { stripHopByHop, UpstreamFailure, type HeaderMap } from './types.js';
import { prepareTracing } from '../telemetry/trace.js';
import { ORIG_PROTO_HEADER } from './forward.js';
import { PEER_METADATA_HEADER, type Runtime } from '../runtime/runtime.js';
import type { ProxyContext } from '../runtime/context.js';
import { handleUpgrade } from './upgrade.js';
import { handleConnect } from './connect-tunnel.js';

const CONN = Symbol('meshConnectionInfo');
type TaggedSocket = Socket & { [CONN]?: ConnectionInfo };

/** Request heads larger than this are refused (Envoy's default is 60 KiB). */
export const MAX_HEADER_BYTES = 60 * 1024;

function parseTarget(authority: string, defaultPort: number): { address: string; port: number } {
  const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(authority);
  return { address: m?.[1] ?? authority, port: m?.[2] ? Number(m[2]) : defaultPort };
}

/**
 * A kept-alive connection outlives config versions: each request routes with the listener and
 * chain of the CURRENT version (the connection's facts stay). A listener that is gone keeps the
 * old view until its connections drain.
 */
function currentView(conn: ConnectionInfo, runtime: Runtime): ConnectionInfo {
  const lr = runtime.listeners.get(conn.listener.name);
  if (!lr || lr === conn.listener) return conn;
  const chain = lr.chainFor(conn.destination);
  return chain ? { ...conn, listener: lr, chain } : conn;
}

/** The HTTP/1.1 and HTTP/2 servers of one listener. */
export class HttpIngress {
  readonly h1: H1Server;
  readonly h2: Http2Server;
  private readonly sessionConn = new WeakMap<ServerHttp2Session, ConnectionInfo>();
  private readonly sessions = new Set<ServerHttp2Session>();
  private pendingConn: ConnectionInfo | undefined;

  constructor(private readonly ctx: ProxyContext) {
    this.h1 = createH1Server({ maxHeaderSize: MAX_HEADER_BYTES, keepAliveTimeout: 60_000, headersTimeout: 60_000, requestTimeout: 0, noDelay: true }, (req, res) =>
      this.handle(req, res, (req.socket as TaggedSocket)[CONN]!, 'HTTP/1.1'),
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
    this.h2 = createH2Server({ settings: { initialWindowSize: 1 << 20, maxHeaderListSize: MAX_HEADER_BYTES } }, (req, res) => {
      const conn = this.sessionConn.get(req.stream.session as ServerHttp2Session)!;
      this.handle(req, res, conn, 'HTTP/2');
    });
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
    (socket as TaggedSocket)[CONN] = conn;
    this.h1.emit('connection', socket);
    socket.resume();
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
  }

  /** Closes everything at once (end of the drain period). */
  destroy(): void {
    for (const s of this.sessions) s.destroy();
    this.h1.closeAllConnections();
  }

  private handle(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse, connAtAccept: ConnectionInfo, protocol: 'HTTP/1.1' | 'HTTP/2'): void {
    const ctx = this.ctx;
    const runtime = ctx.current();
    const conn = currentView(connAtAccept, runtime);
    let headers: HeaderMap;
    let authority: string;
    let path = req.url ?? '/';
    let scheme = 'http';
    // Decided before hop-by-hop headers (transfer-encoding) are stripped.
    const hasBody =
      protocol === 'HTTP/2'
        ? !(req as Http2ServerRequest).stream.endAfterHeaders
        : req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    if (protocol === 'HTTP/1.1') {
      headers = stripHopByHop(req.headers as HeaderMap);
      authority = (headers.host as string | undefined) ?? '';
      delete headers.host;
      if (path.charCodeAt(0) !== 47 /* '/' */ && path !== '*') {
        // absolute-form (a client using us as HTTP_PROXY): the URL names the authority
        try {
          const u = new URL(path);
          authority = u.host;
          scheme = u.protocol.slice(0, -1);
          path = u.pathname + u.search;
        } catch {
          (res as ServerResponse).writeHead(400, { 'content-length': '0', connection: 'close' }).end();
          return;
        }
      }
    } else {
      headers = {};
      const h = req.headers;
      for (const k in h) if (k.charCodeAt(0) !== 58) headers[k] = h[k];
      stripHopByHop(headers);
      authority = (h[':authority'] as string | undefined) ?? (headers.host as string | undefined) ?? '';
      delete headers.host;
      scheme = (h[':scheme'] as string | undefined) ?? 'http';
    }
    delete headers.expect;
    const body = new RequestBody(hasBody ? req : null);
    const ex = new Exchange(runtime, conn, req.method ?? 'GET', path, authority, scheme, headers, protocol, body, performance.now());
    let peerMetadata: string | undefined;
    if (conn.listener.direction === 'inbound') {
      const op = headers[ORIG_PROTO_HEADER];
      if (op === 'HTTP/1.1') ex.origProto = 'HTTP/1.1';
      delete headers[ORIG_PROTO_HEADER];
      peerMetadata = headers[PEER_METADATA_HEADER] as string | undefined;
      delete headers[PEER_METADATA_HEADER];
    } else if (conn.listener.mode === 'http-proxy') {
      ex.target = parseTarget(authority, scheme === 'https' ? 443 : 80);
    }
    prepareTracing(ex);
    ctx.requestStarted();
    // Registered before the stack runs, so a downstream that goes away while the upstream is still
    // working (a peer sidecar's RST_STREAM CANCEL after its route timeout) cancels that work and
    // ends the exchange, instead of leaving it in flight until the upstream answers.
    res.once('close', () => {
      if (!responseCompleted(res)) ex.downstreamGone();
    });
    const done = (status: number, grpcStatus: string | undefined): void => {
      ctx.requestFinished();
      ctx.telemetry.recordHttp(ex, status, peerMetadata, grpcStatus);
    };
    httpStack(ex).then(
      (pr) => sendResponse(ex, res, pr, ctx.draining, done),
      (err: unknown) => {
        const pr = failureResponse(ex, err);
        if (!pr) {
          res.destroy();
          done(0, undefined);
          return;
        }
        if (!(err instanceof UpstreamFailure)) ctx.log.error('request failed inside the proxy', { error: (err as Error).message });
        sendResponse(ex, res, pr, ctx.draining, done);
      },
    );
  }
}
