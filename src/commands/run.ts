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
import { whenAborted, type CliContext } from '../context.js';
import type { WorkloadInfo } from '../cluster/index.js';
import { isIP } from 'node:net';
import { meshctlVersion } from '../version.js';
import { parseOutboundPorts, type OutboundPort } from '../cluster/local/outbound-ports.js';
import type { TransparentWorkload } from '../cluster/local/transparent/launch.js';
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

/** The checked flags. */
export interface RunFlags extends TransparentWorkload {
  /** --outbound: explicit outbound listeners of the sidecar. */
  outbound: OutboundPort[];
  /**
   * --address: where the sidecar's inbound and telemetry listeners bind, and where other workloads
   * reach this one. Default 127.0.0.1: nothing of the workload is reachable from other hosts.
   */
  address: string;
  /** --workload-group: the WorkloadGroup it is a member of (Services select it by the group's labels). */
  workloadGroup?: string;
}

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

/**
 * `n` distinct free loopback ports for the sidecar, none of them in `avoid` (the app's own port and
 * the --outbound ports, which may not be bound yet). Every socket stays open until all are chosen:
 * the kernel hands a just-released port out again, so closing each before the next could pick one
 * twice, or the app's port, whose connect probe would then reach the sidecar instead of the app.
 */
async function freePorts(n: number, avoid: ReadonlySet<number>): Promise<number[]> {
  const { createServer } = await import('node:net');
  const held: import('node:net').Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < n) {
      const s = createServer();
      held.push(s);
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      const p = (s.address() as import('node:net').AddressInfo).port;
      if (!avoid.has(p)) ports.push(p);
    }
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
  return ports;
}

/** Lifecycle settings of `meshctl run`. */
interface Lifecycle {
  readyTimeoutMs: number;
  /** --ready-path: the app is ready when GET on it answers 200-399 (default: when its port accepts). */
  readyPath: string | undefined;
  /** --drain-duration: how long in-flight requests get after the endpoint was withdrawn. */
  drainMs: number;
  /** --access-log-max-size / --access-log-keep. */
  accessLogRotation: { maxBytes: number; keep: number };
}

/** How long a withdrawal waits for the proxies' ACKs before stopping anyway. */
const WITHDRAW_ACK_TIMEOUT_MS = 10_000;

