/**
 * One downstream HTTP/1.1 connection on the fast path: heads parsed strictly (refused ones get
 * their 4xx and the connection closes, nothing forwarded), bodies streamed into the exchange with
 * backpressure, one request at a time (pipelined bytes wait, reading paused, until the response
 * before them is written), keep-alive, Expect: 100-continue. Requests the fast path does not
 * serve (Upgrade, CONNECT) hand the connection, from that request on, to the node:http server.
 */
import { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import type { ConnectionInfo, Exchange, ExchangeDone } from '../../http/exchange.js';
import type { ProxyContext } from '../context.js';
import { RequestBody } from '../../http/retry/request-body.js';
import { parseHead, isHeadError, MAX_HEAD_BYTES, type MessageHead } from '../../ground/http1/head-parser.js';
import { ChunkedDecoder, Feed, LengthDecoder, type BodyDecoder } from '../../ground/http1/body-decoder.js';
import { plainReply } from '../../ground/http1/head-writer.js';
import { writeH1Response, type H1Downstream } from './response-writer.js';
import type { ProxyResponse } from '../../ground/types.js';
import { beginExchange, finishExchange, runExchange, type ExchangeSink } from '../exchange-start.js';
import { absoluteTarget } from '../../http/request-target.js';
import { endDirectRead, kept, readDirect, writeDirect } from '../../ground/http1/direct-io.js';

/**
 * A connection waiting this long for (the rest of) a request head is closed, as node:http's
 * keepAliveTimeout/headersTimeout. Checked by the ingress's sweep, not a per-socket timer that
 * every read and write would re-arm.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 60_000;

/**
 * A request head started but not complete after this long gets 408 Request Timeout and the
 * connection is closed (slowloris; checked every second by the ingress's sweep, so 10-11 s).
 */
export const REQUEST_HEAD_TIMEOUT_MS = 10_000;

/** What the fast path needs from the ingress around it. */
export interface H1Host {
  /** hands the socket (with `bytes` put back in front) to the node:http server */
  handOff(socket: Socket, conn: ConnectionInfo, bytes: Buffer): void;
  /** the connection closed */
  forget(c: H1ServerConnection): void;
}

/** The body of a downstream request, read as the upstream request reads it. */
class RequestBodyStream extends Readable {
  constructor(private readonly conn: H1ServerConnection) {
    super();
  }

  override _read(): void {
    this.conn.resumeBody();
  }
}

const State = { Head: 0, Body: 1, Busy: 2, Closed: 3 } as const;
type StateValue = (typeof State)[keyof typeof State];

/** One downstream connection served by the fast path. */
export class H1ServerConnection implements H1Downstream, ExchangeSink {
  versionMinor = 1;
  closeAfter = false;
  onClose: (() => void) | undefined;
  private state: StateValue = State.Head;
  private pending: Buffer | undefined;
  private decoder: BodyDecoder | undefined;
  private body: RequestBodyStream | undefined;
  private responseDone = true;
  /** socket.bytesWritten when the request started: more means the response began */
  private writtenAtStart = 0;
  /** the exchange in progress, told when the downstream goes away before its response ended */
  private exchange: Exchange | undefined;
  private readonly onData = (c: Buffer): void => this.data(c);
  private readonly onSocketClose = (): void => this.closed();
  /** when the connection last started waiting for a request head */
  private idleSince = Date.now();
  /** When the first byte of the request head now being read arrived. */
  private headStartedAt: number | undefined;
  private readonly sink = (c: Buffer): void => {
    if (!this.body!.push(kept(c))) this.socket.pause();
  };

  constructor(
    private readonly ctx: ProxyContext,
    private readonly host: H1Host,
    readonly socket: Socket,
    private readonly conn: ConnectionInfo,
  ) {
    socket.on('close', this.onSocketClose);
    const direct = readDirect(socket, (buf, n) => {
      // The usual case, a new request: parsed in place, no view of the shared buffer made.
      if (this.state === State.Head && this.pending === undefined) this.parse(buf, n);
      else this.data(buf.subarray(0, n));
    });
    if (!direct) socket.on('data', this.onData);
    socket.resume();
  }

  private readonly done: ExchangeDone = (ex, status, grpcStatus) => finishExchange(this.ctx, ex, status, grpcStatus);

  /** Writes the response of the exchange in progress. */
  send(ex: Exchange, pr: ProxyResponse): void {
    writeH1Response(ex, this, pr, this.ctx.draining, this.done);
  }

  /** The exchange failed with nothing to send: the connection cannot go on. */
  abort(): void {
    this.socket.destroy();
  }

  /** Draining: an idle connection closes now, a busy one after its response. */
  drain(): void {
    if (this.state === State.Head && this.pending === undefined) this.socket.end();
    else this.closeAfter = true;
  }

  /**
   * Closes the connection when it has waited for a request head longer than `timeoutMs`; a head
   * started but incomplete after REQUEST_HEAD_TIMEOUT_MS is answered 408 first.
   */
  closeIfIdle(now: number, timeoutMs: number): void {
    if (this.state !== State.Head) return;
    if (this.headStartedAt !== undefined && now - this.headStartedAt > REQUEST_HEAD_TIMEOUT_MS)
      return this.refuse(408, 'request head not complete in time');
    if (now - this.idleSince > timeoutMs) this.socket.destroy();
  }

  /** The request body's reader wants more. */
  resumeBody(): void {
    if (this.state === State.Body) this.socket.resume();
  }

  private data(chunk: Buffer): void {
    if (this.state === State.Body) return this.feedBody(chunk, 0);
    if (this.state === State.Closed) return;
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.state === State.Busy) {
      // pipelined: wait for the response in progress
      this.pending = kept(buf);
      this.socket.pause();
      return;
    }
    this.pending = undefined;
    this.parse(buf);
  }

  /** Parses the request head at the start of `buf[0..end)`. */
  private parse(buf: Buffer, end = buf.length): void {
    const h = parseHead(buf, 0, true, MAX_HEAD_BYTES, end);
    if (h === undefined) {
      this.pending = kept(buf.subarray(0, end));
      this.headStartedAt ??= Date.now();
      return;
    }
    this.headStartedAt = undefined;
    if (isHeadError(h)) return this.refuse(h.error, h.reason);
    if (h.upgrade || h.method === 'CONNECT') {
      this.state = State.Closed;
      this.socket.off('data', this.onData);
      this.socket.off('close', this.onSocketClose);
      endDirectRead(this.socket);
      this.host.forget(this);
      this.host.handOff(this.socket, this.conn, kept(buf.subarray(0, end)));
      return;
    }
    this.start(h, buf, end);
  }

  private refuse(status: number, reason: string): void {
    this.state = State.Closed;
    this.socket.pause();
    const s = this.socket;
    const text =
      status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    if (s.writable) s.end(plainReply(status, text));
    s.once('finish', () => s.destroy());
    setTimeout(() => s.destroy(), 1_000).unref();
    this.ctx.log.debug('refused malformed request', { reason });
  }

  private start(h: MessageHead, buf: Buffer, end: number): void {
    let path = h.target;
    const headers = h.headers;
    let authority = h.host ?? '';
    let scheme = this.conn.scheme ?? 'http';
    const absolute = absoluteTarget(path);
    if (absolute === null) return this.refuse(400, 'invalid absolute-form request-target');
    if (absolute) ({ authority, scheme, path } = absolute);
    const hasBody = h.chunked || h.contentLength > 0;
    this.versionMinor = h.versionMinor;
    this.closeAfter = h.close;
    this.responseDone = false;
    let body: RequestBodyStream | null = null;
    if (hasBody) {
      body = new RequestBodyStream(this);
      this.body = body;
      this.decoder = h.chunked ? new ChunkedDecoder() : new LengthDecoder(h.contentLength);
      this.state = State.Body;
      if (h.expectContinue) writeDirect(this.socket, 'HTTP/1.1 100 Continue\r\n\r\n');
    } else {
      this.body = undefined;
      this.decoder = undefined;
      this.state = State.Busy;
    }
    this.writtenAtStart = this.socket.bytesWritten;
    const ex = beginExchange(
      this.ctx,
      this.conn,
      h.method,
      path,
      authority,
      scheme,
      headers,
      'HTTP/1.1',
      new RequestBody(body),
    );
    this.exchange = ex;
    runExchange(this.ctx, ex, this);
    if (h.end < end) {
      if (hasBody) this.feedBody(end === buf.length ? buf : buf.subarray(0, end), h.end);
      else {
        this.pending = kept(buf.subarray(h.end, end));
        this.socket.pause();
      }
    }
  }

  private feedBody(buf: Buffer, start: number): void {
    const end = this.decoder!.feed(buf, start, this.sink);
    if (end === Feed.More) return;
    if (end === Feed.Invalid) {
      this.body!.destroy();
      const gone = this.exchange;
      this.exchange = undefined;
      gone?.downstreamGone();
      if (this.socket.bytesWritten === this.writtenAtStart) return this.refuse(400, 'invalid chunked framing');
      // the response may have started: the connection cannot be trusted any further
      this.state = State.Closed;
      this.socket.destroy();
      return;
    }
    this.body!.push(null);
    this.state = State.Busy;
    if (end < buf.length) {
      this.pending = kept(buf.subarray(end));
      this.socket.pause();
    }
    if (this.responseDone) this.next();
  }

  /** The response in progress was written completely. */
  responseFinished(close: boolean): void {
    this.responseDone = true;
    this.exchange = undefined;
    if (close || this.state === State.Closed) {
      this.state = State.Closed;
      this.socket.end();
      return;
    }
    if (this.state === State.Body) {
      // answered before the request body was read: only closing keeps the framing safe
      this.state = State.Closed;
      this.socket.end();
      return;
    }
    this.next();
  }

  /** Moves on to the next request (pipelined bytes first). */
  private next(): void {
    this.state = State.Head;
    this.idleSince = Date.now();
    this.body = undefined;
    this.decoder = undefined;
    const p = this.pending;
    this.pending = undefined;
    if (p !== undefined) this.parse(p);
    if (this.state === State.Head || this.state === State.Body) this.socket.resume();
  }

  private closed(): void {
    this.state = State.Closed;
    this.host.forget(this);
    if (this.body && !this.body.readableEnded) this.body.destroy();
    const gone = this.exchange;
    this.exchange = undefined;
    if (!this.responseDone) gone?.downstreamGone();
    this.onClose?.();
  }
}
