/**
 * `meshctl install`: installs the mesh on the selected platform.
 * - kubernetes (a kubeconfig with a current context, or --kubernetes): server-side applies the
 *   CRDs and components that `manifest generate` prints, creates the root CA Secret once, and with
 *   --wait waits for the control plane (per-pod reasons on timeout). --dry-run prints what would be
 *   applied; -y skips the confirmation asked on a terminal.
 * - local: starts the control plane as a background daemon (idempotent: a second run reports the
 *   running one) and says where its state and logs are and what to do next.
 */
import type { CommandDefinition } from './command.js';
import { examples } from './command.js';
import { UsageError } from '../errors.js';
import { parseDuration } from '../config/duration.js';
import { Symbols } from '../ui/style.js';
import type { CliContext } from '../context.js';
import type { OperationOutcome } from '../cluster/index.js';
import { validateControlPlaneFlags, type ControlPlaneFlags } from './control-plane.js';
import { operationIo } from './platform-of.js';
import { rootCaSource } from './root-ca.js';
import { collect, filenameOption } from './manifest-inputs.js';

interface InstallOptions {
  streamPort?: string;
  debugPort?: string;
  caCert?: string;
  caKey?: string;
  certTtl?: string;
  timeout?: string;
  set?: string[];
  filename?: string[];
  dryRun?: boolean;
  yes?: boolean;
  wait?: boolean;
  crdsOnly?: boolean;
}

/** The control plane flags as arguments of the daemon. */
export function daemonArgs(flags: ControlPlaneFlags): string[] {
  const args: string[] = [];
  if (flags.streamPort !== undefined) args.push('--stream-port', String(flags.streamPort));
  if (flags.debugPort !== undefined) args.push('--debug-port', String(flags.debugPort));
  if (flags.caCert && flags.caKey) args.push('--ca-cert', flags.caCert, '--ca-key', flags.caKey);
  if (flags.certTtlSeconds) args.push('--cert-ttl', `${flags.certTtlSeconds}s`);
  if (flags.defaultInboundPolicy) args.push('--default-inbound-policy', flags.defaultInboundPolicy);
  return args;
}

/** Linkerd's install value for the default inbound policy (both platforms). */
const DEFAULT_INBOUND_POLICY_KEY = 'proxy.defaultInboundPolicy';

const LOCAL_ONLY = ['streamPort', 'debugPort', 'caCert', 'caKey', 'certTtl'] as const;
const KUBERNETES_ONLY = ['dryRun', 'wait', 'crdsOnly'] as const;
const FLAG_NAMES: Record<string, string> = {
  streamPort: '--stream-port',
  debugPort: '--debug-port',
  caCert: '--ca-cert',
  caKey: '--ca-key',
  certTtl: '--cert-ttl',
  dryRun: '--dry-run',
  wait: '--wait',
  crdsOnly: '--crds-only',
};

function timeoutOf(opts: InstallOptions, fallbackMs: number): number {
  if (opts.timeout === undefined) return fallbackMs;
  const ms = parseDuration(opts.timeout);
  if (ms === undefined || ms <= 0)
    throw new UsageError(`--timeout ${opts.timeout}: not a duration`, 'write it like 30s or 5m');
  return ms;
}

