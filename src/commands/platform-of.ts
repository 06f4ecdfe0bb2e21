/**
 * The invocation's platform, narrowed to the local backend for what only it does (run a workload or a
 * gateway on this machine, the demo), and the I/O that install, uninstall and upgrade report through.
 * Through the platform interface, so commands import no backend; the connection is the context's
 * (same kubeconfig flags), made once per invocation.
 */
import type { CliContext } from '../context.js';
import { isLocalPlatform, type LocalPlatform, type OperationIo } from '../cluster/index.js';
import { ErrorCode, MeshError } from '../errors.js';
import { Symbols } from '../ui/style.js';

/** The local platform of `ctx.meshHome()` (constructing it needs no running daemon). */
export async function localPlatformOf(ctx: CliContext): Promise<LocalPlatform> {
  const platform = await ctx.platform();
  if (!isLocalPlatform(platform))
    throw new MeshError(ErrorCode.Internal, `expected the local platform, got the ${platform.kind} one`);
  return platform;
}

/**
 * What install, uninstall and upgrade report through: `✔ ...` progress lines on stdout with the success
 * mark (`•` lines dimmed), warnings and debug on stderr, confirmations on the terminal. `quiet` drops the
 * progress lines (`upgrade -o json` prints one document).
 */
export function operationIo(ctx: CliContext, opts: { quiet?: boolean } = {}): OperationIo {
  const s = ctx.style;
  return {
    progress: (line) => {
      if (opts.quiet) return;
      if (line.startsWith('✔')) ctx.out(`${s.green(Symbols.ok)}${line.slice(1)}\n`);
      else if (line.startsWith('•')) ctx.out(`${s.dim(Symbols.info)}${line.slice(1)}\n`);
      else ctx.out(`${line}\n`);
    },
    warn: (m) => ctx.logger.warn(m),
    debug: (m) => ctx.logger.debug(m),
    confirm: (message, fallback) => ctx.confirm(message, fallback),
  };
}
