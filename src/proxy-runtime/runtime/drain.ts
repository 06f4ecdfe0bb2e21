/** Counts requests (and TCP streams) in flight so that drain can wait for zero, up to a deadline. */

/** An in-flight counter with "wait until idle". */
export class ProxyCounterDrain {
  private active = 0;
  private waiters: (() => void)[] = [];

  started(): void {
    this.active++;
  }

  finished(): void {
    this.active--;
    if (this.active <= 0 && this.waiters.length > 0) {
      const w = this.waiters;
      this.waiters = [];
      for (const fn of w) fn();
    }
  }

  get inFlight(): number {
    return this.active;
  }

  /** Resolves when nothing is in flight, or after `maxMs`. */
  idle(maxMs: number): Promise<void> {
    if (this.active <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, maxMs);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.waiters.push(done);
    });
  }
}