async function installOnKubernetes(ctx: CliContext, opts: InstallOptions): Promise<number> {
  const local = LOCAL_ONLY.filter((k) => opts[k] !== undefined);
  if (local.length)
    throw new UsageError(
      `${local.map((k) => FLAG_NAMES[k]).join(', ')}: only for the local platform`,
      'on Kubernetes set the CA with --set ca.cert=FILE --set ca.key=FILE and the certificate lifetime with --set certTtl=1h; add --local for the local platform',
    );
  const timeoutMs = timeoutOf(opts, 5 * 60_000);
  const [
    { readSources },
    { parseDocuments },
    { defaultValues, resolveValues },
    { defaultProxyImage, meshctlVersion },
    { splitMeshConfig },
  ] = await Promise.all([
    import('../config/sources.js'),
    import('../config/documents.js'),
    import('../install/values.js'),
    import('../version.js'),
    import('../install/mesh-config.js'),
  ]);
  const files = await readSources(opts.filename ?? [], { stdin: ctx.io.stdin, cwd: ctx.io.cwd });
  const split = splitMeshConfig(
    files.map((f) => ({
      name: f.name,
      docs: parseDocuments(f.text, f.name)
        .filter((d) => d.object !== null)
        .map((d) => d.object),
    })),
    opts.set ?? [],
  );
  for (const k of split.ignored)
    ctx.logger.warn(
      `[MESH0002] meshConfig.${k}: accepted but has no effect in meshctl (it reads tracing and access log settings)`,
    );
  const values = resolveValues(defaultValues(defaultProxyImage()), split.valueFiles, split.valueSets);
  const meshConfig = split.meshConfig;
  const version = meshctlVersion();
  if (opts.dryRun) {
    // Exactly what install applies (as `manifest generate` prints it), and nothing is sent.
    const [{ renderComponents }, { loadCrds }, { toYaml }] = await Promise.all([
      import('../install/manifests.js'),
      import('../install/crds.js'),
      import('../ui/printers.js'),
    ]);
    const objects = [...(await loadCrds()), ...(opts.crdsOnly ? [] : renderComponents(values, version, meshConfig))];
    ctx.out(objects.map((o) => toYaml(o)).join('---\n'));
    ctx.err(
      `${ctx.errStyle.dim(Symbols.info)} dry run: ${objects.length} objects would be server-side applied (field manager meshctl)${opts.crdsOnly ? '' : `, plus the root CA secret ${values.namespace}/meshctl-ca if it does not exist yet`}; nothing was sent to the cluster\n`,
    );
    return 0;
  }
  const platform = await ctx.platform();
  const outcome = await platform.install(
    {
      version,
      timeoutMs,
      yes: Boolean(opts.yes),
      ...(meshConfig ? { meshConfig } : {}),
      kubernetes: {
        values,
        rootCa: await rootCaSource(values.ca),
        crdsOnly: Boolean(opts.crdsOnly),
        wait: Boolean(opts.wait),
      },
    },
    operationIo(ctx),
  );
  return finish(ctx, outcome);
}

/** Prints what the platform said comes next, or that the user declined (exit code 1). */
function finish(ctx: CliContext, outcome: OperationOutcome): number {
  if (outcome.declined) {
    ctx.out(`${outcome.declined}\n`);
    return 1;
  }
  if (outcome.next) ctx.out(outcome.next);
  return 0;
}

/**
 * The local platform's MeshConfig from `-f` (an IstioOperator, or a file with a `meshConfig:`
 * mapping) and `--set meshConfig.KEY=VALUE`; the platform writes it to the mesh home, where the
 * daemon follows it. Undefined when neither was given (the MeshConfig in place is kept).
 */
async function localMeshConfig(ctx: CliContext, opts: InstallOptions): Promise<Record<string, unknown> | undefined> {
  const sets = opts.set ?? [];
  const other = sets.filter((s) => !s.startsWith('meshConfig.'));
  if (other.length)
    throw new UsageError(
      `--set ${other[0]}: only meshConfig.* and ${DEFAULT_INBOUND_POLICY_KEY} are set on the local platform`,
      'set control plane values on Kubernetes (--kubernetes); locally use --stream-port, --debug-port, --ca-cert/--ca-key, --cert-ttl',
    );
  if (!opts.filename?.length && !sets.length) return undefined;
  const [{ readSources }, { parseDocuments }, mc] = await Promise.all([
    import('../config/sources.js'),
    import('../config/documents.js'),
    import('../install/mesh-config.js'),
  ]);
  let merged: Record<string, unknown> = {};
  for (const f of await readSources(opts.filename ?? [], { stdin: ctx.io.stdin, cwd: ctx.io.cwd })) {
    const docs = parseDocuments(f.text, f.name).filter((d) => d.object !== null);
    const configs = docs.map((d) => mc.meshConfigOfDocument(d.object)).filter((x) => x !== undefined);
    if (configs.length === 0)
      throw new UsageError(
        `${f.name}: no IstioOperator and no meshConfig in it`,
        'the local platform reads spec.meshConfig of an IstioOperator (or a top-level meshConfig:)',
      );
    for (const c of configs) merged = { ...merged, ...c };
  }
  merged = mc.applyMeshConfigSets(merged, sets);
  const { ignored } = mc.validateMeshConfig(merged, opts.filename?.join(', ') || '--set');
  for (const k of ignored)
    ctx.logger.warn(
      `[MESH0002] meshConfig.${k}: accepted but has no effect in meshctl (it reads tracing and access log settings)`,
    );
  return merged;
}