async function run(ctx: CliContext, flags: RunFlags, life: Lifecycle): Promise<number> {
  const { LocalPlatform } = await import('../cluster/local/platform.js');
  const platform = new LocalPlatform(ctx.meshHome());
  await platform.state();
  const id = `${flags.name}.${flags.namespace}`;
  const note = (m: string): void => ctx.err(`${ctx.errStyle.dim('•')} ${id}: ${m}\n`);
  const [proxyPort, outboundPort, adminPort, telemetryPort] = (await freePorts(
    4,
    new Set([flags.port, ...flags.outbound.map((o) => o.localPort)]),
  )) as [number, number, number, number];
  // Registered not serving: no proxy routes to it before its sidecar and its app are ready.
  const workload: WorkloadInfo & { outboundPorts?: readonly OutboundPort[] } = {
    name: flags.name,
    namespace: flags.namespace,
    serviceAccount: flags.serviceAccount,
    labels: flags.labels,
    ...(flags.annotations ? { annotations: flags.annotations } : {}),
    address: flags.address,
    ports: [flags.port],
    ...(flags.service ? { services: [flags.service], servicePort: flags.servicePort ?? flags.port } : {}),
    // A group member is an endpoint of the Services selecting the group's labels: its sidecar takes their mTLS.
    ...(flags.service || flags.workloadGroup ? { proxyPort } : {}),
    adminPort,
    telemetryPort,
    outboundPort,
    ...(flags.outbound.length ? { outboundPorts: flags.outbound } : {}),
    ...(flags.weight !== undefined ? { weight: flags.weight } : {}),
    serving: false,
  };
  const reg = await platform.registerWorkload(workload);
  const cleanups: (() => Promise<void> | void)[] = [
    () => platform.unregisterWorkload(flags.namespace, flags.name).catch(() => undefined),
  ];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c();
  };
  try {
    const [
      { startCaIdentity, startSidecarStream },
      { Proxy },
      { ProxyLog },
      { PROXY_CONFIG_API_VERSION },
      { join },
      { TypeUrl },
      { proxyAdminTokenFile },
    ] = await Promise.all([
      import('../proxy-runtime/runtime/xds-client/sidecar-stream.js'),
      import('../proxy-runtime/proxy.js'),
      import('../proxy-runtime/ground/log.js'),
      import('../protocol/proxy-config/index.js'),
      import('node:path'),
      import('../protocol/stream/messages.js'),
      import('../cluster/local/layout.js'),
    ]);
    // Found again from the state file on every reconnect: a restarted control plane may listen elsewhere.
    const address = async (): Promise<string> => (await platform.state()).streamAddress;
    const identity = await startCaIdentity({
      address,
      trustRoots: reg.trustRoots,
      token: () => reg.token,
      trustFile: platform.layout.caRoot,
    });
    cleanups.push(() => identity.close());
    await (await import('node:fs/promises')).mkdir(platform.layout.logDir, { recursive: true, mode: 0o700 });
    const accessLogFile = join(platform.layout.logDir, `${flags.name}.${flags.namespace}.access.log`);
    const { RotatingFile } = await import('../cluster/local/rotating-log.js');
    const accessLog = new RotatingFile(accessLogFile, life.accessLogRotation);
    cleanups.push(() => void accessLog.end());
    const proxy = await Proxy.start(
      { apiVersion: PROXY_CONFIG_API_VERSION, listeners: [] },
      {
        identitySource: identity,
        adminPort,
        telemetryPort,
        telemetryAddress: flags.address,
        accessLog,
        log: new ProxyLog('warn', (l) => ctx.err(l)),
        guardProcess: true,
        adminTokenFile: proxyAdminTokenFile(platform.layout, flags.name, flags.namespace),
      },
    );
    cleanups.push(() => proxy.close());
    cleanups.push(() =>
      import('node:fs/promises').then((fs) =>
        fs.rm(proxyAdminTokenFile(platform.layout, flags.name, flags.namespace), { force: true }),
      ),
    );
    const node = {
      id,
      workload: flags.name,
      namespace: flags.namespace,
      serviceAccount: flags.serviceAccount,
      labels: flags.labels,
      proxyVersion: meshctlVersion(),
    };
    const stream = await startSidecarStream({ address, proxy, identity, node, log: (l) => ctx.logger.debug(l) });
    cleanups.push(() => stream.close());
    // Wait for the listeners before starting the app, so its first outbound call already goes through the mesh.
    const { awaitFirstConfig } = await import('../cluster/local/first-config.js');
    await awaitFirstConfig(() => stream.client.state()[TypeUrl.listeners], {
      what: 'sidecar',
      from: reg.streamAddress,
      timeoutMs: life.readyTimeoutMs,
      refusedHint: "see 'meshctl check' and the control plane log",
    });
    note(
      `sidecar ready as ${identity.status().spiffeId} (HTTP_PROXY http://127.0.0.1:${outboundPort}, admin 127.0.0.1:${proxy.adminPort}, telemetry http://127.0.0.1:${proxy.telemetryPort}/stats/prometheus${flags.service ? `, serving ${flags.service}:${flags.servicePort ?? flags.port}` : ''}${flags.workloadGroup ? `, member of WorkloadGroup ${flags.workloadGroup}` : ''}${flags.outbound.map((o) => `, 127.0.0.1:${o.localPort} -> ${o.service}:${o.port}`).join('')})`,
    );
    const { drainInFlight } = await import('../cluster/local/workload-lifecycle.js');
    const withdraw = async (): Promise<void> => {
      const r = await platform
        .setWorkloadServing(flags.namespace, flags.name, false, WITHDRAW_ACK_TIMEOUT_MS)
        .catch((e: Error) => ({ acked: false, pending: [e.message] }));
      if (!r.acked)
        note(
          `withdrawn; not acknowledged within ${WITHDRAW_ACK_TIMEOUT_MS / 1000}s by ${r.pending.join(', ') || 'the control plane'}`,
        );
      const left = await drainInFlight(() => proxy.inFlight, life.drainMs);
      if (left > 0) note(`${left} request(s) still in flight after the ${life.drainMs / 1000}s drain duration`);
    };
    const announce = async (): Promise<void> => {
      await platform.setWorkloadServing(flags.namespace, flags.name, true);
      if (flags.service) note(`app ready on port ${flags.port}: now an endpoint of ${flags.service}`);
    };
    return await runCommand(ctx, flags, outboundPort, note, { ...life, announce, withdraw });
  } finally {
    await cleanup();
  }
}

/**
 * Runs the app with the mesh environment; resolves with its exit code once it exited. Once the
 * app is ready it is announced; a stop signal withdraws and drains before the app gets SIGTERM.
 */
