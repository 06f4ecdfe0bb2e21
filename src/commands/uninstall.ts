/**
 * `meshctl uninstall`: removes the mesh from the selected platform. On the local platform it
 * stops the control plane daemon; `--purge` also deletes its state (CA, config, workloads, logs)
 * after a confirmation (`-y` skips it). Only the files the mesh wrote are removed.
 */
import type { CommandDefinition } from './command.js';
import { examples } from './command.js';
import { PlatformUnavailableError, UsageError } from '../errors.js';
import { Symbols } from '../ui/style.js';

interface UninstallOptions {
  purge?: boolean;
  yes?: boolean;
}

const command: CommandDefinition = {
  name: 'uninstall',
  summary: 'Uninstall the mesh (--local: stop the local control plane; --purge: delete its state)',
  define(cmd, bind) {
    cmd
      .option('--purge', 'also delete the mesh state: CA, config, workloads, logs')
      .option('-y, --yes', 'do not ask for confirmation')
      .addHelpText('after', examples(['meshctl uninstall --local', 'meshctl uninstall --local --purge -y']));
    bind<UninstallOptions>(cmd, async (ctx, _args, opts) => {
      if (opts.purge && !opts.yes && !(ctx.io.stdin.isTTY && ctx.io.stderr.isTTY)) {
        throw new UsageError('--purge deletes the mesh CA and all config, and there is no terminal to confirm it', 'add -y to confirm');
      }
      if (ctx.platformKind() !== 'local') {
        throw new PlatformUnavailableError('uninstalling from Kubernetes is not available in this build yet', "for the local mesh use 'meshctl uninstall --local'");
      }
      const { stopDaemon } = await import('../cluster/local/daemon-process.js');
      const { localLayout } = await import('../cluster/local/layout.js');
      const layout = localLayout(ctx.meshHome());
      const s = ctx.style;
      const { stopped, pid } = await stopDaemon(layout);
      ctx.out(stopped ? `${s.green(Symbols.ok)} Local mesh control plane stopped (pid ${pid})\n` : `${s.dim(Symbols.info)} The local mesh control plane is not running\n`);
      if (!opts.purge) {
        ctx.out(`  its state is kept in ${layout.home}; 'meshctl install --local' starts it again with the same CA and config\n`);
        return 0;
      }
      if (!opts.yes && !(await ctx.confirm(`Delete ${layout.home}: the mesh CA, config, workloads and logs?`, false))) {
        ctx.out('Nothing deleted.\n');
        return 1;
      }
      const { rm, rmdir } = await import('node:fs/promises');
      const owned = [layout.caDir, layout.caRoot, layout.tokens, layout.storeDir, layout.workloads, layout.state, layout.adminToken, layout.pidFile, layout.logDir];
      for (const p of owned) await rm(p, { recursive: true, force: true });
      let left = false;
      try {
        await rmdir(layout.home);
      } catch (err) {
        left = (err as NodeJS.ErrnoException).code === 'ENOTEMPTY';
      }
      ctx.out(`${s.green(Symbols.ok)} Deleted the mesh state in ${layout.home}${left ? ' (files the mesh did not write were left in place)' : ''}\n`);
      return 0;
    });
  },
};
export default command;
