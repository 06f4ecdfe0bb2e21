/** Runs check categories in order, retrying within deadlines, and reports every result as it comes. */
import { CheckFailure, type CheckCategory, type CheckReport, type CheckResult } from './types.js';

/** How a run behaves. */
export interface RunOptions {
  /** Overall wait budget (`--wait`): checks with a retry deadline retry until min(deadline, wait). */
  waitMs: number;
  /** Pause between retries. */
  retryIntervalMs?: number;
  /** Called once per finished check, for streaming output. */
  onResult?: (r: CheckResult) => void;
  /** Called while a check is being retried, with its last failure. */
  onRetry?: (category: string, description: string, message: string) => void;
  signal?: AbortSignal;
}

function messageOf(err: unknown): string {
  if (err instanceof CheckFailure) return err.message;
  return err instanceof Error ? err.message : String(err);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** Runs every category; a fatal failure marks everything after it as skipped. */
export async function runChecks<C>(
  categories: readonly CheckCategory<C>[],
  ctx: C,
  opts: RunOptions,
): Promise<CheckReport> {
  const results: CheckResult[] = [];
  const started = Date.now();
  const controller = new AbortController();
  opts.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  let stopped = false;
  const emit = (r: CheckResult) => {
    results.push(r);
    opts.onResult?.(r);
  };
  for (const category of categories) {
    for (const checker of category.checkers) {
      if (stopped) {
        emit({
          category: category.id,
          description: checker.description,
          status: 'skipped',
          message: 'skipped: an earlier fatal check failed',
        });
        continue;
      }
      const deadline = started + Math.min(opts.waitMs, checker.retryDeadlineMs ?? 0);
      let outcome: CheckResult;
      for (;;) {
        try {
          const note = await checker.run(ctx, controller.signal);
          outcome = {
            category: category.id,
            description: checker.description,
            status: 'ok',
            ...(note ? { message: note } : {}),
          };
          break;
        } catch (err) {
          const message = messageOf(err);
          if (Date.now() < deadline && !controller.signal.aborted) {
            opts.onRetry?.(category.id, checker.description, message);
            await sleep(opts.retryIntervalMs ?? 1000, controller.signal);
            continue;
          }
          outcome = {
            category: category.id,
            description: checker.description,
            status: checker.warning ? 'warning' : 'failure',
            message,
            hint: checker.hint,
          };
          break;
        }
      }
      emit(outcome);
      if (outcome.status === 'failure' && checker.fatal) stopped = true;
    }
  }
  return { success: !results.some((r) => r.status === 'failure'), results };
}
