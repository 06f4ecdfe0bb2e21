/**
 * `meshctl gateway run`: a gateway of the local mesh in the foreground: the sidecar runtime in
 * router mode (no app, no capture), registered with labels so that Gateways select it as Istio
 * selects its ingress gateway (`selector: {istio: ingressgateway}`). Gateway server ports that a
 * user cannot bind (80, 443) are served on local ports (`--listen 443=8443`). It shows in
 * `proxy-status` and `proxy-config` like any proxy; Ctrl-C or SIGTERM drains it and unregisters it.
 */
import { isIP } from 'node:net';
import type { CommandDefinition } from './command.js';
import { examples } from './command.js';
import { PlatformUnavailableError, UsageError } from '../errors.js';
import { whenAborted, type CliContext } from '../context.js';
import { meshctlVersion } from '../version.js';

interface GatewayRunOptions {
  name?: string;
  labels?: string;
  listen?: string[];
  address?: string;
  serviceAccount?: string;
  readyTimeout?: string;
}

/** The checked flags of `gateway run`. */
export interface GatewayRunFlags {
  readonly name: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly labels: Record<string, string>;
  /** Gateway server port -> local port */
  readonly ports: Record<number, number>;
  readonly address: string;
  readonly readyTimeoutMs: number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function portOf(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(n) || n < 1 || n > 65535)
    throw new UsageError(`${flag}: ${value} is not a port`, 'give a number from 1 to 65535');
  return n;
}

