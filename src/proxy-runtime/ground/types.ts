/**
 * The shapes every floor of the proxy agrees on: the header map, what goes upstream (a request
 * head and a body stream) and what comes back (a response head, a body stream, trailers), why an
 * attempt failed and the Envoy flag it maps to. Local replies (404 NR, 503 UO, fault aborts) are
 * ProxyResponses too, so every layer sees one kind of result. Ground floor: pools and codecs below
 * HTTP use them as much as the layers do.
 */
import { Readable } from 'node:stream';

/** Header map: lowercase names; `set-cookie` and repeated headers may be arrays. */
export type HeaderMap = Record<string, string | string[] | undefined>;

/** The head of a request as sent upstream. */
export interface UpstreamRequestHead {
  method: string;
  /** origin-form path with query */
  path: string;
  authority: string;
  scheme: string;
  /** without pseudo headers, `host` and hop-by-hop headers */
  headers: HeaderMap;
}

/** A response on its way downstream. */
export interface ProxyResponse {
  status: number;
  headers: HeaderMap;
  /** null: no body */
  body: Readable | null;
  /** Trailers, available once the body ended. */
  trailers(): HeaderMap | undefined;
  /** The upstream sent headers with END_STREAM (gRPC trailers-only): forward the same way. */
  trailersOnly?: boolean;
  /** Made by the proxy itself, not an upstream. */
  local?: boolean;
  /**
   * The whole body, when it arrived with the head in one read (small responses on the HTTP/1.1
   * fast path): writers may send it as is instead of reading `body`, which is then only made (as
   * a stream over these bytes) if something asks for it. Nothing is waited for or collected.
   */
  complete?: Buffer;
}

const NO_TRAILERS = (): undefined => undefined;

/** A response made by the proxy (error replies, direct responses, redirects). */
export function localResponse(status: number, body: string | null, headers: HeaderMap = {}): ProxyResponse {
  const h: HeaderMap = { ...headers };
  let stream: Readable | null = null;
  if (body !== null && body.length > 0) {
    const buf = Buffer.from(body);
    h['content-length'] = String(buf.length);
    h['content-type'] ??= 'text/plain';
    stream = bufferStream(buf);
  } else {
    h['content-length'] = '0';
  }
  return { status, headers: h, body: stream, trailers: NO_TRAILERS, local: true };
}

function bufferStream(buf: Buffer): Readable {
  return Readable.from([buf], { objectMode: false });
}

/** Why an upstream attempt failed without a response. */
export type UpstreamFailureKind =
  'connect-failure' | 'reset' | 'refused-stream' | 'timeout' | 'overflow' | 'no-healthy' | 'downstream-closed';

/** An attempt that produced no response; `flag` is the Envoy response flag it maps to. */
export class UpstreamFailure extends Error {
  constructor(
    readonly kind: UpstreamFailureKind,
    message: string,
    /** true when the request certainly never reached the upstream application (safe to retry any method) */
    readonly notSent: boolean = kind === 'connect-failure' ||
      kind === 'refused-stream' ||
      kind === 'overflow' ||
      kind === 'no-healthy',
  ) {
    super(message);
  }
}

/** Envoy response flags used in access logs and the `response_flags` metric label. */
export const Flags = {
  noHealthyUpstream: 'UH',
  upstreamConnectFailure: 'UF',
  upstreamOverflow: 'UO',
  upstreamRetryLimitExceeded: 'URX',
  upstreamRequestTimeout: 'UT',
  downstreamConnectionTermination: 'DC',
  noRoute: 'NR',
  faultAbort: 'FI',
  faultDelay: 'DI',
  upstreamConnectionTermination: 'UC',
  streamIdleTimeout: 'SI',
  rateLimited: 'RL',
} as const;
export type Flag = (typeof Flags)[keyof typeof Flags];

/** Headers that describe one connection and are never forwarded (RFC 9110 7.6.1). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Removes hop-by-hop headers (and those named by `Connection`) in place. */
export function stripHopByHop(h: HeaderMap): HeaderMap {
  const conn = h.connection;
  if (conn !== undefined) {
    for (const name of String(conn).split(',')) {
      const n = name.trim().toLowerCase();
      if (n) delete h[n];
    }
  }
  for (const name of HOP_BY_HOP) if (h[name] !== undefined) delete h[name];
  return h;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Whether a method may be sent twice without changing the outcome (RFC 9110 9.2.2). */
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}
