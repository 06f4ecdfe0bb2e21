/**
 * `meshctl install`: installs the mesh on the selected platform. On the local platform it starts
 * the control plane as a background daemon (idempotent: a second run reports the running one) and
 * says where its state and logs are and what to do next. The Kubernetes install comes with the
 * Kubernetes backend.
 */
import type { CommandDefinition } from './command.js';
import { examples } from './command.js';
import { PlatformUnavailableError, UsageError } from '../errors.js';
import { parseDuration } from '../config/duration.js';
import { Symbols } from '../ui/style.js';
import { validateControlPlaneFlags, type ControlPlaneFlags } from './control-plane.js';

interface InstallOptions {
  streamPort?: string;
  debugPort?: string;
  caCert?: string;
  caKey?: string;
  certTtl?: string;
  timeout?: string;
}

/** The control plane flags as arguments of the daemon. */
export function daemonArgs(flags: ControlPlaneFlags): string[] {
  const args: string[] = [];
  if (flags.streamPort !== undefined) args.push('--stream-port', String(flags.streamPort));
  if (flags.debugPort !== undefined) args.push('--debug-port', String(flags.debugPort));
  if (flags.caCert && flags.caKey) args.push('--ca-cert', flags.caCert, '--ca-key', flags.caKey);
  if (flags.certTtlSeconds) args.push('--cert-ttl', `${flags.certTtlSeconds}s`);
  return args;
}

const command: CommandDefinition = {
  name: 'install',
  summary: 'Install the mesh (--local: start the control plane on this machine)',
  define(cmd, bind) {
    cmd
      .option('--stream-port <port>', 'local: config stream + CA port (default 15012; 0 picks a free one)')
      .option('--debug-port <port>', 'local: debug/API port (default 15014; 0 picks a free one)')
      .option('--ca-cert <file>', 'use this CA certificate (PEM chain) instead of generating a root')
      .option('--ca-key <file>', 'the PKCS#8 PEM key of --ca-cert')
      .option('--cert-ttl <duration>', 'lifetime of workload certificates (default 24h)')
      .option('--timeout <duration>', 'how long to wait for the control plane to be ready (default 30s)')
      .addHelpText('after', examples(['meshctl install --local', 'MESHCTL_HOME=/tmp/mesh meshctl install --local --stream-port 0 --debug-port 0', 'meshctl install --local --cert-ttl 1h']));
    bind<InstallOptions>(cmd, async (ctx, _args, opts) => {
      const flags = validateControlPlaneFlags(opts);
      const timeoutMs = opts.timeout === undefined ? 30_000 : parseDuration(opts.timeout);
      if (timeoutMs === undefined || timeoutMs <= 0) throw new UsageError(`--timeout ${opts.timeout}: not a duration`, 'write it like 30s or 2m');
      if (ctx.platformKind() !== 'local') {
        throw new PlatformUnavailableError('installing on Kubernetes is not available in this build yet', "install the local mesh with 'meshctl install --local'");
      }
      const { startDaemon } = await import('../cluster/local/daemon-process.js');
      const { localLayout } = await import('../cluster/local/layout.js');
      const layout = localLayout(ctx.meshHome());
      const { state, alreadyRunning } = await startDaemon(layout, { extraArgs: daemonArgs(flags), env: ctx.io.env, timeoutMs });
      const s = ctx.style;
      ctx.out(`${s.green(Symbols.ok)} ${alreadyRunning ? 'The local mesh control plane is already running' : 'Local mesh control plane started'} (pid ${state.pid}, version ${state.version})\n`);
      const rows: [string, string][] = [
        ['config stream + CA', state.streamAddress],
        ['debug API', state.apiUrl],
        ['state', layout.home],
        ['logs', layout.logFile],
      ];
      for (const [k, v] of rows) ctx.out(`  ${k.padEnd(20)}${v}\n`);
      if (alreadyRunning && (flags.streamPort !== undefined || flags.debugPort !== undefined || flags.caCert || flags.certTtlSeconds)) {
        ctx.logger.warn("the flags given apply at start-up only; run 'meshctl uninstall --local' first to change them");
      }
      ctx.out(
        `\nNext:\n` +
          `  meshctl run --name web --service web --port 8080 -- <command that serves on $PORT>\n` +
          `  meshctl apply -f <your VirtualService / DestinationRule / TrafficSplit YAML>\n` +
          `  meshctl proxy-status\n` +
          `Stop it with 'meshctl uninstall --local'.\n`,
      );
      return 0;
    });
  },
};
export default command;
