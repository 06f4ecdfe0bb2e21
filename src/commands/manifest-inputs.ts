/** Flag helpers shared by commands that read manifests with `-f` (inject, uninject, analyze, apply). */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { UsageError } from '../errors.js';
import type { ObjectTransform } from '../inject/manifest.js';
import { meshctlVersion } from '../version.js';

/** Collects a repeatable flag's values. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Declares `-f, --filename` (repeatable). */
export function filenameOption(cmd: Command, what = 'manifest'): Command {
  return cmd.option(
    '-f, --filename <path>',
    `${what} file, directory (recursive), https URL, or - for stdin; repeatable`,
    collect,
    [],
  );
}

/** Requires at least one `-f`. */
export function requireFilenames(files: readonly string[] | undefined, command: string): string[] {
  if (!files || files.length === 0) {
    throw new UsageError(
      `${command} needs at least one -f`,
      `for example: meshctl ${command} -f app.yaml, or cat app.yaml | meshctl ${command} -f -`,
    );
  }
  return [...files];
}

/**
 * Runs inject or uninject over `-f` inputs: output on stdout only when no object was refused,
 * the report on stderr. Returns the exit code.
 */
export async function runManifestTransform(
  ctx: CliContext,
  files: readonly string[],
  format: 'yaml' | 'json',
  transform: ObjectTransform,
): Promise<number> {
  const { readSources } = await import('../config/sources.js');
  const { transformManifests } = await import('../inject/manifest.js');
  const { renderRefusals, renderReport } = await import('../inject/render-report.js');
  const sources = await readSources(files, { stdin: ctx.io.stdin, cwd: ctx.io.cwd });
  const result = transformManifests(sources, transform, format);
  if (result.refused.length > 0) {
    ctx.err(renderRefusals(result.refused, ctx.errStyle));
    return 1;
  }
  ctx.out(result.output);
  ctx.err(renderReport(result.entries, ctx.errStyle, meshctlVersion()));
  return 0;
}
