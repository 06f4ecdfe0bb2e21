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
import type { CliContext } from '../context.js';
import type { WorkloadInfo } from '../cluster/index.js';
import { isIP } from 'node:net';
import { meshctlVersion } from '../version.js';
import { parseOutboundPorts, type OutboundPort } from '../cluster/local/outbound-ports.js';
import type { TransparentWorkload } from '../cluster/local/transparent/launch.js';

interface RunOptions {
  name?: string;
  service?: string;
  servicePort?: string;
  serviceAccount?: string;
  labels?: string;
  port?: string;
  readyTimeout?: string;
  transparent?: boolean;
  user?: string;
  excludeOutboundPorts?: string;
  excludeOutboundIpRanges?: string;
  excludeInboundPorts?: string;
  outbound?: string[];
  address?: string;
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
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${flag} ${value}: not a port`, 'give a number from 1 to 65535');
  return n;
}

/** validate(): flags and the command, before any I/O. */
export function validateRunFlags(opts: RunOptions, namespace: string, command: string[]): RunFlags {
  if (!opts.name) throw new UsageError('--name is required', 'name the workload, e.g. --name reviews-v1');
  if (!DNS_LABEL.test(opts.name)) throw new UsageError(`--name ${opts.name}: not a valid name`, 'use lowercase letters, digits and -');
  if (!DNS_LABEL.test(namespace)) throw new UsageError(`--namespace ${namespace}: not a valid namespace`, 'use lowercase letters, digits and -');
  if (opts.service !== undefined && !DNS_LABEL.test(opts.service)) throw new UsageError(`--service ${opts.service}: not a valid service name`, 'use lowercase letters, digits and -');
  const appPort = port(opts.port, '--port');
  if (appPort === undefined) throw new UsageError('--port is required', 'give the port your command listens on (it gets it as $PORT)');
  const servicePort = port(opts.servicePort, '--service-port');
  if (servicePort !== undefined && opts.service === undefined) throw new UsageError('--service-port needs --service', 'name the service the workload serves');
  const labels: Record<string, string> = {};
  for (const pair of (opts.labels ?? '').split(',').filter(Boolean)) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new UsageError(`--labels ${opts.labels}: "${pair}" is not key=value`, 'write --labels app=reviews,version=v1');
    labels[pair.slice(0, i)] = pair.slice(i + 1);
  }
  if (opts.service && !labels.app) labels.app = opts.service;
  if (command.length === 0) throw new UsageError('no command to run', "put it after --, e.g. meshctl run --name web --port 8080 -- python3 -m http.server 8080");
  const outbound = parseOutboundPorts(opts.outbound ?? [], [{ port: appPort, flag: '--port' }]);
  const address = opts.address ?? '127.0.0.1';
  if (isIP(address) === 0 || address === '0.0.0.0' || address === '::') {
    throw new UsageError(`--address ${address}: not an address of this host`, 'give the IP other machines reach this one at, e.g. --address 192.0.2.10 (default 127.0.0.1: this machine only)');
  }
  return { name: opts.name, namespace, service: opts.service, servicePort, serviceAccount: opts.serviceAccount ?? opts.service ?? opts.name, labels, port: appPort, command, outbound, address };
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as import('node:net').AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

async function run(ctx: CliContext, flags: RunFlags, readyTimeoutMs: number): Promise<number> {
  const { LocalPlatform } = await import('../cluster/local/platform.js');
  const platform = new LocalPlatform(ctx.meshHome());
  await platform.state();
  const id = `${flags.name}.${flags.namespace}`;
  const note = (m: string): void => ctx.err(`${ctx.errStyle.dim('•')} ${id}: ${m}\n`);
  const [proxyPort, outboundPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const workload: WorkloadInfo & { outboundPorts?: readonly OutboundPort[] } = {
    name: flags.name, namespace: flags.namespace, serviceAccount: flags.serviceAccount, labels: flags.labels, address: flags.address, ports: [flags.port],
    ...(flags.service ? { services: [flags.service], servicePort: flags.servicePort ?? flags.port, proxyPort } : {}),
    adminPort, outboundPort, ...(flags.outbound.length ? { outboundPorts: flags.outbound } : {}),
  };
  const reg = await platform.registerWorkload(workload);
  const cleanups: (() => Promise<void> | void)[] = [() => platform.unregisterWorkload(flags.namespace, flags.name).catch(() => undefined)];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c();
  };
  try {
    const [{ startCaIdentity, startSidecarStream }, { Proxy }, { ProxyLog }, { PROXY_CONFIG_API_VERSION }, { createWriteStream }, { join }, { TypeUrl }, { proxyAdminTokenFile }] = await Promise.all([
      import('../proxy-runtime/xds-client/sidecar-stream.js'),
      import('../proxy-runtime/proxy.js'),
      import('../proxy-runtime/log.js'),
      import('../protocol/proxy-config/index.js'),
      import('node:fs'),
      import('node:path'),
      import('../protocol/stream/messages.js'),
      import('../cluster/local/layout.js'),
    ]);
    const identity = await startCaIdentity({ address: reg.streamAddress, trustRoots: reg.trustRoots, token: () => reg.token });
    cleanups.push(() => identity.close());
    await (await import('node:fs/promises')).mkdir(platform.layout.logDir, { recursive: true, mode: 0o700 });
    const accessLogFile = join(platform.layout.logDir, `${flags.name}.${flags.namespace}.access.log`);
    const accessLog = createWriteStream(accessLogFile, { flags: 'a', mode: 0o600 });
    cleanups.push(() => void accessLog.end());
    const proxy = await Proxy.start({ apiVersion: PROXY_CONFIG_API_VERSION, listeners: [] }, { identitySource: identity, adminPort, telemetryPort: 0, telemetryAddress: flags.address, accessLog, log: new ProxyLog('warn', (l) => ctx.err(l)), guardProcess: true, adminTokenFile: proxyAdminTokenFile(platform.layout, flags.name, flags.namespace) });
    cleanups.push(() => proxy.close());
    cleanups.push(() => import('node:fs/promises').then((fs) => fs.rm(proxyAdminTokenFile(platform.layout, flags.name, flags.namespace), { force: true })));
    const node = { id, workload: flags.name, namespace: flags.namespace, serviceAccount: flags.serviceAccount, labels: flags.labels, proxyVersion: meshctlVersion() };
    const stream = await startSidecarStream({ address: reg.streamAddress, proxy, identity, node, log: (l) => ctx.logger.debug(l) });
    cleanups.push(() => stream.close());
    // Wait for the listeners before starting the app, so its first outbound call already goes through the mesh.
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      const st = stream.client.state()[TypeUrl.listeners];
      if (st?.appliedVersion) break;
      if (st?.lastError) throw new PlatformUnavailableError(`the sidecar refused its config: ${st.lastError}`, "see 'meshctl check' and the control plane log");
      if (Date.now() > deadline) throw new PlatformUnavailableError(`the sidecar got no config from ${reg.streamAddress} within ${readyTimeoutMs / 1000}s`, "check the control plane with 'meshctl check'");
      await new Promise((r) => setTimeout(r, 50));
    }
    note(`sidecar ready as ${identity.status().spiffeId} (HTTP_PROXY http://127.0.0.1:${outboundPort}, admin 127.0.0.1:${proxy.adminPort}${flags.service ? `, serving ${flags.service}:${flags.servicePort ?? flags.port}` : ''}${flags.outbound.map((o) => `, 127.0.0.1:${o.localPort} -> ${o.service}:${o.port}`).join('')})`);
    return await runCommand(ctx, flags, outboundPort, note);
  } finally {
    await cleanup();
  }
}

