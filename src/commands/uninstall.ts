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
import type { PlatformKind } from '../cluster/index.js';
import { operationIo } from './platform-of.js';

/** The flags of `meshctl uninstall`. */
export interface UninstallOptions {
  purge?: boolean;
  yes?: boolean;
  force?: boolean;
  dryRun?: boolean;
  meshNamespace?: string;
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
      validate(opts, { interactive: Boolean(ctx.io.stdin.isTTY && ctx.io.stderr.isTTY), platform: ctx.platformKind() });
      const { MESH_NAMESPACE } = await import('../protocol/well-known.js');
      const platform = await ctx.platform();
      const outcome = await platform.uninstall(
        {
          purge: Boolean(opts.purge),
          yes: Boolean(opts.yes),
          // Read by the Kubernetes platform; validate() refused these flags elsewhere.
          kubernetes: {
            namespace: opts.meshNamespace ?? MESH_NAMESPACE,
            force: Boolean(opts.force),
            dryRun: Boolean(opts.dryRun),
          },
        },
        operationIo(ctx),
      );
      if (outcome.declined) {
        ctx.out(`${outcome.declined}\n`);
        return 1;
      }
      return 0;
    });
  },
};
export default command;
