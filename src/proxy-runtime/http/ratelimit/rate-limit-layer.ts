/**
 * The local rate limit layer, right after authorization on an inbound chain with `rateLimit`
 * (Linkerd HTTPLocalRateLimitPolicy): the peer's identity is known from mTLS by then. Over the
 * limit the proxy answers 429 itself with response flag RL, as Envoy's local_ratelimit filter does,
 * so the request shows in istio_requests_total{response_code="429",response_flags="RL"} and in the
 * access log. A chain without limits passes straight through.
 */
import { performance } from 'node:perf_hooks';
import type { HttpLayer } from '../layer.js';
import type { Exchange } from '../exchange.js';
import { Flags, localResponse, type ProxyResponse } from '../../ground/types.js';

/** The reply to a limited request, or null when `ex` is admitted. Also used for upgrades. */
export function rateLimited(ex: Exchange): ProxyResponse | null {
  const limiter = ex.conn.chain.rateLimit;
  if (limiter === undefined) return null;
  const verdict = limiter.check(ex.conn.peerIdentity, performance.now());
  if (verdict === null) return null;
  ex.flag(Flags.rateLimited);
  ex.responseCodeDetails = `local_rate_limited{${verdict}}`;
  return localResponse(429, 'local_rate_limited');
}

/** The rate limit layer: a no-op on chains without limits. */
export const rateLimitLayer: HttpLayer = (next) => (ex) => {
  const limited = rateLimited(ex);
  return limited === null ? next(ex) : Promise.resolve(limited);
};
