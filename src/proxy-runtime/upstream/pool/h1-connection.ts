/**
 * One kept-alive HTTP/1.1 connection to an upstream, one request at a time: the request head is
 * written as one string (with Host first), the body streamed (as is under Content-Length, chunked
 * otherwise), the response head parsed strictly and the body handed on as it arrives, with
 * backpressure both ways. When request and response both ended cleanly, the connection goes back
 * to its pool; anything unclean (early response, extra bytes, Connection: close) closes it.
 */
import { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import { UpstreamFailure, type HeaderMap, type ProxyResponse, type UpstreamRequestHead } from '../../ground/types.js';
import { describeSocketError } from '../../ground/dial/connect.js';
import { parseHead, isHeadError, MAX_HEAD_BYTES, type MessageHead } from '../../ground/http1/head-parser.js';
import {
  ChunkedDecoder,
  Feed,
  LengthDecoder,
  UntilCloseDecoder,
  chunkHeader,
  type BodyDecoder,
} from '../../ground/http1/body-decoder.js';
import { wire } from '../../ground/http1/head-writer.js';
import { borrowed, kept, own, readDirect } from '../../ground/http1/direct-io.js';

/** A request waiting for, or using, a connection. */
export interface UpstreamRequest {
  readonly head: UpstreamRequestHead;
  readonly body: NodeJS.ReadableStream | null;
  resolve(res: ProxyResponse): void;
  /** `staleReuse`: failed on a reused connection before any response byte (safe to resend bodyless idempotent requests) */
  reject(err: UpstreamFailure, staleReuse: boolean): void;
  /** set once cancelled: nothing more is delivered */
  cancelled: Error | undefined;
  connection: UpstreamConnection | undefined;
}

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** the connection finished a request cleanly and may serve another */
  release(c: UpstreamConnection): void;
  /** the connection closed */
  closed(c: UpstreamConnection): void;
  readonly maxRequestsPerConnection: number;
}

/** The body of an upstream response, read as the downstream reads it. */
class ResponseBody extends Readable {
  constructor(private readonly conn: UpstreamConnection) {
    super();
    // Whoever reads the body listens for its errors; one that breaks before anyone reads it must
    // not reach the process as an unhandled 'error' (the readers still see 'close').
    this.on('error', ignore);
  }

  override _read(): void {
    this.conn.socket.resume();
  }
}

/** One upstream HTTP/1.1 connection. */
export class UpstreamConnection {
  /** requests started on this connection */
  requests = 0;
  idleSince = 0;
  closed = false;
  private cur: UpstreamRequest | undefined;
  private pending: Buffer | undefined;
  private decoder: BodyDecoder | undefined;
  private stream: ResponseBody | undefined;
  private responded = false;
  private gotBytes = false;
  private requestBodyDone = true;
  private responseDone = false;
  private keepAlive = true;
  private lastError: Error | undefined;
  private readonly sink = (c: Buffer): void => {
    if (!this.stream!.push(kept(c))) this.socket.pause();
  };

  constructor(
    readonly socket: Socket,
    private readonly owner: ConnectionOwner,
  ) {
    socket.on('error', (e) => (this.lastError = e));
    socket.on('close', () => this.onClose());
    const direct = readDirect(socket, (buf, n) => {
      // The usual case, a response head: parsed in place, no view of the shared buffer made.
      if (this.decoder === undefined && this.pending === undefined) this.onData(buf, n);
      else this.onData(buf.subarray(0, n));
    });
    if (!direct) socket.on('data', (c: Buffer) => this.onData(c));
    socket.resume();
  }

  /** Whether the connection can take a request. */
  get usable(): boolean {
    return !this.closed && this.cur === undefined && !this.socket.destroyed;
  }

