/**
 * Progress for long work. On a TTY an ora spinner (loaded only then); elsewhere one line per
 * finished step, so CI logs show progress without control characters.
 */
import { Symbols } from './style.js';
import type { ChalkInstance } from 'chalk';

/** A unit of progress: started with a text, ended as succeeded, warned or failed. */
export interface Progress {
  update(text: string): void;
  succeed(text?: string): void;
  warn(text?: string): void;
  fail(text?: string): void;
}

/** Starts a progress indicator on `stream`. */
export async function startProgress(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  style: ChalkInstance,
  text: string,
): Promise<Progress> {
  if (stream.isTTY) {
    const { default: ora } = await import('ora');
    const spinner = ora({ text, stream }).start();
    return {
      update: (t) => void (spinner.text = t),
      succeed: (t) => void spinner.stopAndPersist({ symbol: style.green(Symbols.ok), text: t ?? spinner.text }),
      warn: (t) => void spinner.stopAndPersist({ symbol: style.yellow(Symbols.warn), text: t ?? spinner.text }),
      fail: (t) => void spinner.stopAndPersist({ symbol: style.red(Symbols.fail), text: t ?? spinner.text }),
    };
  }
  let current = text;
  const end = (symbol: string, t?: string) => void stream.write(`${symbol} ${t ?? current}\n`);
  return {
    update: (t) => void (current = t),
    succeed: (t) => end(Symbols.ok, t),
    warn: (t) => end(Symbols.warn, t),
    fail: (t) => end(Symbols.fail, t),
  };
}
