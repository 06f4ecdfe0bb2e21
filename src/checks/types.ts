/**
 * Health checks declared as data, in the manner of linkerd's pkg/healthcheck: categories of
 * checkers, each with a description, a hint for when it fails, whether a failure is fatal or only a
 * warning, and how long it may be retried. One runner executes them; renderers are separate.
 */

/** How a single check ended. */
export type CheckStatus = 'ok' | 'warning' | 'failure' | 'skipped';

/** Thrown (or returned) by a checker to fail with a message users can act on. */
export class CheckFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckFailure';
  }
}

/** One check. `run` resolves when the check passes and throws CheckFailure (or any error) when not. */
export interface Checker<C> {
  /** What is checked, phrased as the passing state: "control plane pods are ready". */
  readonly description: string;
  /** What to do when it fails. */
  readonly hint: string;
  /** A failure only warns (‼) and does not fail the run. */
  readonly warning?: boolean;
  /** A failure stops every later check: they would only repeat the same cause. */
  readonly fatal?: boolean;
  /** With `--wait`, retry a failing check until it passes or this much time has gone by. */
  readonly retryDeadlineMs?: number;
  /** Runs the check; may return a note shown after the description ("3 proxies"). */
  run(ctx: C, signal: AbortSignal): Promise<string | void>;
}

/** A named group of checkers, run in order. */
export interface CheckCategory<C> {
  readonly id: string;
  readonly checkers: readonly Checker<C>[];
}

/** The outcome of one checker. */
export interface CheckResult {
  category: string;
  description: string;
  status: CheckStatus;
  /** Why it failed or warned; or the note of a passing check. */
  message?: string;
  hint?: string;
}

/** The outcome of a whole run. */
export interface CheckReport {
  success: boolean;
  results: CheckResult[];
}
