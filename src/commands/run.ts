/**
 * `meshctl run`: starts a workload in the local mesh: registers it (getting its CA token), starts
 * its sidecar (certificate from the mesh CA, config from the control plane), then the command with
 * `PORT` set and `HTTP_PROXY` pointing at the sidecar, so the app reaches other services by name
 * (`http://reviews:9080`). The app's output streams through; Ctrl-C, SIGTERM or the command
 * exiting stops both, and the workload is unregistered (its token revoked).
 */
import type { CommandDefinition } from './command.js';
import { examples } from './command.js';
import { PlatformUnavailableError, UsageError } from '../errors.js';
import { DEFAULT_INBOUND_POLICIES, DEFAULT_INBOUND_POLICY_ANNOTATION } from '../protocol/well-known.js';
import type { CliContext } from '../context.js';
import type { HostWorkloadSpec } from '../cluster/index.js';
import { isIP } from 'node:net';
import { parseOutboundPorts } from './run-outbound.js';
import { localPlatformOf } from './platform-of.js';
import { findWorkloadGroup, groupMembership, type GroupMembership } from './run-workload-group.js';

interface RunOptions {
  name?: string;
  service?: string;
  servicePort?: string;
  serviceAccount?: string;
  labels?: string;
  annotations?: string;
  port?: string;
  readyTimeout?: string;
  readyPath?: string;
  drainDuration?: string;
  accessLogMaxSize?: string;
  accessLogKeep?: string;
  transparent?: boolean;
  user?: string;
  excludeOutboundPorts?: string;
  excludeOutboundIpRanges?: string;
  excludeInboundPorts?: string;
  outbound?: string[];
  address?: string;
  workloadGroup?: string;
}

/** The checked flags: the workload as the platform runs it. */
export type RunFlags = HostWorkloadSpec;

/** A duration flag in seconds (`5`, `5s`, `500ms`); undefined when it is none. */
function secondsFlag(value: string | undefined, fallback: number): number | undefined {
  if (value === undefined) return fallback;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value.trim());
  if (!m) return undefined;
  return m[2] === 'ms' ? Number(m[1]) / 1000 : Number(m[1]);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new UsageError(`${flag} ${value}: not a port`, 'give a number from 1 to 65535');
  return n;
}

/**
 * validate(): flags and the command, before any I/O; `membership`: what `--workload-group` gives
 * (labels, serviceAccount, port, weight), fetched by the caller.
 */
export function validateRunFlags(
  opts: RunOptions,
  namespace: string,
  command: string[],
  membership?: GroupMembership,
): RunFlags {
  if (!opts.name) throw new UsageError('--name is required', 'name the workload, e.g. --name reviews-v1');
  if (!DNS_LABEL.test(opts.name))
    throw new UsageError(`--name ${opts.name}: not a valid name`, 'use lowercase letters, digits and -');
  if (!DNS_LABEL.test(namespace))
    throw new UsageError(`--namespace ${namespace}: not a valid namespace`, 'use lowercase letters, digits and -');
  if (opts.service !== undefined && !DNS_LABEL.test(opts.service))
    throw new UsageError(`--service ${opts.service}: not a valid service name`, 'use lowercase letters, digits and -');
  const appPort = port(opts.port, '--port') ?? membership?.port;
  if (appPort === undefined)
    throw new UsageError('--port is required', 'give the port your command listens on (it gets it as $PORT)');
  const servicePort = port(opts.servicePort, '--service-port');
  if (servicePort !== undefined && opts.service === undefined)
    throw new UsageError('--service-port needs --service', 'name the service the workload serves');
  // The group's labels first: the run's own win, as a VM's node metadata wins over its WorkloadGroup.
  const labels: Record<string, string> = { ...membership?.labels };
  for (const pair of (opts.labels ?? '').split(',').filter(Boolean)) {
    const i = pair.indexOf('=');
    if (i <= 0)
      throw new UsageError(
        `--labels ${opts.labels}: "${pair}" is not key=value`,
        'write --labels app=reviews,version=v1',
      );
    labels[pair.slice(0, i)] = pair.slice(i + 1);
  }
  if (opts.service && !labels.app) labels.app = opts.service;
  const annotations: Record<string, string> = {};
  for (const pair of (opts.annotations ?? '').split(',').filter(Boolean)) {
    const i = pair.indexOf('=');
    if (i <= 0)
      throw new UsageError(
        `--annotations ${opts.annotations}: "${pair}" is not key=value`,
        `write --annotations ${DEFAULT_INBOUND_POLICY_ANNOTATION}=deny`,
      );
    const key = pair.slice(0, i);
    const value = pair.slice(i + 1);
    // Said, not silently kept: the local platform acts on this one annotation only.
    if (key !== DEFAULT_INBOUND_POLICY_ANNOTATION)
      throw new UsageError(
        `--annotations: ${key} has no effect on the local platform`,
        `the local platform reads ${DEFAULT_INBOUND_POLICY_ANNOTATION} only`,
      );
    if (!(DEFAULT_INBOUND_POLICIES as readonly string[]).includes(value))
      throw new UsageError(
        `--annotations ${key}=${value}: not a Linkerd default inbound policy`,
        `use one of ${DEFAULT_INBOUND_POLICIES.join(', ')}`,
      );
    annotations[key] = value;
  }
  if (command.length === 0)
    throw new UsageError(
      'no command to run',
      'put it after --, e.g. meshctl run --name web --port 8080 -- python3 -m http.server 8080',
    );
  const outbound = parseOutboundPorts(opts.outbound ?? [], [{ port: appPort, flag: '--port' }]);
  const address = opts.address ?? '127.0.0.1';
  if (isIP(address) === 0 || address === '0.0.0.0' || address === '::') {
    throw new UsageError(
      `--address ${address}: not an address of this host`,
      'give the IP other machines reach this one at, e.g. --address 192.0.2.10 (default 127.0.0.1: this machine only)',
    );
  }
  return {
    name: opts.name,
    namespace,
    service: opts.service,
    servicePort,
    serviceAccount: opts.serviceAccount ?? membership?.serviceAccount ?? opts.service ?? opts.name,
    labels,
    ...(Object.keys(annotations).length ? { annotations } : {}),
    port: appPort,
    command,
    outbound,
    address,
    ...(opts.workloadGroup !== undefined ? { workloadGroup: opts.workloadGroup } : {}),
    ...(membership?.weight !== undefined ? { weight: membership.weight } : {}),
  };
}

