/**
 * `meshctl control-plane`: runs the control plane in the foreground until SIGINT/SIGTERM. On the
 * local platform `meshctl install --local` starts it in the background; in a cluster it is the
 * container's command (`control-plane --kubernetes --namespace mesh-system`), using the pod's
 * ServiceAccount. Logs go to stderr, one timestamped line per event, never keys or tokens.
 */
import { MAX_CERT_TTL_SECONDS } from '../config/limits.js';
import type { CommandDefinition } from './command.js';
import { examples } from './command.js';
import { ErrorCode, MeshError, UsageError } from '../errors.js';
import { parseDuration } from '../config/duration.js';
import { meshctlVersion } from '../version.js';
import { whenAborted, type CliContext } from '../context.js';
import { DEFAULT_INBOUND_POLICIES } from '../protocol/well-known.js';

interface ControlPlaneOptions {
  home?: string;
  listen?: string;
  streamPort?: string;
  debugPort?: string;
  caCert?: string;
  caKey?: string;
  certTtl?: string;
  logLevel?: string;
  webhookPort?: string;
  proxyControlPlaneAddress?: string;
  defaultInboundPolicy?: string;
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'];

/** Checked flags of the command. */
export interface ControlPlaneFlags {
  home: string | undefined;
  listen: string;
  streamPort: number | undefined;
  debugPort: number | undefined;
  caCert: string | undefined;
  caKey: string | undefined;
  certTtlSeconds: number | undefined;
  /** Linkerd's install-wide default inbound policy (`proxy.defaultInboundPolicy`) */
  defaultInboundPolicy: string | undefined;
}

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`${flag} ${value}: not a port`, `give a number from 0 to 65535 (0 picks a free port)`);
  return n;
}

/** validate(): flags to options, before any I/O. */
export function validateControlPlaneFlags(opts: ControlPlaneOptions): ControlPlaneFlags {
  if (Boolean(opts.caCert) !== Boolean(opts.caKey))
    throw new UsageError(
      '--ca-cert and --ca-key go together',
      'give both the CA certificate (chain) file and its key file, or neither',
    );
  let certTtlSeconds: number | undefined;
  if (opts.certTtl !== undefined) {
    const ms = parseDuration(opts.certTtl);
    if (ms === undefined || ms < 1000)
      throw new UsageError(`--cert-ttl ${opts.certTtl}: not a duration of at least 1s`, 'write it like 24h, 30m or 5s');
    certTtlSeconds = Math.round(ms / 1000);
    // Said, not silently capped: the CA never issues longer than this.
    if (certTtlSeconds > MAX_CERT_TTL_SECONDS)
      throw new UsageError(
        `--cert-ttl ${opts.certTtl}: above the longest workload certificate lifetime, 90 days (2160h)`,
        'give at most 2160h; certificates renew at half-life, so short lifetimes cost nothing',
      );
  }
  const policy = opts.defaultInboundPolicy;
  if (policy !== undefined && !(DEFAULT_INBOUND_POLICIES as readonly string[]).includes(policy))
    throw new UsageError(
      `--default-inbound-policy ${policy}: not a Linkerd default inbound policy`,
      `use one of ${DEFAULT_INBOUND_POLICIES.join(', ')}`,
    );
  return {
    home: opts.home,
    listen: opts.listen ?? '127.0.0.1',
    streamPort: port(opts.streamPort, '--stream-port'),
    debugPort: port(opts.debugPort, '--debug-port'),
    caCert: opts.caCert,
    caKey: opts.caKey,
    certTtlSeconds,
    defaultInboundPolicy: policy,
  };
}

/** Runs until the invocation is interrupted (SIGINT/SIGTERM), then stops `stop`. */
async function untilSignal(signal: AbortSignal, log: (line: string) => void, stop: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => whenAborted(signal, resolve));
  log(`${String(signal.reason)} received, stopping`);
  await stop();
}

/** `--kubernetes`: the control plane in a cluster (in-cluster ServiceAccount, or the kubeconfig when run outside). */
async function runInCluster(ctx: CliContext, opts: ControlPlaneOptions): Promise<number> {
  const flags = validateControlPlaneFlags(opts);
  if (flags.caCert || flags.home)
    throw new UsageError(
      '--ca-cert/--ca-key/--home are for the local platform',
      'on Kubernetes the CA is the meshctl-ca Secret (meshctl install --set ca.cert=FILE --set ca.key=FILE)',
    );
  const webhookPort = port(opts.webhookPort, '--webhook-port');
  const env = ctx.io.env;
  const namespace = ctx.globals.namespace ?? env.POD_NAMESPACE ?? 'mesh-system';
  const { hostname } = await import('node:os');
  const podName = env.POD_NAME || hostname();
  const [{ platformFor, isKubernetesPlatform }, { startKubernetesControlPlane }] = await Promise.all([
    import('../cluster/index.js'),
    import('../control-plane/kubernetes-daemon.js'),
  ]);
  // In its pod the control plane has no kubeconfig: the platform falls back to the service account.
  const platform = await platformFor('kubernetes', {
    home: ctx.meshHome(),
    ...(ctx.globals.kubeconfig ? { kubeconfig: ctx.globals.kubeconfig } : {}),
    ...(ctx.globals.context ? { context: ctx.globals.context } : {}),
    env,
    inClusterFallback: true,
  });
  if (!isKubernetesPlatform(platform))
    throw new MeshError(ErrorCode.Internal, `control plane on Kubernetes got the ${platform.kind} platform`);
  const cluster = platform.cluster;
  const log = (line: string): void => ctx.err(`${new Date().toISOString()} ${line}\n`);
  const address = opts.proxyControlPlaneAddress ?? env.MESHCTL_PROXY_CONTROL_PLANE_ADDRESS;
  const cp = await startKubernetesControlPlane({
    cluster,
    namespace,
    podName,
    host: opts.listen ?? '0.0.0.0',
    ...(flags.streamPort !== undefined ? { streamPort: flags.streamPort } : {}),
    ...(flags.debugPort !== undefined ? { debugPort: flags.debugPort } : {}),
    ...(webhookPort !== undefined ? { webhookPort } : {}),
    ...(flags.certTtlSeconds ? { certTtlSeconds: flags.certTtlSeconds } : {}),
    ...(flags.defaultInboundPolicy ? { defaultInboundPolicy: flags.defaultInboundPolicy } : {}),
    ...(address ? { proxyControlPlaneAddress: address } : {}),
    // The daemon filters by level (it used to take the flag and log everything at info).
    ...(opts.logLevel ? { logLevel: opts.logLevel as 'debug' | 'info' | 'warn' | 'error' } : {}),
    version: meshctlVersion(),
    log,
    admissionFindings: await admissionAnalyzer(),
  });
  await untilSignal(ctx.signal, log, () => cp.stop());
  return 0;
}

