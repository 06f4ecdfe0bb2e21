/** The token buckets of local rate limiting, on a clock the test drives (milliseconds). */
import { describe, expect, it } from 'vitest';
import {
  LocalRateLimiter,
  MAX_IDENTITY_BUCKETS,
  TokenBucket,
  limiterFor,
} from '../../../../src/proxy-runtime/http/ratelimit/token-bucket.js';

const WEB = 'spiffe://cluster.local/ns/default/sa/web';
const VOTE = 'spiffe://cluster.local/ns/default/sa/voting';
const ADMIN = 'spiffe://cluster.local/ns/ops/sa/admin';

/** How many of `n` requests, one every `gapMs` from `start`, `take` admits. */
function admitted(n: number, gapMs: number, take: (now: number) => boolean, start = 0): number {
  let ok = 0;
  for (let i = 0; i < n; i++) if (take(start + i * gapMs)) ok++;
  return ok;
}

describe('TokenBucket', () => {
  it('lets a burst of `rate` through at once, then refuses', () => {
    const b = new TokenBucket(5, 0);
    expect(admitted(8, 0, (t) => b.tryTake(t))).toBe(5);
  });

  it('refills at `rate` per second: 1000 requests over 10 s at 100/s admit 10/s plus the burst', () => {
    const b = new TokenBucket(10, 0);
    // 1000 requests, one per 10 ms (100/s) for 10 s: the burst (10) + 10 per second refilled.
    const ok = admitted(1000, 10, (t) => b.tryTake(t));
    expect(ok).toBeGreaterThanOrEqual(10 + 99);
    expect(ok).toBeLessThanOrEqual(10 + 100);
  });

  it('never holds more than `rate` tokens however long it idles', () => {
    const b = new TokenBucket(3, 0);
    expect(admitted(10, 0, (t) => b.tryTake(t), 3_600_000)).toBe(3);
  });

  it('a clock going backwards takes nothing back and gives nothing', () => {
    const b = new TokenBucket(2, 1000);
    expect(b.tryTake(1000)).toBe(true);
    expect(b.tryTake(1000)).toBe(true);
    expect(b.tryTake(500)).toBe(false);
  });
});

describe('LocalRateLimiter', () => {
  it('total: all clients share one bucket', () => {
    const rl = new LocalRateLimiter({ total: 4 }, 0);
    const ids = [WEB, VOTE, undefined, WEB, VOTE, undefined];
    expect(ids.map((id) => rl.check(id, 0))).toEqual([null, null, null, null, 'total', 'total']);
  });

  it('identity: each identity has its own bucket; clients without identity share one', () => {
    const rl = new LocalRateLimiter({ identity: 2 }, 0);
    expect([rl.check(WEB, 0), rl.check(WEB, 0), rl.check(WEB, 0)]).toEqual([null, null, 'identity']);
    expect([rl.check(VOTE, 0), rl.check(VOTE, 0), rl.check(VOTE, 0)]).toEqual([null, null, 'identity']);
    expect([rl.check(undefined, 0), rl.check(undefined, 0), rl.check(undefined, 0)]).toEqual([null, null, 'identity']);
  });

  it('overrides replace the identity limit for their clients, who share the override bucket', () => {
    const rl = new LocalRateLimiter(
      { identity: 1, overrides: [{ requestsPerSecond: 3, identities: [ADMIN, VOTE] }] },
      0,
    );
    expect(admitted(5, 0, (t) => rl.check(ADMIN, t) === null)).toBe(3);
    expect(rl.check(VOTE, 0)).toBe('override');
    expect(admitted(5, 0, (t) => rl.check(WEB, t) === null)).toBe(1);
  });

  it('a request the total refuses gives its identity token back', () => {
    const rl = new LocalRateLimiter({ total: 2, identity: 2 }, 0);
    expect(rl.check(VOTE, 0)).toBe(null);
    expect(rl.check(VOTE, 0)).toBe(null);
    expect(rl.check(WEB, 0)).toBe('total');
    // web spent nothing: once the total refills (1 token after 500 ms), web's own bucket still has 2.
    expect(rl.check(WEB, 500)).toBe(null);
  });

  it('a flood of identities is bounded: past the cap, idle buckets go, then new ones share an overflow bucket', () => {
    const rl = new LocalRateLimiter({ identity: 1 }, 0);
    for (let i = 0; i < MAX_IDENTITY_BUCKETS; i++) expect(rl.check(`spiffe://td/ns/x/sa/c${i}`, 0)).toBe(null);
    // every bucket is empty at t=0: the next two new identities share the overflow bucket.
    expect(rl.check('spiffe://td/ns/x/sa/new1', 0)).toBe(null);
    expect(rl.check('spiffe://td/ns/x/sa/new2', 0)).toBe('identity');
    // a second later all are full again (idle): they are dropped and the newcomer gets its own.
    expect(rl.check('spiffe://td/ns/x/sa/new3', 1000)).toBe(null);
    expect(rl.check('spiffe://td/ns/x/sa/new3', 1000)).toBe('identity');
  });
});

describe('limiterFor', () => {
  it('keeps a chain limiter (and its spent tokens) across config versions with the same limits, renews it when they change', () => {
    const a = limiterFor('inbound|9080/x', { total: 1 }, 0);
    expect(a.check(undefined, 0)).toBe(null);
    const b = limiterFor('inbound|9080/x', { total: 1 }, 0);
    expect(b).toBe(a);
    expect(b.check(undefined, 0)).toBe('total');
    const c = limiterFor('inbound|9080/x', { total: 2 }, 0);
    expect(c).not.toBe(a);
    expect(c.check(undefined, 0)).toBe(null);
  });
});