/** `--workload-group NAME`: the group of the run's namespace, read from the local platform, as membership settings. */
async function workloadGroupMembership(ctx: CliContext, opts: RunOptions): Promise<GroupMembership | undefined> {
  if (opts.workloadGroup === undefined) return undefined;
  if (!DNS_LABEL.test(opts.workloadGroup))
    throw new UsageError(
      `--workload-group ${opts.workloadGroup}: not a valid name`,
      'use lowercase letters, digits and -',
    );
  if (ctx.platformKind() !== 'local') return undefined;
  const namespace = ctx.namespace();
  const platform = await ctx.platform();
  const group = findWorkloadGroup(
    await platform.listConfig({ kind: 'WorkloadGroup', namespace }),
    opts.workloadGroup,
    namespace,
  );
  return groupMembership(group, {
    ...(opts.port !== undefined ? { port: port(opts.port, '--port')! } : {}),
    ...(opts.serviceAccount !== undefined ? { serviceAccount: opts.serviceAccount } : {}),
  });
}

const command: CommandDefinition = {
  name: 'run',
  summary: 'Run a command as a workload of the local mesh, with its sidecar',
  define(cmd, bind) {
    cmd
      .argument('<command...>', 'the command to run (after --); it gets PORT and HTTP_PROXY')
      .option('--name <name>', 'workload name (unique in its namespace)')
      .option('--service <service>', 'the service this workload serves (clients call http://SERVICE:SERVICE_PORT)')
      .option('--service-port <port>', 'the port clients use for --service (default: --port)')
      .option('--service-account <sa>', 'identity of the workload (default: the service, else the name)')
      .option('--labels <k=v,...>', 'workload labels (subsets select on them, e.g. version=v2)')
      .option(
        '--annotations <k=v,...>',
        'pod annotations the local platform reads: config.linkerd.io/default-inbound-policy=deny (Linkerd: ports no Server covers)',
      )
      .option('--port <port>', 'the port the command listens on (given to it as $PORT)')
      .option(
        '--workload-group <name>',
        "join as a member of this WorkloadGroup (Istio's VM auto-registration): its template's labels, serviceAccount, weight and port",
      )
      .option(
        '--outbound <SVC:PORT=LOCALPORT>',
        'a sidecar listener on 127.0.0.1:LOCALPORT to SVC:PORT, for clients that ignore HTTP_PROXY or speak TCP (repeatable)',
        (v: string, all: string[] = []) => [...all, v],
      )
      .option(
        '--address <ip>',
        'the address the sidecar accepts mesh traffic and metrics scrapes on, and other workloads reach this one at (default 127.0.0.1: this machine only)',
      )
      .option(
        '--ready-timeout <seconds>',
        'how long to wait for the sidecar config, and for the app before warning (default 20)',
      )
      .option(
        '--ready-path <path>',
        'the app is ready (announced as an endpoint) once GET PATH answers 200-399 (default: once its port accepts)',
      )
      .option(
        '--access-log-max-size <MiB>',
        'the access log ($MESHCTL_HOME/logs/NAME.NS.access.log) rotates past this size (default 10)',
      )
      .option('--access-log-keep <n>', 'rotated access log files kept (NAME.NS.access.log.1 ... .n; default 3)')
      .option(
        '--drain-duration <seconds>',
        'on stop: how long in-flight requests get after the endpoint was withdrawn (default 5, as Istio)',
      )
      .option(
        '--transparent',
        'Linux, root: run the command in its own network namespace with iptables capture (no HTTP_PROXY needed; services by address, VIP or name)',
      )
      .option(
        '--user <user>',
        '--transparent: run the command as this user (NAME, UID, NAME:GROUP; default the sudo user, else nobody)',
      )
      .option(
        '--exclude-outbound-ports <ports>',
        '--transparent: outbound ports that bypass the sidecar (e.g. 5432,6379)',
      )
      .option(
        '--exclude-outbound-ip-ranges <cidrs>',
        '--transparent: destinations that bypass the sidecar (e.g. 10.0.0.0/8)',
      )
      .option('--exclude-inbound-ports <ports>', '--transparent: inbound ports the sidecar does not intercept')
      .addHelpText(
        'after',
        examples([
          'meshctl run --name reviews-v1 --service reviews --service-port 9080 --labels version=v1 --port 9081 -- node reviews.js',
          'meshctl run --name reviews-v2 --service reviews --service-port 9080 --labels version=v2 --port 9082 -- node reviews.js',
          'meshctl run --name client --port 9000 -- curl -s http://reviews:9080/',
          'meshctl run --name app --port 9000 --outbound db:5432=15432 -- psql -h 127.0.0.1 -p 15432   # TCP through the mesh (mTLS)',
          'sudo meshctl run --transparent --name reviews-v1 --service reviews --service-port 9080 --port 9080 -- node reviews.js',
          'sudo meshctl run --transparent --name client --port 9000 -- curl -s http://reviews:9080/   # app runs as you, sidecar as UID 1337',
          'meshctl run --name reviews-vm1 --workload-group reviews -- node reviews.js   # labels, identity, port and weight from the WorkloadGroup',
        ]),
      );
    bind<RunOptions>(cmd, async (ctx, args, opts) => {
      const flags = validateRunFlags(opts, ctx.namespace(), args, await workloadGroupMembership(ctx, opts));
      const readyTimeout = opts.readyTimeout === undefined ? 20 : Number(opts.readyTimeout);
      if (!Number.isFinite(readyTimeout) || readyTimeout <= 0)
        throw new UsageError(
          `--ready-timeout ${opts.readyTimeout}: not a number of seconds`,
          'e.g. --ready-timeout 30',
        );
      if (ctx.platformKind() !== 'local')
        throw new PlatformUnavailableError(
          'meshctl run starts workloads on the local platform only',
          'add --local; on Kubernetes, deploy the workload and let injection add its sidecar',
        );
      if (
        !opts.transparent &&
        (opts.user ?? opts.excludeOutboundPorts ?? opts.excludeOutboundIpRanges ?? opts.excludeInboundPorts) !==
          undefined
      )
        throw new UsageError('--user and --exclude-* need --transparent', 'add --transparent (Linux, as root)');
      if (opts.transparent && opts.address !== undefined)
        throw new UsageError(
          '--address is for workloads without --transparent',
          'drop --address: a transparent workload gets its own address on the mesh bridge',
        );
      if (opts.transparent && flags.outbound.length)
        throw new UsageError(
          '--outbound is for workloads without --transparent',
          'drop --outbound: with --transparent every outbound connection already goes through the sidecar',
        );
      if (opts.transparent) {
        const capture = {
          ...(opts.excludeOutboundPorts ? { excludeOutboundPorts: opts.excludeOutboundPorts } : {}),
          ...(opts.excludeOutboundIpRanges ? { excludeOutboundIpRanges: opts.excludeOutboundIpRanges } : {}),
          ...(opts.excludeInboundPorts ? { excludeInboundPorts: opts.excludeInboundPorts } : {}),
        };
        return (await localPlatformOf(ctx)).runTransparentWorkload(ctx, flags, {
          ...(opts.user ? { user: opts.user } : {}),
          readyTimeoutMs: readyTimeout * 1000,
          capture,
        });
      }
      const drain = secondsFlag(opts.drainDuration, 5);
      if (drain === undefined || drain < 0)
        throw new UsageError(
          `--drain-duration ${opts.drainDuration}: not a duration`,
          'e.g. --drain-duration 5 (seconds) or 500ms',
        );
      if (opts.readyPath !== undefined && !opts.readyPath.startsWith('/'))
        throw new UsageError(`--ready-path ${opts.readyPath}: not a path`, 'e.g. --ready-path /healthz');
      const maxMiB = opts.accessLogMaxSize === undefined ? 10 : Number(opts.accessLogMaxSize);
      if (!Number.isFinite(maxMiB) || maxMiB <= 0)
        throw new UsageError(
          `--access-log-max-size ${opts.accessLogMaxSize}: not a size in MiB`,
          'e.g. --access-log-max-size 10',
        );
      const keep = opts.accessLogKeep === undefined ? 3 : Number(opts.accessLogKeep);
      if (!Number.isInteger(keep) || keep < 0 || keep > 100)
        throw new UsageError(
          `--access-log-keep ${opts.accessLogKeep}: not a count of files`,
          'give 0 to 100, e.g. --access-log-keep 3',
        );
      const accessLogRotation = { maxBytes: Math.round(maxMiB * 1024 * 1024), keep };
      return (await localPlatformOf(ctx)).runWorkload(ctx, flags, {
        readyTimeoutMs: readyTimeout * 1000,
        readyPath: opts.readyPath,
        drainMs: drain * 1000,
        accessLogRotation,
      });
    });
  },
};
export default command;