/**
 * What `meshctl analyze` would say about an object being admitted, over the config the cluster holds,
 * as admission warning lines (the validating webhook's semantic findings: a route to a subset no
 * DestinationRule defines, ...). MESH0002 is left out: validation already returns it.
 */
async function admissionAnalyzer(): Promise<(object: Record<string, unknown>, stored: readonly unknown[]) => string[]> {
  const analyze = await import('../analyze/index.js');
  return (object, stored) => {
    const meta = (object.metadata ?? {}) as { name?: string; namespace?: string };
    const namespace = meta.namespace ?? 'default';
    const input = analyze.buildAnalysisInput({
      files: [{ name: 'admission', text: JSON.stringify(object) }],
      // Services and workloads stay unknown, as for `meshctl apply` on the local platform: no finding about them.
      platform: { objects: stored, inventory: {}, origin: 'cluster' },
      defaultNamespace: namespace,
    });
    return analyze
      .runAnalysis(input)
      .filter(
        (f) =>
          f.type.code !== 'MESH0002' &&
          f.resource?.kind === object.kind &&
          f.resource?.name === meta.name &&
          (f.resource?.namespace ?? namespace) === namespace,
      )
      .map(
        (f) =>
          `${f.level} [${f.type.code}] (${f.resource!.kind} ${f.resource!.name}.${namespace})${f.field ? ` ${f.field}:` : ''} ${f.message}`,
      );
  };
}

const command: CommandDefinition = {
  name: 'control-plane',
  summary:
    'Run the mesh control plane in the foreground (config stream, CA, debug API; --kubernetes: in a cluster, with the injection webhook)',
  define(cmd, bind) {
    cmd
      .option('--home <dir>', 'state directory (CA, config store, workloads); default $MESHCTL_HOME or ~/.meshctl')
      .option('--listen <address>', 'address to listen on (default 127.0.0.1)')
      .option('--stream-port <port>', 'config stream + CA port (TLS; default 15012)')
      .option('--debug-port <port>', 'debug/API port (default 15014)')
      .option(
        '--ca-cert <file>',
        'use this CA certificate (PEM, optionally followed by its chain) instead of a generated root',
      )
      .option('--ca-key <file>', 'the PKCS#8 PEM key of --ca-cert')
      .option('--cert-ttl <duration>', 'lifetime of workload certificates (default 24h)')
      .option(
        '--log-level <level>',
        'debug, info, warn or error: --kubernetes writes only lines at or above it, each with its level (default info; the local control plane logs every line)',
      )
      .option(
        '--default-inbound-policy <policy>',
        "Linkerd's default inbound policy for ports no Server covers, where no pod or namespace annotation config.linkerd.io/default-inbound-policy says otherwise (default all-unauthenticated)",
      )
      .option('--webhook-port <port>', 'kubernetes: injection webhook port (default 15017)')
      .option(
        '--proxy-control-plane-address <host:port|pod-ip>',
        "kubernetes: the address injected pods dial (default meshctl-control-plane.<ns>.svc:15012; pod-ip: this replica's pod IP, for clusters without DNS); env MESHCTL_PROXY_CONTROL_PLANE_ADDRESS",
      )
      .addHelpText(
        'after',
        examples([
          'meshctl control-plane',
          'meshctl control-plane --home /tmp/mesh --stream-port 0 --debug-port 0',
          'meshctl control-plane --ca-cert corp-ca.pem --ca-key corp-ca-key.pem --cert-ttl 1h',
          'meshctl control-plane --kubernetes --namespace mesh-system   # in the Deployment',
        ]),
      );
    bind<ControlPlaneOptions>(cmd, async (ctx, _args, opts) => {
      if (opts.logLevel !== undefined && !LOG_LEVELS.includes(opts.logLevel))
        throw new UsageError(`--log-level ${opts.logLevel}: unknown level`, `use one of ${LOG_LEVELS.join(', ')}`);
      if (ctx.platformKind() === 'kubernetes') return runInCluster(ctx, opts);
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
        ...(flags.defaultInboundPolicy ? { defaultInboundPolicy: flags.defaultInboundPolicy } : {}),
        version: meshctlVersion(),
        log,
      });
      await untilSignal(ctx.signal, log, () => cp.stop());
      return 0;
    });
  },
};
export default command;
