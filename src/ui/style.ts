/**
 * Terminal styling. Colour only when the stream is a TTY and NO_COLOR is unset (FORCE_COLOR wins),
 * so piped output (`meshctl inject ... | kubectl apply -f -`) never carries escape codes.
 */
import { Chalk, type ChalkInstance } from 'chalk';

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
  return new Chalk({ level: enabled ? 1 : 0 });
}
