/**
 * Writing a ProxyResponse to an HTTP/1.x downstream on the fast path: the head is held back until
 * the first body bytes (or the end) so head and body leave in one corked write; the body streams
 * with backpressure as is under Content-Length, chunked otherwise (trailers in the last chunk), or
 * delimited by close for an HTTP/1.0 client. Same outcomes as the node:http path: DC when the
 * client goes away, UC (and a broken response, never a short one) when the upstream does.
 */
import type { Socket } from 'node:net';
import type { Exchange, ExchangeDone } from '../../http/exchange.js';
import { Flags, type HeaderMap, type ProxyResponse } from '../../ground/types.js';
import { chunkHeader } from '../../ground/http1/body-decoder.js';
import { fieldLines, statusLine, wire } from '../../ground/http1/head-writer.js';
import { writeDirect } from '../../ground/http1/direct-io.js';

/** The downstream connection as the writer sees it. */
export interface H1Downstream {
  readonly socket: Socket;
  /** minor version of the request (0: HTTP/1.0) */
  readonly versionMinor: number;
  /** the client asked to close, or the request body could not be read to its end */
  readonly closeAfter: boolean;
  /** called by the connection when its socket closed while this response was in progress */
  onClose: (() => void) | undefined;
  /** the response was written completely; `close`: the connection ends after it */
  responseFinished(close: boolean): void;
}

/** Bodies up to this size are copied behind the head and written with it as one buffer. */
const SINGLE_WRITE_MAX = 16 * 1024;

function grpcStatusOf(pr: ProxyResponse, trailers: HeaderMap | undefined): string | undefined {
  const v = trailers?.['grpc-status'] ?? pr.headers['grpc-status'];
  return v === undefined ? undefined : String(v);
}

/**
 * Sends `pr`; `done(ex, status, grpcStatus)` is called exactly once when the exchange is over
 * (finished or aborted), for telemetry.
 */
export function writeH1Response(
  ex: Exchange,
  d: H1Downstream,
  pr: ProxyResponse,
  draining: boolean,
  done: ExchangeDone,
): void {
  if (ex.downstreamClosed) {
    ex.flag(Flags.downstreamConnectionTermination);
    if (pr.body && !pr.body.destroyed) pr.body.destroy();
    done(ex, 0, undefined);
    return;
  }
  const socket = d.socket;
  const status = pr.status;
  const headers = pr.headers;
  const bodyAllowed = status !== 204 && status !== 304 && ex.method !== 'HEAD';
  const complete = pr.complete;
  if (complete !== undefined && bodyAllowed && headers['content-length'] !== undefined) {
    // The whole body is here already: head and body in one write, no stream, and nothing to
    // wait for (no closures either: this is the hot path).
    const close = d.closeAfter || draining || d.versionMinor === 0;
    const w = wire.start().raw(statusLine(status));
    if (!w.fields(headers)) {
      ex.flag(Flags.upstreamConnectionTermination);
      socket.destroy();
      done(ex, status, undefined);
      return;
    }
    ex.bytesSent += complete.length;
    w.raw(close ? 'connection: close\r\n\r\n' : '\r\n');
    if (complete.length <= SINGLE_WRITE_MAX) {
      // Head and body in one buffer, one write (copying a small body is cheaper than a writev).
      w.bytes(complete).send(socket);
    } else {
      w.send(socket);
      socket.write(complete);
    }
    done(ex, status, grpcStatusOf(pr, undefined));
    d.responseFinished(close);
    return;
  }
  let finished = false;
  let trailers: HeaderMap | undefined;
  let brokenByProxy = false;
  const finish = (close: boolean): void => {
    if (finished) return;
    finished = true;
    d.onClose = undefined;
    done(ex, status, grpcStatusOf(pr, trailers));
    d.responseFinished(close);
  };
  const broken = (): void => {
    // The upstream went away mid-body: the client must see a broken response, not a short one.
    if (finished) return;
    ex.flag(Flags.upstreamConnectionTermination);
    brokenByProxy = true;
    socket.destroy();
  };
  d.onClose = () => {
    if (finished) return;
    if (!brokenByProxy) ex.flag(Flags.downstreamConnectionTermination);
    if (pr.body && !pr.body.destroyed) pr.body.destroy();
    finished = true;
    d.onClose = undefined;
    done(ex, status, grpcStatusOf(pr, trailers));
  };
  const body = bodyAllowed ? pr.body : null;
  let close = d.closeAfter || draining || d.versionMinor === 0;
  let chunked = false;
  if (body !== null && headers['content-length'] === undefined) {
    if (d.versionMinor === 1) chunked = true;
    else close = true;
  } else if (body === null && bodyAllowed && headers['content-length'] === undefined) headers['content-length'] = '0';
  let head = fieldLines(headers, statusLine(status));
  if (head === undefined) {
    // Invalid upstream header names or values: nothing sensible can be forwarded.
    pr.body?.destroy();
    broken();
    return;
  }
  if (chunked) head += 'transfer-encoding: chunked\r\n';
  head += close ? 'connection: close\r\n\r\n' : '\r\n';
  if (body === null) {
    if (pr.body && !pr.body.destroyed) {
      pr.body.on('error', () => undefined);
      pr.body.resume();
    }
    writeDirect(socket, head);
    finish(close);
    return;
  }
  let headPending = true;
  let ended = false;
  const resume = (): void => {
    body.resume();
  };
  body.on('data', (c: Buffer) => {
    if (finished) return;
    ex.bytesSent += c.length;
    let ok: boolean;
    if (headPending || chunked) {
      socket.cork();
      if (headPending) {
        socket.write(head, 'latin1');
        headPending = false;
      }
      if (chunked) {
        socket.write(chunkHeader(c.length), 'latin1');
        socket.write(c);
        ok = socket.write('\r\n', 'latin1');
      } else ok = socket.write(c);
      socket.uncork();
    } else ok = socket.write(c);
    if (!ok) {
      body.pause();
      socket.once('drain', resume);
    }
  });
  body.once('end', () => {
    ended = true;
    if (finished) return;
    trailers = pr.trailers();
    let tail = headPending ? head : '';
    if (chunked) {
      tail += '0\r\n';
      if (trailers) tail = fieldLines(trailers, tail) ?? tail;
      tail += '\r\n';
    }
    if (tail.length > 0) socket.write(tail, 'latin1');
    finish(close);
  });
  body.once('error', broken);
  body.once('close', () => {
    if (!ended) broken();
  });
}
