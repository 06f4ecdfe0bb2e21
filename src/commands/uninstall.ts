/**
 * `meshctl uninstall`: removes the mesh from the selected platform.
 * - kubernetes: refuses while injected pods run (listing them) unless --force; removes what
 *   install applied and what the control plane created; keeps the CRDs (with the user's config),
 *   the root CA Secret and the mesh namespace unless --purge. --dry-run asks the API server what
 *   would go and removes nothing.
 * - local: stops the control plane daemon; --purge also deletes its state (CA, config, workloads,
 *   logs). Only the files the mesh wrote are removed.
 * Both ask for confirmation on a terminal (-y skips it).
 */
import type { CommandDefinition } from './command.js';
import { examples } from './command.js';
import { UsageError } from '../errors.js';
import { Symbols } from '../ui/style.js';
import type { CliContext } from '../context.js';
import type { PlatformKind } from '../cluster/index.js';
import { kubernetesPlatformOf, localPlatformOf } from './platform-of.js';

/** The flags of `meshctl uninstall`. */
export interface UninstallOptions {
  purge?: boolean;
  yes?: boolean;
  force?: boolean;
  dryRun?: boolean;
  meshNamespace?: string;
}

async function uninstallFromKubernetes(ctx: CliContext, opts: UninstallOptions): Promise<number> {
  const { MESH_NAMESPACE } = await import('../protocol/well-known.js');
  const ns = opts.meshNamespace ?? MESH_NAMESPACE;
  const { cluster } = await kubernetesPlatformOf(ctx);
  const what = opts.purge
    ? 'the mesh, its CRDs (and every VirtualService, DestinationRule, policy... stored in them), the root CA and namespace'
    : 'the mesh control plane and webhook';
  if (!opts.yes && !opts.dryRun && !(await ctx.confirm(`Remove ${what} from ${cluster.describe()}?`, true))) {
    ctx.out('Nothing removed.\n');
    return 1;
  }
  const { uninstallKubernetes } = await import('../install/kubernetes.js');
  const s = ctx.style;
  const progress = (line: string): void =>
    ctx.out(line.startsWith('✔') ? `${s.green(Symbols.ok)}${line.slice(1)}\n` : `${line}\n`);
  const report = await uninstallKubernetes(
    { cluster, progress, warn: (m) => ctx.logger.warn(m) },
    { namespace: ns, force: Boolean(opts.force), purge: Boolean(opts.purge), dryRun: Boolean(opts.dryRun) },
  );
  for (const r of report.removed) ctx.out(`  ${opts.dryRun ? 'would remove' : 'removed'} ${r}\n`);
  for (const k of report.kept) ctx.out(`  kept ${k}\n`);
  return 0;
}

/**
 * Checks the flags before any I/O: --purge needs -y without a terminal, and the Kubernetes-only
 * flags need the Kubernetes platform.
 */
export function validate(opts: UninstallOptions, env: { interactive: boolean; platform: PlatformKind }): void {
  if (opts.purge && !opts.yes && !opts.dryRun && !env.interactive) {
    throw new UsageError(
      '--purge deletes the mesh CA and all config, and there is no terminal to confirm it',
      'add -y to confirm',
    );
  }
  if (env.platform === 'kubernetes') return;
  const k8sOnly = [
    opts.force ? '--force' : '',
    opts.dryRun ? '--dry-run' : '',
    opts.meshNamespace ? '--mesh-namespace' : '',
  ].filter(Boolean);
  if (k8sOnly.length)
    throw new UsageError(
      `${k8sOnly.join(', ')}: only for Kubernetes`,
      'add --kubernetes (or point KUBECONFIG at a cluster)',
    );
}

const command: CommandDefinition = {
  name: 'uninstall',
  summary: 'Uninstall the mesh from the cluster (--local: stop the local control plane); --purge: also its CRDs/state',
  define(cmd, bind) {
    cmd
      .option(
        '--purge',
        'also delete the mesh state: kubernetes: the CRDs (with the config in them), root CA Secret and namespace; local: CA, config, workloads, logs',
      )
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--force', 'kubernetes: uninstall even while injected pods run (their proxies lose the control plane)')
      .option('--dry-run', 'kubernetes: list what would be removed (checked by the API server), remove nothing')
      .option('--mesh-namespace <ns>', 'kubernetes: the namespace the mesh was installed in (default mesh-system)')
      .addHelpText(
        'after',
        examples([
          'meshctl uninstall',
          'meshctl uninstall --dry-run',
          'meshctl uninstall --purge -y',
          'meshctl uninstall --local',
          'meshctl uninstall --local --purge -y',
        ]),
      );
    bind<UninstallOptions>(cmd, async (ctx, _args, opts) => {
      const platform = ctx.platformKind();
      validate(opts, { interactive: Boolean(ctx.io.stdin.isTTY && ctx.io.stderr.isTTY), platform });
      if (platform === 'kubernetes') return uninstallFromKubernetes(ctx, opts);
      const local = await localPlatformOf(ctx);
      const layout = local.layout;
      const s = ctx.style;
      const { stopped, pid } = await local.stopControlPlane();
      ctx.out(
        stopped
          ? `${s.green(Symbols.ok)} Local mesh control plane stopped (pid ${pid})\n`
          : `${s.dim(Symbols.info)} The local mesh control plane is not running\n`,
      );
      if (!opts.purge) {
        ctx.out(
          `  its state is kept in ${layout.home}; 'meshctl install --local' starts it again with the same CA and config\n`,
        );
        return 0;
      }
      if (!opts.yes && !(await ctx.confirm(`Delete ${layout.home}: the mesh CA, config, workloads and logs?`, false))) {
        ctx.out('Nothing deleted.\n');
        return 1;
      }
      const { rm, rmdir } = await import('node:fs/promises');
      const owned = [
        layout.caDir,
        layout.caRoot,
        layout.tokens,
        layout.storeDir,
        layout.workloads,
        layout.state,
        layout.adminToken,
        layout.pidFile,
        layout.logDir,
      ];
      for (const p of owned) await rm(p, { recursive: true, force: true });
      let left = false;
      try {
        await rmdir(layout.home);
      } catch (err) {
        left = (err as NodeJS.ErrnoException).code === 'ENOTEMPTY';
      }
      ctx.out(
        `${s.green(Symbols.ok)} Deleted the mesh state in ${layout.home}${left ? ' (files the mesh did not write were left in place)' : ''}\n`,
      );
      return 0;
    });
  },
};
export default command;
