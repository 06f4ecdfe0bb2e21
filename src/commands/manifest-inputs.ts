/** Flag helpers shared by commands that read manifests with `-f` (inject, uninject, analyze, apply). */
import type { Command } from 'commander';
import { UsageError } from '../errors.js';

/** Collects a repeatable flag's values. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Declares `-f, --filename` (repeatable). */
export function filenameOption(cmd: Command, what = 'manifest'): Command {
  return cmd.option('-f, --filename <path>', `${what} file, directory (recursive), https URL, or - for stdin; repeatable`, collect, []);
}

/** Requires at least one `-f`. */
export function requireFilenames(files: readonly string[] | undefined, command: string): string[] {
  if (!files || files.length === 0) {
    throw new UsageError(`${command} needs at least one -f`, `for example: meshctl ${command} -f app.yaml, or cat app.yaml | meshctl ${command} -f -`);
  }
  return [...files];
}
