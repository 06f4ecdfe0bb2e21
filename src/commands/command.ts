/**
 * The shape of a command module. Each `src/commands/<name>.ts` default-exports one
 * CommandDefinition; `src/commands/index.ts` lists them; `src/cli.ts` loads only the one invoked.
 *
 * A handler follows options -> validate() -> run: it first rejects bad flag combinations with a
 * UsageError (before any I/O), then does its work and returns an exit code. It never calls
 * process.exit and loads heavy modules (Kubernetes client, gRPC) with `await import()` inside run.
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';

/** Runs a command: receives the context, positional arguments and parsed options, returns the exit code. */
export type Handler<O> = (ctx: CliContext, args: string[], opts: O) => Promise<number>;

/** Attaches a handler to a commander command (or sub-command) so the root can run it with the context. */
export type BindAction = <O>(cmd: Command, handler: Handler<O>) => void;

/** One top-level command: its name, one-line summary, and how it declares flags, help and sub-commands. */
export interface CommandDefinition {
  readonly name: string;
  readonly summary: string;
  define(cmd: Command, bind: BindAction): void;
}

/** Formats help examples in the `Examples:` block commander prints after the options. */
export function examples(lines: readonly string[]): string {
  return '\nExamples:\n' + lines.map((l) => `  ${l}`.trimEnd()).join('\n') + '\n';
}

/** Checks an `-o` value against the formats a command supports (for validate()). */
export function parseOutputFormat<F extends string>(value: string | undefined, allowed: readonly F[], fallback: F): F {
  const v = (value ?? fallback) as F;
  if (!allowed.includes(v)) {
    throw new UsageError(`-o ${value}: unsupported output format`, `use one of: ${allowed.join(', ')}`);
  }
  return v;
}
