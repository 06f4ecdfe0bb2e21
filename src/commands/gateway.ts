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
import type { GatewaySpec } from '../cluster/index.js';
import { localPlatformOf } from './platform-of.js';

interface GatewayRunOptions {
  name?: string;
  labels?: string;
  listen?: string[];
  address?: string;
  serviceAccount?: string;
  readyTimeout?: string;
}

/** The checked flags of `gateway run`: the gateway as the platform runs it. */
export type GatewayRunFlags = GatewaySpec;

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
      const platform = await localPlatformOf(ctx);
      return platform.runGateway(ctx, flags);
    });
    run.exitOverride();
  },
};
export default command;