  /** Sends `req` on this (idle) connection. */
  start(req: UpstreamRequest): void {
    this.cur = req;
    req.connection = this;
    this.requests++;
    this.pending = undefined;
    this.decoder = undefined;
    this.stream = undefined;
    this.responded = false;
    this.gotBytes = false;
    this.responseDone = false;
    this.keepAlive = true;
    const { head, body } = req;
    const w = wire.start().raw(head.method).raw(' ');
    const valid =
      w.value(head.path, true) &&
      w.raw(' HTTP/1.1\r\nhost: ').value(head.authority) &&
      w.raw('\r\n').fields(head.headers);
    if (!valid) {
      this.fail(new UpstreamFailure('reset', 'request head cannot be sent: invalid header name or value'), false);
      this.socket.destroy();
      return;
    }
    if (body === null) {
      this.requestBodyDone = true;
      w.raw('\r\n').send(this.socket);
      return;
    }
    this.requestBodyDone = false;
    const chunked = head.headers['content-length'] === undefined;
    w.raw(chunked ? 'transfer-encoding: chunked\r\n\r\n' : '\r\n').send(this.socket);
    const socket = this.socket;
    const onData = (c: Buffer): void => {
      if (this.cur !== req) return;
      let ok: boolean;
      if (chunked) {
        if (c.length === 0) return;
        socket.cork();
        socket.write(chunkHeader(c.length), 'latin1');
        socket.write(c);
        ok = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else ok = socket.write(c);
      if (!ok) {
        body.pause();
        socket.once('drain', () => body.resume());
      }
    };
    const onEnd = (): void => {
      if (this.cur !== req) return;
      if (chunked) socket.write('0\r\n\r\n', 'latin1');
      this.requestBodyDone = true;
      if (this.responseDone) this.finish();
    };
    const onAbort = (): void => {
      // The downstream body broke (client gone, or a retry replaced this attempt): this request
      // cannot be completed on this connection.
      if (this.cur !== req || this.requestBodyDone) return;
      this.socket.destroy();
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onAbort);
    body.once('close', onAbort);
    body.resume();
  }

  /** Gives up the current request (timeout, downstream gone). */
  abort(reason: Error): void {
    this.stream?.destroy(reason);
    this.socket.destroy();
  }

  /** Bytes from the upstream: `chunk[0..end)`. */
  private onData(chunk: Buffer, end = chunk.length): void {
    const req = this.cur;
    if (req === undefined) {
      // bytes while idle: the upstream is not speaking HTTP/1.1 as we do; do not reuse
      this.socket.destroy();
      return;
    }
    this.gotBytes = true;
    if (this.decoder !== undefined) {
      this.feedBody(end === chunk.length ? chunk : chunk.subarray(0, end), 0);
      return;
    }
    let buf = chunk;
    let len = end;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk.subarray(0, end)]);
      len = buf.length;
    }
    let at = 0;
    for (;;) {
      const h = parseHead(buf, at, false, MAX_HEAD_BYTES, len);
      if (h === undefined) {
        this.pending = own(buf, at, len); // a partial head: rare, and the bytes may be borrowed
        return;
      }
      if (isHeadError(h)) {
        this.fail(new UpstreamFailure('reset', `invalid response from upstream: ${h.reason}`), false);
        this.socket.destroy();
        return;
      }
      if (h.status >= 100 && h.status < 200) {
        if (h.status === 101) {
          this.fail(
            new UpstreamFailure('reset', 'upstream switched protocols on a request that did not ask to'),
            false,
          );
          this.socket.destroy();
          return;
        }
        at = h.end; // 100 Continue, 103 Early Hints: not forwarded
        continue;
      }
      this.pending = undefined;
      this.onHead(req, h, buf, len);
      return;
    }
  }

  /** The response head `h` arrived in `buf[0..len)`. */
  private onHead(req: UpstreamRequest, h: MessageHead, buf: Buffer, len: number): void {
    if (h.otherEncoding) {
      this.fail(new UpstreamFailure('reset', 'upstream response uses a transfer coding other than chunked'), false);
      this.socket.destroy();
      return;
    }
    this.keepAlive = !h.close;
    this.responded = true;
    const noBody = req.head.method === 'HEAD' || h.status === 204 || h.status === 304 || h.contentLength === 0;
    const headers = h.headers;
    if (noBody) {
      this.responseDone = true;
      req.resolve({ status: h.status, headers, body: null, trailers: noTrailers });
      if (h.end < len) this.keepAlive = false;
      if (this.requestBodyDone) this.finish();
      return;
    }
    const avail = len - h.end;
    if (!h.chunked && h.contentLength > 0 && avail >= h.contentLength) {
      // The whole body came with the head: hand it on as bytes, no stream needed.
      this.responseDone = true;
      if (avail > h.contentLength) this.keepAlive = false;
      const end = h.end + h.contentLength;
      req.resolve(
        new CompleteResponse(h.status, headers, borrowed(buf) ? own(buf, h.end, end) : buf.subarray(h.end, end)),
      );
      if (this.requestBodyDone) this.finish();
      else this.keepAlive = false;
      return;
    }
    this.decoder = h.chunked
      ? new ChunkedDecoder()
      : h.contentLength > 0
        ? new LengthDecoder(h.contentLength)
        : new UntilCloseDecoder();
    const decoder = this.decoder;
    if (!h.chunked && h.contentLength < 0) this.keepAlive = false;
    const stream = new ResponseBody(this);
    this.stream = stream;
    // Body bytes that came with the head are decoded before the response is handed on: broken
    // framing there fails the request (nobody holds the stream yet, so an error on it would be
    // unhandled and end the process).
    if (h.end < len && !this.feedBody(len === buf.length ? buf : buf.subarray(0, len), h.end)) {
      this.responded = false;
      this.fail(new UpstreamFailure('reset', 'invalid chunked framing from upstream'), false);
      return;
    }
    req.resolve({ status: h.status, headers, body: stream, trailers: () => decoder.trailers });
  }

  /** Feeds body bytes `buf[start..)` to the decoder; false when their framing is invalid (the connection is closed). */
  private feedBody(buf: Buffer, start: number): boolean {
    const end = this.decoder!.feed(buf, start, this.sink);
    if (end === Feed.More) return true;
    if (end === Feed.Invalid) {
      if (this.responded) this.stream!.destroy(new UpstreamFailure('reset', 'invalid chunked framing from upstream'));
      this.socket.destroy();
      return false;
    }
    if (end < buf.length) this.keepAlive = false;
    this.responseDone = true;
    this.stream!.push(null);
    if (this.requestBodyDone) this.finish();
    else this.keepAlive = false;
    return true;
  }

  /** Request and response both ended: back to the pool, or closed. */
  private finish(): void {
    const req = this.cur;
    this.cur = undefined;
    this.stream = undefined;
    this.decoder = undefined;
    if (req) req.connection = undefined;
    const max = this.owner.maxRequestsPerConnection;
    if (!this.keepAlive || this.closed || (max > 0 && this.requests >= max)) {
      this.socket.destroy();
      return;
    }
    this.owner.release(this);
  }

  private fail(err: UpstreamFailure, staleReuse: boolean): void {
    const req = this.cur;
    if (req === undefined) return;
    this.cur = undefined;
    req.connection = undefined;
    if (!this.responded && req.cancelled === undefined) req.reject(err, staleReuse);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.owner.closed(this);
    const req = this.cur;
    if (req === undefined) return;
    if (!this.responded) {
      const why = this.lastError ? describeSocketError(this.lastError) : 'connection closed';
      this.fail(
        new UpstreamFailure('reset', `upstream reset before response: ${why}`),
        this.requests > 1 && !this.gotBytes,
      );
      return;
    }
    if (!this.responseDone) {
      if (this.decoder?.closeEnds()) {
        this.responseDone = true;
        this.stream?.push(null);
      } else this.stream?.destroy(new UpstreamFailure('reset', 'upstream closed the connection mid-body'));
    }
    this.cur = undefined;
    req.connection = undefined;
  }
}

function ignore(): void {}

const noTrailers = (): HeaderMap | undefined => undefined;

/** A response whose body is already here: `body` is made (a stream over `complete`) only if asked for. */
class CompleteResponse implements ProxyResponse {
  private stream: Readable | undefined;
  constructor(
    readonly status: number,
    readonly headers: HeaderMap,
    readonly complete: Buffer,
  ) {}

  get body(): Readable {
    if (this.stream === undefined) {
      const s = new Readable({ read() {} });
      s.push(this.complete);
      s.push(null);
      this.stream = s;
    }
    return this.stream;
  }

  trailers(): HeaderMap | undefined {
    return undefined;
  }
}
