/**
 * `meshctl ca rotate [--yes] [-o json]`: rotates the mesh's root CA with no failed request. The
 * control plane runs the three phases (new root added to the trust bundle and delivered to every
 * proxy; the CA signs with the new root and every proxy renews; the old root leaves the bundle once
 * no connected proxy holds a leaf from it); this command starts or resumes it and prints a line per
 * step. Interrupting the command does not stop the rotation; running it again follows (or resumes) it.
 * On Kubernetes the request is an annotation of the CA Secret and the control plane's replicas run
 * the phases together (src/control-plane/kubernetes/ca-rotation.ts); the command reads their progress.
 */
import type { CommandDefinition } from './command.js';
import { examples, parseOutputFormat } from './command.js';
import { PlatformUnavailableError, UsageError } from '../errors.js';
import { Symbols } from '../ui/style.js';
import type { CliContext } from '../context.js';

interface RotateFlags {
  yes?: boolean;
  output?: string;
}

/** The control plane's rotation progress (src/control-plane/ca-rotation.ts). */
interface Progress {
  running: boolean;
  steps: string[];
  waitingFor: string[];
  error?: string;
  status: { phase: string; bundle: string[]; signingRootPem: string };
}

/** Checks the flags before any I/O. */
export function validate(flags: RotateFlags, interactive: boolean): { format: 'table' | 'json' } {
  const format = parseOutputFormat(flags.output, ['table', 'json'] as const, 'table');
  if (!flags.yes && (!interactive || format === 'json')) {
    const why = format === 'json' ? 'and -o json does not ask' : 'and there is no terminal to confirm it';
    throw new UsageError(`ca rotate replaces the mesh root CA ${why}`, 'add --yes to confirm');
  }
  return { format };
}

async function rotate(ctx: CliContext, flags: RotateFlags): Promise<number> {
  const { format } = validate(flags, Boolean(ctx.io.stdin.isTTY && ctx.io.stderr.isTTY));
  const platform = await ctx.platform();
  if (!platform.startCaRotation || !platform.caRotationProgress) {
    throw new PlatformUnavailableError(
      `meshctl ca rotate is not available on ${platform.describe()}`,
      'run it against the local platform (--local) or a Kubernetes cluster (--kubernetes)',
    );
  }
  if (!flags.yes && !(await ctx.confirm('Rotate the mesh root CA (every proxy gets a new certificate)?', false))) {
    ctx.out('Nothing changed.\n');
    return 1;
  }
  let progress = await platform.startCaRotation<Progress>();
  let printed = 0;
  let waitingShown = '';
  const print = (): void => {
    if (format === 'json') return;
    for (const line of progress.steps.slice(printed)) {
      const mark = line.startsWith('rotation stopped') ? ctx.style.red(Symbols.fail) : ctx.style.green(Symbols.ok);
      ctx.out(`${mark} ${line}\n`);
    }
    printed = progress.steps.length;
    const w = progress.waitingFor;
    // Proxy identities (SPIFFE IDs) that have not renewed yet; on Kubernetes also replicas still applying a phase.
    const more = w.length > 3 ? ` and ${w.length - 3} more` : '';
    const waiting = progress.running && w.length ? `  waiting for ${w.slice(0, 3).join(', ')}${more}` : '';
    if (waiting && waiting !== waitingShown) ctx.err(`${waiting}\n`);
    waitingShown = waiting;
  };
  print();
  // On a cluster each look is two API reads: once a second is enough for phases that take seconds.
  const pollMs = platform.kind === 'kubernetes' ? 1_000 : 200;
  while (progress.running) {
    await new Promise((r) => setTimeout(r, pollMs));
    progress = await platform.caRotationProgress!<Progress>();
    print();
  }
  const ok = !progress.error && progress.status.phase === 'idle';
  if (format === 'json') {
    const { toJson } = await import('../ui/printers.js');
    const { steps, status } = progress;
    const error = progress.error ?? null;
    ctx.out(toJson({ ok, steps, phase: status.phase, error, bundleSize: status.bundle.length }));
  }
  return ok ? 0 : 1;
}

const command: CommandDefinition = {
  name: 'ca',
  summary: 'Manage the mesh certificate authority (ca rotate: replace the root with zero failed requests)',
  define(cmd, bind) {
    const sub = cmd
      .command('rotate')
      .description('rotate the root CA: add a new root, re-issue every proxy certificate from it, drop the old root')
      .option('-y, --yes', 'do not ask for confirmation')
      .option('-o, --output <format>', 'output format: table or json', 'table')
      .addHelpText('after', examples(['meshctl ca rotate', 'meshctl ca rotate --yes -o json']));
    bind<RotateFlags>(sub, (ctx, _args, flags) => rotate(ctx, flags));
  },
};

export default command;
