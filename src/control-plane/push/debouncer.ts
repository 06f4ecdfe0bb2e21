/**
 * Debouncing as istiod does it: a change starts a window; each further change within the quiet
 * period (about 100 ms) extends it, but never past the maximum delay since the first change, so a
 * steady stream of edits (weights shifted every second, endpoints churning) still gets pushed.
 */
import { mergeChanges, type ChangeSet } from './change.js';

/** Quiet period and maximum delay of the debouncer, in milliseconds. */
export interface DebounceOptions {
  readonly quietMs: number;
  readonly maxDelayMs: number;
}

/** Defaults: 100 ms quiet, 1 s at most. */
export const DEFAULT_DEBOUNCE: DebounceOptions = { quietMs: 100, maxDelayMs: 1000 };

/** Merges changes and calls `flush` once per window with the merged change. */
export class Debouncer {
  private pending: ChangeSet | undefined;
  private firstAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private merged = 0;

  constructor(
    private readonly flush: (change: ChangeSet, mergedCount: number) => void,
    private readonly opts: DebounceOptions = DEFAULT_DEBOUNCE,
  ) {}

  /** Adds a change to the current window (opening one if needed). */
  add(change: ChangeSet): void {
    const now = Date.now();
    if (!this.pending) {
      this.pending = change;
      this.firstAt = now;
      this.merged = 1;
    } else {
      this.pending = mergeChanges(this.pending, change);
      this.merged++;
    }
    if (this.timer) clearTimeout(this.timer);
    const untilMax = this.firstAt + this.opts.maxDelayMs - now;
    this.timer = setTimeout(() => this.fire(), Math.max(0, Math.min(this.opts.quietMs, untilMax)));
  }

  /** Pushes what is pending now (shutdown, tests of the pipeline's content). */
  flushNow(): void {
    if (this.pending) this.fire();
  }

  /** Drops the pending window. */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private fire(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const change = this.pending;
    const count = this.merged;
    this.pending = undefined;
    this.merged = 0;
    if (change) this.flush(change, count);
  }
}
