/**
 * Writing a ProxyResponse to the downstream, HTTP/1.1 or HTTP/2 alike: headers, the body streamed
 * with backpressure, trailers after it (gRPC), trailers-only responses kept trailers-only. Also
 * the Envoy-style local replies for failures (503 UF/UO/UH/UC, 504 UT), as gRPC status for gRPC.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as h2constants, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { Exchange, ExchangeDone } from './exchange.js';
import { Flags, localResponse, UpstreamFailure, type HeaderMap, type ProxyResponse } from '../ground/types.js';
import { grpcLocalResponse, grpcStatusForHttp } from './grpc-status.js';
import { NOT_SENT_HEADER } from '../ground/peer-metadata.js';

/** The response object of either server. */
export type DownstreamResponse = ServerResponse | Http2ServerResponse;
export type DownstreamRequest = IncomingMessage | Http2ServerRequest;

/** The local reply for an upstream failure, flagging the exchange. */
export function failureResponse(ex: Exchange, err: unknown): ProxyResponse | undefined {
  let status = 503;
  let message: string;
  if (!(err instanceof UpstreamFailure)) {
    status = 500;
    message = 'internal proxy error';
  } else {
    switch (err.kind) {
      case 'no-healthy':
        ex.flag(Flags.noHealthyUpstream);
        message = 'no healthy upstream';
        break;
      case 'overflow':
        ex.flag(Flags.upstreamOverflow);
        message = 'upstream connect error or disconnect/reset before headers. reset reason: overflow';
        break;
      case 'connect-failure':
        ex.flag(Flags.upstreamConnectFailure);
        message = 'upstream connect error or disconnect/reset before headers. reset reason: connection failure';
        break;
      case 'timeout':
        ex.flag(Flags.upstreamRequestTimeout);
        status = 504;
        message = 'upstream request timeout';
        break;
      case 'downstream-closed':
        ex.flag(Flags.downstreamConnectionTermination);
        return undefined;
      default:
        ex.flag(Flags.upstreamConnectionTermination);
        message = 'upstream connect error or disconnect/reset before headers. reset reason: connection termination';
    }
  }
  const reply = ex.isGrpc() ? grpcLocalResponse(grpcStatusForHttp(status), message) : localResponse(status, message);
  // A peer sidecar asking on behalf of its app: tell it no app saw the request, so it may try another endpoint.
  if (
    err instanceof UpstreamFailure &&
    err.kind === 'connect-failure' &&
    ex.conn.mtls &&
    ex.conn.listener.direction === 'inbound'
  )
    reply.headers[NOT_SENT_HEADER] = '1';
  return reply;
}

/**
 * Whether the response reached its end before the downstream closed; false when the downstream
 * went away first (connection dropped, or an h2 stream reset by the peer, e.g. RST_STREAM CANCEL
 * from a client sidecar whose route timeout fired). Only meaningful once `res` emitted 'close'.
 * Not `res.writableFinished` for HTTP/2: node ends the stream's writable side itself when the
 * peer resets it, so that reads true for an aborted stream too.
 */
export function responseCompleted(res: DownstreamResponse): boolean {
  const stream = (res as Partial<Http2ServerResponse>).stream;
  if (stream === undefined) return (res as ServerResponse).writableFinished;
  return !stream.aborted && (stream.rstCode === undefined || stream.rstCode === h2constants.NGHTTP2_NO_ERROR);
}

function grpcStatusOf(pr: ProxyResponse, trailers: HeaderMap | undefined): string | undefined {
  const v = trailers?.['grpc-status'] ?? pr.headers['grpc-status'];
  return v === undefined ? undefined : String(v);
}

/**
 * Sends `pr` on `res`; `done(ex, status, grpcStatus)` is called exactly once when the exchange is over
 * (finished or aborted), for telemetry.
 */
export function sendResponse(
  ex: Exchange,
  res: DownstreamResponse,
  pr: ProxyResponse,
  draining: boolean,
  done: ExchangeDone,
): void {
  if (ex.downstreamClosed) {
    // The downstream is already gone (its 'close' has fired, and would not fire again): nothing
    // can be sent. Release the upstream body and end the exchange now, with no response code.
    ex.flag(Flags.downstreamConnectionTermination);
    if (pr.body && !pr.body.destroyed) pr.body.destroy();
    done(ex, 0, undefined);
    return;
  }
  let finished = false;
  let trailers: HeaderMap | undefined;
  /** the proxy broke the response itself (upstream failure): not a downstream disconnect */
  let brokenByProxy = false;
  const destroyDownstream = (): void => {
    brokenByProxy = true;
    res.destroy();
  };
  const finish = (): void => {
    if (finished) return;
    finished = true;
    done(ex, pr.status, grpcStatusOf(pr, trailers));
  };
  res.once('close', () => {
    if (!responseCompleted(res)) {
      if (!brokenByProxy) ex.flag(Flags.downstreamConnectionTermination);
      if (pr.body && !pr.body.destroyed) pr.body.destroy();
    }
    finish();
  });
  const h2 = ex.protocol === 'HTTP/2';
  const headers = pr.headers;
  if (draining && !h2) headers.connection = 'close';
  if (pr.trailersOnly && h2) {
    const all: Record<string, string | string[] | number> = { ':status': pr.status };
    for (const k in headers) if (headers[k] !== undefined) all[k] = headers[k]!;
    (res as Http2ServerResponse).stream.respond(all, { endStream: true });
    pr.body?.resume();
    return;
  }
  if (
    !h2 &&
    pr.body !== null &&
    headers['content-length'] === undefined &&
    pr.status !== 204 &&
    pr.status !== 304 &&
    ex.method !== 'HEAD' &&
    (res as ServerResponse).req?.httpVersionMinor === 1
  ) {
    // Without it node:http may delimit the body by closing the connection, and trailers would be lost.
    headers['transfer-encoding'] = 'chunked';
  }
  try {
    (res as ServerResponse).writeHead(pr.status, headers as Record<string, string | string[]>);
  } catch {
    // Invalid upstream headers: nothing sensible can be forwarded.
    ex.flag(Flags.upstreamConnectionTermination);
    destroyDownstream();
    return;
  }
  const body = pr.body;
  if (body === null || pr.trailersOnly) {
    body?.resume();
    res.end();
    return;
  }
  body.on('data', (c: Buffer) => {
    ex.bytesSent += c.length;
  });
  let ended = false;
  body.once('end', () => {
    ended = true;
    trailers = pr.trailers();
    if (trailers) (res as ServerResponse).addTrailers(trailers as Record<string, string>);
    res.end();
  });
  body.once('error', () => {
    // The upstream went away mid-body: the client must see a broken response, not a short one.
    ex.flag(Flags.upstreamConnectionTermination);
    destroyDownstream();
  });
  body.once('close', () => {
    if (ended || finished) return;
    ex.flag(Flags.upstreamConnectionTermination);
    destroyDownstream();
  });
  body.pipe(res as NodeJS.WritableStream, { end: false });
}
