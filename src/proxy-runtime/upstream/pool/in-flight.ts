/** One request sent upstream: its response to come, and a way to give up on it. */
import type { HeaderMap, ProxyResponse, UpstreamRequestHead } from '../../ground/types.js';
import type { Endpoint } from '../../ground/endpoint.js';
import type { MeshTls } from '../../ground/tls/contexts.js';

/** A request in flight to one endpoint. */
export interface InFlight {
  readonly response: Promise<ProxyResponse>;
  /** Abandons the request (timeout, downstream gone): the upstream stream/connection is reset. */
  cancel(reason: Error): void;
  /** The header maps the request keeps while it runs (node:http2 keeps a copy for the stream's life). */
  sentHeaders(): (HeaderMap | Record<string, unknown>)[];
}

/** What a pool needs to know about the request body. */
export interface RequestBodySource {
  /** null: no body */
  readonly stream: NodeJS.ReadableStream | null;
}

/** The HTTP/1.1 connections of one cluster (pool/h1-pool.ts). */
export interface H1ConnectionPool {
  /** Sends a request; `body` is streamed into it (null: none). */
  send(ep: Endpoint, head: UpstreamRequestHead, body: NodeJS.ReadableStream | null): InFlight;
  /** The workload certificate was renewed: connections are replaced make-before-break (handover.ts). */
  renew(): void;
  /** Stops using these connections; they close once their requests finish. */
  retire(): void;
  connectionCount(): number;
  /** Closes every connection now. */
  close(): void;
}

/** Settings of an HTTP/1.1 pool (either implementation). */
export interface H1PoolOptions {
  maxConnections: number;
  maxRequestsPerConnection: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  mesh: MeshTls | undefined;
}
