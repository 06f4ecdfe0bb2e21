/**
 * The route timeout: covers every attempt and backoff until the response headers arrive (a body
 * that streams for long, like a gRPC stream, is not cut). When it fires, the attempt in flight is
 * cancelled and the client gets 504 with flag UT.
 */
import type { HttpLayer } from '../layer.js';
import { discard } from '../layer.js';
import { UpstreamFailure, type ProxyResponse } from '../../ground/types.js';

/** Applies the route's timeout. */
export const timeoutLayer: HttpLayer = (next) => (ex) => {
  const ms = ex.route?.timeoutMs ?? 0;
  if (ms <= 0) return next(ex);
  return new Promise<ProxyResponse>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      ex.deadlineExpired = true;
      const failure = new UpstreamFailure('timeout', 'upstream request timeout');
      ex.inFlight?.cancel(failure);
      reject(failure);
    }, ms);
    next(ex).then(
      (res) => {
        if (done) return discard(res);
        done = true;
        clearTimeout(timer);
        resolve(res);
      },
      (err: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
};
