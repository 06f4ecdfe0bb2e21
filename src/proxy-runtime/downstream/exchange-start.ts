/**
 * What every HTTP server path (node:http, node:http2, the HTTP/1.1 fast path) does around the
 * layer stack: route each request with the CURRENT config version, take the peer sidecar's
 * headers off, start tracing and the in-flight count, and once the stack answered, write the
 * response (or the Envoy-style failure reply) and record telemetry exactly once.
 */
import { Exchange, type ConnectionInfo } from '../http/exchange.js';
import type { RequestBody } from '../http/retry/request-body.js';
import { httpStack } from '../http/stack.js';
import { failureResponse } from '../http/respond.js';
import { UpstreamFailure, type HeaderMap, type ProxyResponse } from '../ground/types.js';
import { prepareTracing, releaseIds } from '../telemetry/trace.js';
import { ORIG_PROTO_HEADER } from '../http/forward.js';
import type { Runtime } from '../http/config-version.js';
import { PEER_METADATA_HEADER } from '../ground/peer-metadata.js';
import type { ProxyContext } from './context.js';

function parseTarget(authority: string, defaultPort: number): { address: string; port: number } {
  const m = /^\[?([^\]]*?)\]?(?::(\d+))?$/.exec(authority);
  return { address: m?.[1] ?? authority, port: m?.[2] ? Number(m[2]) : defaultPort };
}

/**
 * A kept-alive connection outlives config versions: each request routes with the listener and
 * chain of the CURRENT version (the connection's facts stay). A listener that is gone keeps the
 * old view until its connections drain.
 */
export function currentView(conn: ConnectionInfo, runtime: Runtime): ConnectionInfo {
  const lr = runtime.listeners.get(conn.listener.name);
  if (!lr || lr === conn.listener) return conn;
  const chain = lr.chainFor(conn.destination);
  return chain ? { ...conn, listener: lr, chain } : conn;
}

/** Builds the exchange of a request that arrived on `connAtAccept`; `headers` lose the mesh-internal fields. */
export function beginExchange(
  ctx: ProxyContext,
  connAtAccept: ConnectionInfo,
  method: string,
  path: string,
  authority: string,
  scheme: string,
  headers: HeaderMap,
  protocol: 'HTTP/1.1' | 'HTTP/2',
  body: RequestBody,
): Exchange {
  const runtime = ctx.current();
  const conn = currentView(connAtAccept, runtime);
  const ex = new Exchange(runtime, conn, method, path, authority, scheme, headers, protocol, body, performance.now());
  if (conn.listener.direction === 'inbound') {
    // Taken off by setting them undefined (every writer skips undefined fields): `delete` would turn
    // the header map into a dictionary, which made serialising it 2.5x slower on every inbound request.
    const op = headers[ORIG_PROTO_HEADER];
    if (op === 'HTTP/1.1') ex.origProto = 'HTTP/1.1';
    if (op !== undefined) headers[ORIG_PROTO_HEADER] = undefined;
    const peer = headers[PEER_METADATA_HEADER] as string | undefined;
    if (peer !== undefined) {
      ex.peerMetadata = peer;
      headers[PEER_METADATA_HEADER] = undefined;
    }
  } else if (conn.listener.mode === 'http-proxy') {
    ex.target = parseTarget(authority, scheme === 'https' ? 443 : 80);
  }
  if (conn.chain.cfg.edge) {
    // A gateway: what the client says about the scheme is not believed.
    headers['x-forwarded-proto'] = conn.scheme ?? 'http';
    const xff = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = typeof xff === 'string' && xff ? `${xff}, ${conn.remoteAddress}` : conn.remoteAddress;
  }
  prepareTracing(ex);
  ctx.requestStarted(conn.listener.direction === 'inbound');
  return ex;
}

/** Where an exchange's response goes: the server path that received its request. */
export interface ExchangeSink {
  /** Writes `pr`; calls finishExchange exactly once when the exchange is over. */
  send(ex: Exchange, pr: ProxyResponse): void;
  /** Nothing can be sent: drops the downstream. */
  abort(ex: Exchange): void;
}

/** The exchange is over: in-flight count and telemetry (called once per exchange). */
export function finishExchange(ctx: ProxyContext, ex: Exchange, status: number, grpcStatus: string | undefined): void {
  ctx.requestFinished(ex.conn.listener.direction === 'inbound');
  releaseIds(ex);
  ctx.telemetry.recordHttp(ex, status, grpcStatus);
}

/** Runs the stack for `ex` and hands what it produced to `sink`. */
export function runExchange(ctx: ProxyContext, ex: Exchange, sink: ExchangeSink): void {
  let answer: Promise<ProxyResponse>;
  try {
    answer = httpStack(ex);
  } catch (err) {
    // layers that skip async frames can throw synchronously: same path as a rejection
    answer = Promise.reject(err);
  }
  answer.then(
    (pr) => sink.send(ex, pr),
    (err: unknown) => {
      const pr = failureResponse(ex, err);
      if (!pr) {
        sink.abort(ex);
        finishExchange(ctx, ex, 0, undefined);
        return;
      }
      if (!(err instanceof UpstreamFailure))
        ctx.log.error('request failed inside the proxy', { error: (err as Error).message });
      sink.send(ex, pr);
    },
  );
}
