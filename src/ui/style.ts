/**
 * Terminal styling. Colour only when the stream is a TTY and NO_COLOR is unset (FORCE_COLOR wins),
 * so piped output (`meshctl inject ... | kubectl apply -f -`) never carries escape codes.
 */
import { createRequire } from 'node:module';
import type { ChalkInstance } from 'chalk';

// chalk is loaded on first use (require of an ES module, Node >= 22.12): commands that print no
// colour, such as `version`, do not pay for it at start-up.
const require = createRequire(import.meta.url);

/** The symbols of check-style output: ✔ ok, ‼ warning, ✖ failure. */
export const Symbols = { ok: '✔', warn: '‼', fail: '✖', info: '•' } as const;

/** Whether to colour a stream, following NO_COLOR (no-color.org) and FORCE_COLOR. */
export function wantsColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/** A chalk instance that colours only when `enabled`. */
export function makeStyle(enabled: boolean): ChalkInstance {
  const { Chalk } = require('chalk') as typeof import('chalk');
  return new Chalk({ level: enabled ? 1 : 0 });
}
