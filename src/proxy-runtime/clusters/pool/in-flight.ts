/** One request sent upstream: its response to come, and a way to give up on it. */
import type { ProxyResponse } from '../../http/types.js';

/** A request in flight to one endpoint. */
export interface InFlight {
  readonly response: Promise<ProxyResponse>;
  /** Abandons the request (timeout, downstream gone): the upstream stream/connection is reset. */
  cancel(reason: Error): void;
}

/** What a pool needs to know about the request body. */
export interface RequestBodySource {
  /** null: no body */
  readonly stream: NodeJS.ReadableStream | null;
}
