/**
 * The retry layer: re-sends a request whose attempt failed in a way the route's retryOn names,
 * up to `attempts` more times, each with its per-try timeout, with jittered exponential backoff,
 * within the cluster's maxRetries and the retry budget, and only when the body can be replayed.
 * When the retries run out on a still-retriable outcome, the flag URX is set (as Envoy).
 */
import type { HttpLayer } from '../layer.js';
import { discard, sleepFor } from '../layer.js';
import { Flags, UpstreamFailure, isIdempotent, type ProxyResponse } from '../../ground/types.js';
import { backoffMs, retriableFailure, retriableStatus } from './retry-policy.js';
import type { Exchange } from '../exchange.js';
import type { HttpHandler } from '../layer.js';

function attemptWithTimeout(next: HttpHandler, ex: Exchange, ms: number): Promise<ProxyResponse> {
  if (ms <= 0) return next(ex);
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      const f = new UpstreamFailure('timeout', 'upstream per-try timeout');
      ex.inFlight?.cancel(f);
      reject(f);
    }, ms);
    next(ex).then(
      (r) => {
        if (done) return discard(r);
        done = true;
        clearTimeout(timer);
        resolve(r);
      },
      (e: unknown) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Retries per the route's policy. */
export const retryLayer: HttpLayer = (next) => {
  const retrying = withRetries(next);
  // Routes without a retry policy go straight on (no async frame, no extra promise).
  return (ex) => (ex.route?.retry ? retrying(ex) : next(ex));
};

const withRetries: HttpLayer = (next) => async (ex) => {
  const p = ex.route!.retry!;
  if (p.attempts > 0) ex.body.enableReplay(p.maxBodyBytes);
  const idempotent = isIdempotent(ex.method);
  const budget = ex.route!.budget;
  budget?.recordRequest();
  for (let retry = 0; ; retry++) {
    let outcome: ProxyResponse | UpstreamFailure;
    try {
      outcome = await attemptWithTimeout(next, ex, p.perTryTimeoutMs);
    } catch (err) {
      if (!(err instanceof UpstreamFailure)) throw err;
      outcome = err;
    }
    const failure = outcome instanceof UpstreamFailure ? outcome : undefined;
    const retriable = failure
      ? retriableFailure(p, failure, idempotent || failure.notSent)
      : retriableStatus(p, (outcome as ProxyResponse).status, idempotent, (outcome as ProxyResponse).headers);
    const give = (): ProxyResponse => {
      if (failure) throw failure;
      return outcome as ProxyResponse;
    };
    if (!retriable) return give();
    if (retry >= p.attempts) {
      if (p.attempts > 0) ex.flag(Flags.upstreamRetryLimitExceeded);
      return give();
    }
    if (ex.deadlineExpired || ex.downstreamClosed || !ex.body.canReplay()) return give();
    if (budget && !budget.tryWithdraw()) return give();
    const limits = ex.route!.destinations[0]?.cluster.limits;
    if (limits && !limits.admitRetry()) return give();
    try {
      if (!failure) discard(outcome as ProxyResponse);
      if (!(await sleepFor(ex, backoffMs(p, retry + 1)))) return give();
    } finally {
      limits?.releaseRetry();
    }
  }
};