async function installLocal(ctx: CliContext, opts: InstallOptions): Promise<number> {
  const k8s = KUBERNETES_ONLY.filter((k) => opts[k] !== undefined);
  if (k8s.length) {
    throw new UsageError(
      `${k8s.map((k) => FLAG_NAMES[k]).join(', ')}: only for Kubernetes`,
      'add --kubernetes (or point KUBECONFIG at a cluster) to install there; the local platform takes --stream-port, --debug-port, --ca-cert/--ca-key, --cert-ttl, and -f/--set for meshConfig',
    );
  }
  // Linkerd's install value, the one control plane setting --set takes on the local platform.
  const policySets = (opts.set ?? []).filter((s) => s.startsWith(`${DEFAULT_INBOUND_POLICY_KEY}=`));
  const policy = policySets.at(-1)?.slice(DEFAULT_INBOUND_POLICY_KEY.length + 1);
  opts = { ...opts, set: (opts.set ?? []).filter((s) => !policySets.includes(s)) };
  const flags = validateControlPlaneFlags({
    ...opts,
    ...(policy !== undefined ? { defaultInboundPolicy: policy } : {}),
  });
  const timeoutMs = timeoutOf(opts, 30_000);
  const meshConfig = await localMeshConfig(ctx, opts);
  const [platform, { meshctlVersion }] = await Promise.all([ctx.platform(), import('../version.js')]);
  const outcome = await platform.install(
    {
      version: meshctlVersion(),
      timeoutMs,
      yes: Boolean(opts.yes),
      ...(meshConfig ? { meshConfig } : {}),
      local: { daemonArgs: daemonArgs(flags), env: ctx.io.env },
    },
    operationIo(ctx),
  );
  return finish(ctx, outcome);
}

const command: CommandDefinition = {
  name: 'install',
  summary: 'Install the mesh (on the cluster of the current kubeconfig context, or --local on this machine)',
  define(cmd, bind) {
    filenameOption(cmd, 'values (kubernetes), or an IstioOperator whose spec.meshConfig is applied (both platforms)')
      .option(
        '--set <key=value>',
        'override a value (repeatable): controlPlane.replicas=3, ca.cert=FILE, ... (kubernetes); meshConfig.KEY=VALUE, proxy.defaultInboundPolicy=deny (both)',
        collect,
        [],
      )
      .option('--dry-run', 'kubernetes: print what would be applied, change nothing')
      .option('-y, --yes', 'kubernetes: do not ask for confirmation')
      .option('--wait', 'kubernetes: wait for the control plane to be ready')
      .option('--crds-only', 'kubernetes: only the CustomResourceDefinitions')
      .option('--stream-port <port>', 'local: config stream + CA port (default 15012; 0 picks a free one)')
      .option('--debug-port <port>', 'local: debug/API port (default 15014; 0 picks a free one)')
      .option('--ca-cert <file>', 'local: use this CA certificate (PEM chain) instead of generating a root')
      .option('--ca-key <file>', 'local: the PKCS#8 PEM key of --ca-cert')
      .option('--cert-ttl <duration>', 'local: lifetime of workload certificates (default 24h)')
      .option('--timeout <duration>', 'how long to wait for the control plane (kubernetes: 5m, local: 30s)')
      .addHelpText(
        'after',
        examples([
          'meshctl install --wait',
          'meshctl install --set controlPlane.replicas=3 -f values.yaml -y',
          'meshctl install --dry-run > mesh.yaml',
          'meshctl install --local',
          'meshctl install --local -f istio-operator.yaml --set meshConfig.accessLogEncoding=TEXT',
          'MESHCTL_HOME=/tmp/mesh meshctl install --local --stream-port 0 --debug-port 0',
        ]),
      );
    bind<InstallOptions>(cmd, async (ctx, _args, opts) => {
      // commander gives [] for an unused repeatable flag; treat it as absent.
      if (opts.set?.length === 0) delete opts.set;
      if (opts.filename?.length === 0) delete opts.filename;
      return ctx.platformKind() === 'kubernetes' ? installOnKubernetes(ctx, opts) : installLocal(ctx, opts);
    });
  },
};
export default command;
