/**
 * The HTTP path as composable layers `(next) => handler`, like linkerd2-proxy's stacks and undici
 * interceptors: each layer does one thing (route, fault, mirror, timeout, retry) and calls the
 * next; the innermost forwards to an endpoint. A layer may answer locally (404 NR, fault abort)
 * or throw UpstreamFailure, which the ingress turns into the Envoy-style error reply.
 */
import type { Exchange } from './exchange.js';
import type { ProxyResponse } from '../ground/types.js';

/** Handles an exchange, producing the response to send downstream. */
export type HttpHandler = (ex: Exchange) => Promise<ProxyResponse>;

/** Wraps a handler with one concern. */
export type HttpLayer = (next: HttpHandler) => HttpHandler;

/** Composes layers, outermost first, around `terminal`. */
export function compose(layers: readonly HttpLayer[], terminal: HttpHandler): HttpHandler {
  let h = terminal;
  for (let i = layers.length - 1; i >= 0; i--) h = layers[i]!(h);
  return h;
}

/** A cancellable wait: resolves after `ms`, or early (with false) when the downstream leaves. */
export function sleepFor(ex: Exchange, ms: number): Promise<boolean> {
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const off = ex.whenDownstreamCloses(() => {
      clearTimeout(t);
      resolve(false);
    });
    const t = setTimeout(() => {
      off();
      resolve(true);
    }, ms);
  });
}

/** Reads and discards a response body we are not going to forward (keeps the connection reusable). */
export function discard(res: ProxyResponse): void {
  const b = res.body;
  if (b && !b.destroyed) {
    b.on('error', () => undefined);
    b.resume();
  }
}