async function runCommand(
  ctx: CliContext,
  flags: RunFlags,
  outboundPort: number,
  note: (m: string) => void,
  life: Lifecycle & { announce(): Promise<void>; withdraw(): Promise<void> },
): Promise<number> {
  const [{ spawn }, { waitForApp }] = await Promise.all([
    import('node:child_process'),
    import('../cluster/local/workload-lifecycle.js'),
  ]);
  const proxyUrl = `http://127.0.0.1:${outboundPort}`;
  const child = spawn(flags.command[0]!, flags.command.slice(1), {
    cwd: ctx.io.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...ctx.io.env,
      PORT: String(flags.port),
      HTTP_PROXY: proxyUrl,
      http_proxy: proxyUrl,
      NODE_USE_ENV_PROXY: '1',
      // Loopback stays direct; everything else (service names) goes through the sidecar.
      NO_PROXY: 'localhost,127.0.0.1,::1',
      no_proxy: 'localhost,127.0.0.1,::1',
    },
  });
  child.stdout.on('data', (d: Buffer) => ctx.out(d.toString()));
  child.stderr.on('data', (d: Buffer) => ctx.err(d.toString()));
  let exited = false;
  const exit = new Promise<number>((resolve) => {
    child.on('error', (err) => {
      exited = true;
      note(`cannot start ${flags.command[0]}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
      resolve(127);
    });
    child.on('exit', (c, signal) => {
      exited = true;
      const code = c ?? (signal ? 128 + (signalNumber(signal) ?? 15) : 1);
      // Its last output may still be in the pipes: wait for them to end (not for ever: a child
      // of the app may hold them open).
      const ended = [child.stdout, child.stderr].map((s) =>
        s.readableEnded ? undefined : new Promise((r) => s.once('close', r)),
      );
      void Promise.race([Promise.all(ended), new Promise((r) => setTimeout(r, 1000).unref())]).then(() =>
        resolve(code),
      );
    });
  });
  let announced: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): void => {
    stopping ??= (async () => {
      // The app keeps serving until no proxy routes new requests to it and in-flight ones finished.
      await announced?.catch(() => undefined);
      if (!exited) {
        note('stopping: withdrawing the endpoint, draining, then stopping the app');
        await life.withdraw();
      }
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const hard = setTimeout(
        () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'),
        5000,
      );
      hard.unref();
    })();
  };
  const unlisten = whenAborted(ctx.signal, stop);
  try {
    announced = (async () => {
      if (
        await waitForApp(
          { port: flags.port, ...(life.readyPath !== undefined ? { path: life.readyPath } : {}) },
          life.readyTimeoutMs,
          () => exited || stopping !== undefined,
        )
      ) {
        if (!exited && stopping === undefined) await life.announce();
      } else if (!exited && stopping === undefined && flags.service) {
        note(
          `app not ready on port ${flags.port}${life.readyPath ?? ''} within ${life.readyTimeoutMs / 1000}s; not announced (it will be once ready)`,
        );
        if (
          await waitForApp(
            { port: flags.port, ...(life.readyPath !== undefined ? { path: life.readyPath } : {}) },
            24 * 3600_000,
            () => exited || stopping !== undefined,
          )
        )
          await life.announce();
      }
    })();
    announced.catch((e: Error) => note(`announcing failed: ${e.message}`));
    const code = await exit;
    // The app is gone: take it out of the endpoints at once (clients retry on the connect failures).
    if (stopping === undefined) await life.withdraw().catch(() => undefined);
    else await stopping;
    note(`command exited with ${code}; stopping the sidecar`);
    return code;
  } finally {
    unlisten();
  }
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal];
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
        const [{ runTransparent }, { checkUserFlag }] = await Promise.all([
          import('../cluster/local/transparent/launch.js'),
          import('../cluster/local/transparent/host.js'),
        ]);
        checkUserFlag(opts.user);
        const capture = {
          ...(opts.excludeOutboundPorts ? { excludeOutboundPorts: opts.excludeOutboundPorts } : {}),
          ...(opts.excludeOutboundIpRanges ? { excludeOutboundIpRanges: opts.excludeOutboundIpRanges } : {}),
          ...(opts.excludeInboundPorts ? { excludeInboundPorts: opts.excludeInboundPorts } : {}),
        };
        return runTransparent(ctx, flags, {
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
      return run(ctx, flags, {
        readyTimeoutMs: readyTimeout * 1000,
        readyPath: opts.readyPath,
        drainMs: drain * 1000,
        accessLogRotation,
      });
    });
  },
};
export default command;
