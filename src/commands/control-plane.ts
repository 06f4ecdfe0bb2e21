/**
 * `meshctl control-plane`: runs the control plane in the foreground until SIGINT/SIGTERM. On the
 * local platform `meshctl install --local` starts it in the background; in a cluster it is the
 * container's command. Logs go to stderr, one timestamped line per event, never keys or tokens.
 */
import type { CommandDefinition } from './command.js';
import { examples } from './command.js';
import { UsageError } from '../errors.js';
import { parseDuration } from '../config/duration.js';
import { meshctlVersion } from '../version.js';

interface ControlPlaneOptions {
  home?: string;
  listen?: string;
  streamPort?: string;
  debugPort?: string;
  caCert?: string;
  caKey?: string;
  certTtl?: string;
}

/** Checked flags of the command. */
export interface ControlPlaneFlags {
  home: string | undefined;
  listen: string;
  streamPort: number | undefined;
  debugPort: number | undefined;
  caCert: string | undefined;
  caKey: string | undefined;
  certTtlSeconds: number | undefined;
}

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} ${value}: not a port`, `give a number from 0 to 65535 (0 picks a free port)`);
  return n;
}

/** validate(): flags to options, before any I/O. */
export function validateControlPlaneFlags(opts: ControlPlaneOptions): ControlPlaneFlags {
  if (Boolean(opts.caCert) !== Boolean(opts.caKey)) throw new UsageError('--ca-cert and --ca-key go together', 'give both the CA certificate (chain) file and its key file, or neither');
  let certTtlSeconds: number | undefined;
  if (opts.certTtl !== undefined) {
    const ms = parseDuration(opts.certTtl);
    if (ms === undefined || ms < 1000) throw new UsageError(`--cert-ttl ${opts.certTtl}: not a duration of at least 1s`, 'write it like 24h, 30m or 5s');
    certTtlSeconds = Math.round(ms / 1000);
  }
  return { home: opts.home, listen: opts.listen ?? '127.0.0.1', streamPort: port(opts.streamPort, '--stream-port'), debugPort: port(opts.debugPort, '--debug-port'), caCert: opts.caCert, caKey: opts.caKey, certTtlSeconds };
}

const command: CommandDefinition = {
  name: 'control-plane',
  summary: 'Run the mesh control plane in the foreground (config stream, CA, debug API)',
  define(cmd, bind) {
    cmd
      .option('--home <dir>', 'state directory (CA, config store, workloads); default $MESHCTL_HOME or ~/.meshctl')
      .option('--listen <address>', 'address to listen on (default 127.0.0.1)')
      .option('--stream-port <port>', 'config stream + CA port (TLS; default 15012)')
      .option('--debug-port <port>', 'debug/API port (default 15014)')
      .option('--ca-cert <file>', 'use this CA certificate (PEM, optionally followed by its chain) instead of a generated root')
      .option('--ca-key <file>', 'the PKCS#8 PEM key of --ca-cert')
      .option('--cert-ttl <duration>', 'lifetime of workload certificates (default 24h)')
      .addHelpText('after', examples(['meshctl control-plane', 'meshctl control-plane --home /tmp/mesh --stream-port 0 --debug-port 0', 'meshctl control-plane --ca-cert corp-ca.pem --ca-key corp-ca-key.pem --cert-ttl 1h']));
    bind<ControlPlaneOptions>(cmd, async (ctx, _args, opts) => {
      const flags = validateControlPlaneFlags(opts);
      const { startControlPlane } = await import('../control-plane/daemon.js');
      const log = (line: string): void => ctx.err(`${new Date().toISOString()} ${line}\n`);
      const cp = await startControlPlane({
        home: flags.home ?? ctx.meshHome(),
        host: flags.listen,
        ...(flags.streamPort !== undefined ? { streamPort: flags.streamPort } : {}),
        ...(flags.debugPort !== undefined ? { debugPort: flags.debugPort } : {}),
        ...(flags.caCert && flags.caKey ? { caCertFile: flags.caCert, caKeyFile: flags.caKey } : {}),
        ...(flags.certTtlSeconds ? { certTtlSeconds: flags.certTtlSeconds } : {}),
        version: meshctlVersion(),
        log,
      });
      await new Promise<void>((resolve) => {
        const onSignal = (sig: string) => {
          log(`${sig} received, stopping`);
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          resolve();
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      await cp.stop();
      return 0;
    });
  },
};
export default command;