/** validate(): the flags, before any I/O. Without --labels the gateway carries `istio: ingressgateway`. */
export function validateGatewayRun(opts: GatewayRunOptions, namespace: string): GatewayRunFlags {
  if (!opts.name) throw new UsageError('--name is required', 'name the gateway, e.g. --name ingressgateway');
  if (!DNS_LABEL.test(opts.name))
    throw new UsageError(`--name ${opts.name}: not a valid name`, 'use lowercase letters, digits and -');
  if (!DNS_LABEL.test(namespace))
    throw new UsageError(`--namespace ${namespace}: not a valid namespace`, 'use lowercase letters, digits and -');
  const labels: Record<string, string> = {};
  for (const pair of (opts.labels ?? 'istio=ingressgateway').split(',').filter(Boolean)) {
    const i = pair.indexOf('=');
    if (i <= 0)
      throw new UsageError(
        `--labels ${opts.labels}: "${pair}" is not key=value`,
        'write --labels istio=ingressgateway,app=edge',
      );
    labels[pair.slice(0, i)] = pair.slice(i + 1);
  }
  const ports: Record<number, number> = {};
  const locals = new Set<number>();
  for (const l of opts.listen ?? []) {
    const m = /^([^=]+)=([^=]+)$/.exec(l);
    if (!m)
      throw new UsageError(
        `--listen ${l}: not PORT=LOCALPORT`,
        'write --listen 443=8443 (the Gateway port, then the local port serving it)',
      );
    const port = portOf(m[1]!, '--listen');
    const local = portOf(m[2]!, '--listen');
    if (ports[port] !== undefined)
      throw new UsageError(`--listen: port ${port} is mapped twice`, 'keep one --listen per Gateway port');
    if (locals.has(local))
      throw new UsageError(`--listen: local port ${local} is used twice`, 'give each Gateway port its own local port');
    ports[port] = local;
    locals.add(local);
  }
  const address = opts.address ?? '127.0.0.1';
  if (isIP(address) === 0)
    throw new UsageError(
      `--address ${address}: not an IP address`,
      'e.g. --address 127.0.0.1 (default) or --address 0.0.0.0 to serve other machines',
    );
  const readyTimeout = opts.readyTimeout === undefined ? 20 : Number(opts.readyTimeout);
  if (!Number.isFinite(readyTimeout) || readyTimeout <= 0)
    throw new UsageError(`--ready-timeout ${opts.readyTimeout}: not a number of seconds`, 'e.g. --ready-timeout 30');
  return {
    name: opts.name,
    namespace,
    serviceAccount: opts.serviceAccount ?? opts.name,
    labels,
    ports,
    address,
    readyTimeoutMs: readyTimeout * 1000,
  };
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as import('node:net').AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

async function runGateway(ctx: CliContext, flags: GatewayRunFlags): Promise<number> {
  const { LocalPlatform } = await import('../cluster/local/platform.js');
  const platform = new LocalPlatform(ctx.meshHome());
  await platform.state();
  const id = `${flags.name}.${flags.namespace}`;
  const note = (m: string): void => ctx.err(`${ctx.errStyle.dim('•')} ${id}: ${m}\n`);
  const [adminPort, telemetryPort] = [await freePort(), await freePort()];
  const reg = await platform.registerWorkload({
    name: flags.name,
    namespace: flags.namespace,
    serviceAccount: flags.serviceAccount,
    labels: flags.labels,
    address: flags.address,
    ports: [],
    adminPort,
    telemetryPort,
    gateway: { address: flags.address, ports: flags.ports },
  });
  const cleanups: (() => Promise<void> | void)[] = [
    () => platform.unregisterWorkload(flags.namespace, flags.name).catch(() => undefined),
  ];
  try {
    const [
      { startCaIdentity, startSidecarStream },
      { Proxy },
      { ProxyLog },
      { PROXY_CONFIG_API_VERSION },
      { createWriteStream },
      { join },
      { TypeUrl },
      { mkdir, rm },
      { proxyAdminTokenFile },
    ] = await Promise.all([
      import('../proxy-runtime/runtime/xds-client/sidecar-stream.js'),
      import('../proxy-runtime/proxy.js'),
      import('../proxy-runtime/ground/log.js'),
      import('../protocol/proxy-config/index.js'),
      import('node:fs'),
      import('node:path'),
      import('../protocol/stream/messages.js'),
      import('node:fs/promises'),
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
    await mkdir(platform.layout.logDir, { recursive: true, mode: 0o700 });
    const accessLog = createWriteStream(join(platform.layout.logDir, `${id}.access.log`), { flags: 'a', mode: 0o600 });
    cleanups.push(() => void accessLog.end());
    const tokenFile = proxyAdminTokenFile(platform.layout, flags.name, flags.namespace);
    const proxy = await Proxy.start(
      { apiVersion: PROXY_CONFIG_API_VERSION, listeners: [] },
      {
        identitySource: identity,
        adminPort,
        telemetryPort,
        accessLog,
        log: new ProxyLog('warn', (l) => ctx.err(l)),
        guardProcess: true,
        adminTokenFile: tokenFile,
      },
    );
    cleanups.push(() => proxy.close());
    cleanups.push(() => rm(tokenFile, { force: true }));
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
    const { awaitFirstConfig } = await import('../cluster/local/first-config.js');
    await awaitFirstConfig(() => stream.client.state()[TypeUrl.listeners], {
      what: 'gateway',
      from: reg.streamAddress,
      timeoutMs: flags.readyTimeoutMs,
      refusedHint: "see 'meshctl analyze' and the control plane log",
    });
    const mapped = Object.entries(flags.ports)
      .map(([p, l]) => `${p} on ${flags.address}:${l}`)
      .join(', ');
    note(
      `gateway ready as ${identity.status().spiffeId}, labels ${Object.entries(flags.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(
          ',',
        )}${mapped ? `, serving ${mapped}` : ''} (admin 127.0.0.1:${proxy.adminPort}, telemetry http://127.0.0.1:${proxy.telemetryPort}/stats/prometheus)`,
    );
    await new Promise<void>((resolve) => whenAborted(ctx.signal, resolve));
    note('stopping: draining connections');
    return 0;
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

const command: CommandDefinition = {
  name: 'gateway',
  summary: 'Run an ingress or egress gateway of the local mesh (the proxy in router mode)',
  define(cmd, bind) {
    const run = cmd
      .command('run')
      .description('Run a gateway in the foreground; Gateways select it by its labels')
      .option('--name <name>', 'gateway name (unique in its namespace)')
      .option('--labels <k=v,...>', 'labels Gateways select on (default istio=ingressgateway)')
      .option(
        '--listen <PORT=LOCALPORT>',
        'serve the Gateway port PORT on local port LOCALPORT (repeatable; unmapped ports bind as written)',
        (v: string, all: string[] = []) => [...all, v],
      )
      .option('--address <ip>', 'address the gateway binds (default 127.0.0.1)')
      .option('--service-account <sa>', 'identity of the gateway (default: its name)')
      .option('--ready-timeout <seconds>', 'how long to wait for the config before giving up (default 20)')
      .addHelpText(
        'after',
        examples([
          'meshctl gateway run --name ingressgateway --listen 80=8080 --listen 443=8443',
          'meshctl gateway run --name egressgateway --labels istio=egressgateway --listen 80=8081 --listen 443=8444',
          'curl --resolve api.example.com:8443:127.0.0.1 --cacert ca.crt https://api.example.com:8443/',
        ]),
      );
    bind<GatewayRunOptions>(run, async (ctx, _args, opts) => {
      const flags = validateGatewayRun(opts, ctx.namespace());
      if (ctx.platformKind() !== 'local')
        throw new PlatformUnavailableError(
          'meshctl gateway run runs a gateway on the local platform only',
          "add --local; on Kubernetes, 'meshctl install' deploys the ingress gateway",
        );
      return runGateway(ctx, flags);
    });
    run.exitOverride();
  },
};
export default command;
