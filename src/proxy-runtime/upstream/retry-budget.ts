/**
 * Linkerd-style retry budget: over a sliding window of `ttl`, retries may add at most
 * `retryRatio` of the original requests, plus `minRetriesPerSecond` x ttl so that low-traffic
 * services can still retry. Protects an overloaded upstream from a retry storm. Counted in
 * one-second buckets, so recording is O(1) and the window costs a fixed ring of counters.
 */

/** A retry budget shared by every route that sends to one cluster. */
export class RetryBudget {
  private readonly buckets: number;
  private readonly requests: Float64Array;
  private readonly retries: Float64Array;
  private readonly stamps: Float64Array;

  constructor(
    readonly retryRatio: number,
    readonly minRetriesPerSecond: number,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = Math.max(1, Math.ceil(ttlMs / 1000));
    this.requests = new Float64Array(this.buckets);
    this.retries = new Float64Array(this.buckets);
    this.stamps = new Float64Array(this.buckets);
  }

  private slot(): number {
    const sec = Math.floor(this.now() / 1000);
    const i = sec % this.buckets;
    if (this.stamps[i] !== sec) {
      this.stamps[i] = sec;
      this.requests[i] = 0;
      this.retries[i] = 0;
    }
    return i;
  }

  private sums(): { requests: number; retries: number } {
    const sec = Math.floor(this.now() / 1000);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < this.buckets; i++) {
      if (sec - this.stamps[i]! < this.buckets) {
        requests += this.requests[i]!;
        retries += this.retries[i]!;
      }
    }
    return { requests, retries };
  }

  /** Records an original request. */
  recordRequest(): void {
    this.requests[this.slot()]!++;
  }

  /** Takes one retry from the budget; false when the budget is spent (do not retry). */
  tryWithdraw(): boolean {
    const { requests, retries } = this.sums();
    const allowed = requests * this.retryRatio + this.minRetriesPerSecond * (this.ttlMs / 1000);
    if (retries + 1 > allowed) return false;
    this.retries[this.slot()]!++;
    return true;
  }

  /** Retries and requests in the current window, for /clusters. */
  snapshot(): { requests: number; retries: number } {
    return this.sums();
  }
}
