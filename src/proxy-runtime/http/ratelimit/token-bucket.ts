/**
 * Token buckets for local rate limiting, as linkerd2-proxy's LocalRateLimit (governor): a bucket
 * holds up to `rate` tokens (the burst) and refills continuously at `rate` per second; a request
 * takes one. Time is passed in (milliseconds, monotonic) so tests drive a clock of their own.
 */
import type { RateLimitConfig } from '../../../protocol/proxy-config/index.js';

/** One bucket: `rate` tokens per second, `rate` at most. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    now: number,
  ) {
    this.tokens = rate;
    this.last = now;
  }

  /** Takes a token if one is there (refilling first). */
  tryTake(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Puts back a token taken by a check a later limit refused (the request was not admitted). */
  giveBack(): void {
    this.tokens = Math.min(this.rate, this.tokens + 1);
  }

  /** Whether the bucket is full at `now` (an idle per-identity bucket may then be forgotten). */
  full(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.rate;
  }

  private refill(now: number): void {
    const elapsed = now - this.last;
    if (elapsed <= 0) return;
    this.last = now;
    this.tokens = Math.min(this.rate, this.tokens + (elapsed * this.rate) / 1000);
  }
}

/** Why a request was limited, for the access log (`response_code_details`). */
export type RateLimitVerdict = null | 'total' | 'identity' | 'override';

/**
 * Per-identity buckets kept at most: beyond it, full (idle) buckets are dropped first; if none is
 * idle, new identities share one overflow bucket, so a flood of identities cannot grow memory.
 */
export const MAX_IDENTITY_BUCKETS = 10_000;

/**
 * A Server's limits: the override bucket of the client's identity if it has one, else its identity
 * bucket; then the total bucket. Clients without an identity share one identity bucket (as
 * linkerd2-proxy keys them by `Option<Id>`). A request costs a map lookup, no allocation, except
 * the first request of a new identity.
 */
export class LocalRateLimiter {
  private readonly total: TokenBucket | undefined;
  private readonly identityRate: number | undefined;
  private readonly perIdentity = new Map<string, TokenBucket>();
  private readonly anonymous: TokenBucket | undefined;
  private overflow: TokenBucket | undefined;
  private readonly overrides = new Map<string, TokenBucket>();

  constructor(
    readonly cfg: RateLimitConfig,
    now: number,
  ) {
    this.total = cfg.total !== undefined ? new TokenBucket(cfg.total, now) : undefined;
    this.identityRate = cfg.identity;
    this.anonymous = cfg.identity !== undefined ? new TokenBucket(cfg.identity, now) : undefined;
    for (const o of cfg.overrides ?? []) {
      // One bucket per override, shared by the identities it lists (linkerd2-proxy: Arc<RateLimit>).
      const shared = new TokenBucket(o.requestsPerSecond, now);
      for (const id of o.identities) if (!this.overrides.has(id)) this.overrides.set(id, shared);
    }
  }

  /** Admits one request from `identity` (a SPIFFE ID, or undefined without mTLS): null, or which limit refused it. */
  check(identity: string | undefined, now: number): RateLimitVerdict {
    const own = identity !== undefined ? this.overrides.get(identity) : undefined;
    const client = own ?? this.identityBucket(identity, now);
    if (client && !client.tryTake(now)) return own ? 'override' : 'identity';
    if (this.total && !this.total.tryTake(now)) {
      client?.giveBack();
      return 'total';
    }
    return null;
  }

  private identityBucket(identity: string | undefined, now: number): TokenBucket | undefined {
    if (this.identityRate === undefined) return undefined;
    if (identity === undefined) return this.anonymous;
    let b = this.perIdentity.get(identity);
    if (b) return b;
    if (this.perIdentity.size >= MAX_IDENTITY_BUCKETS) {
      for (const [id, old] of this.perIdentity) if (old.full(now)) this.perIdentity.delete(id);
      if (this.perIdentity.size >= MAX_IDENTITY_BUCKETS)
        return (this.overflow ??= new TokenBucket(this.identityRate, now));
    }
    b = new TokenBucket(this.identityRate, now);
    this.perIdentity.set(identity, b);
    return b;
  }
}

const live = new Map<string, { key: string; limiter: LocalRateLimiter }>();

/**
 * The limiter of a chain, kept across config versions while its limits stay the same, so a push
 * of unrelated config does not refill every bucket (which would let a burst through).
 */
export function limiterFor(chainKey: string, cfg: RateLimitConfig, now: number): LocalRateLimiter {
  const key = JSON.stringify(cfg);
  const had = live.get(chainKey);
  if (had && had.key === key) return had.limiter;
  const limiter = new LocalRateLimiter(cfg, now);
  live.set(chainKey, { key, limiter });
  return limiter;
}