/** Runs the app with the mesh environment; resolves with its exit code once it exited. */
async function runCommand(ctx: CliContext, flags: RunFlags, outboundPort: number, note: (m: string) => void): Promise<number> {
  const { spawn } = await import('node:child_process');
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
  const stop = (): void => {
    if (child.exitCode === null) child.kill('SIGTERM');
    const hard = setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 5000);
    hard.unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const code = await new Promise<number>((resolve) => {
      child.on('error', (err) => {
        note(`cannot start ${flags.command[0]}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
        resolve(127);
      });
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 + (signalNumber(signal) ?? 15) : 1)));
    });
    note(`command exited with ${code}; stopping the sidecar`);
    return code;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
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
      .option('--port <port>', 'the port the command listens on (given to it as $PORT)')
      .option('--outbound <SVC:PORT=LOCALPORT>', 'a sidecar listener on 127.0.0.1:LOCALPORT to SVC:PORT, for clients that ignore HTTP_PROXY or speak TCP (repeatable)', (v: string, all: string[] = []) => [...all, v])
      .option('--address <ip>', 'the address the sidecar accepts mesh traffic and metrics scrapes on, and other workloads reach this one at (default 127.0.0.1: this machine only)')
      .option('--ready-timeout <seconds>', 'how long to wait for the sidecar config before giving up (default 20)')
      .option('--transparent', 'Linux, root: run the command in its own network namespace with iptables capture (no HTTP_PROXY needed; services by address, VIP or name)')
      .option('--user <user>', '--transparent: run the command as this user (NAME, UID, NAME:GROUP; default the sudo user, else nobody)')
      .option('--exclude-outbound-ports <ports>', '--transparent: outbound ports that bypass the sidecar (e.g. 5432,6379)')
      .option('--exclude-outbound-ip-ranges <cidrs>', '--transparent: destinations that bypass the sidecar (e.g. 10.0.0.0/8)')
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
        ]),
      );
    bind<RunOptions>(cmd, async (ctx, args, opts) => {
      const flags = validateRunFlags(opts, ctx.namespace(), args);
      const readyTimeout = opts.readyTimeout === undefined ? 20 : Number(opts.readyTimeout);
      if (!Number.isFinite(readyTimeout) || readyTimeout <= 0) throw new UsageError(`--ready-timeout ${opts.readyTimeout}: not a number of seconds`, 'e.g. --ready-timeout 30');
      if (ctx.platformKind() !== 'local') throw new PlatformUnavailableError('meshctl run starts workloads on the local platform only', 'add --local; on Kubernetes, deploy the workload and let injection add its sidecar');
      if (!opts.transparent && (opts.user ?? opts.excludeOutboundPorts ?? opts.excludeOutboundIpRanges ?? opts.excludeInboundPorts) !== undefined) throw new UsageError('--user and --exclude-* need --transparent', 'add --transparent (Linux, as root)');
      if (opts.transparent && opts.address !== undefined) throw new UsageError('--address is for workloads without --transparent', 'drop --address: a transparent workload gets its own address on the mesh bridge');
      if (opts.transparent && flags.outbound.length) throw new UsageError('--outbound is for workloads without --transparent', 'drop --outbound: with --transparent every outbound connection already goes through the sidecar');
      if (opts.transparent) {
        const [{ runTransparent }, { checkUserFlag }] = await Promise.all([import('../cluster/local/transparent/launch.js'), import('../cluster/local/transparent/host.js')]);
        checkUserFlag(opts.user);
        const capture = { ...(opts.excludeOutboundPorts ? { excludeOutboundPorts: opts.excludeOutboundPorts } : {}), ...(opts.excludeOutboundIpRanges ? { excludeOutboundIpRanges: opts.excludeOutboundIpRanges } : {}), ...(opts.excludeInboundPorts ? { excludeInboundPorts: opts.excludeInboundPorts } : {}) };
        return runTransparent(ctx, flags, { ...(opts.user ? { user: opts.user } : {}), readyTimeoutMs: readyTimeout * 1000, capture });
      }
      return run(ctx, flags, readyTimeout * 1000);
    });
  },
};
export default command;

