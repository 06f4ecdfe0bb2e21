/**
 * A gateway of the local mesh in the foreground (`meshctl gateway run`): the sidecar runtime in
 * router mode (no app, no capture), registered with labels so that Gateways select it as Istio
 * selects its ingress gateway. It shows in `proxy-status` and `proxy-config` like any proxy; when the
 * invocation's signal aborts it drains and unregisters. Reached through LocalPlatform.runGateway.
 */
import type { GatewaySpec, InvocationIo } from '../index.js';
import { meshctlVersion } from '../../version.js';
import type { LocalPlatform } from './platform.js';
import { whenAborted } from './run-workload.js';

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as import('node:net').AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

/** Runs the gateway until `ctx.signal` aborts; then it drains and unregisters. Resolves with the exit code. */
export async function runGateway(ctx: InvocationIo, platform: LocalPlatform, flags: GatewaySpec): Promise<number> {
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
      import('../../proxy-runtime/runtime/xds-client/sidecar-stream.js'),
      import('../../proxy-runtime/proxy.js'),
      import('../../proxy-runtime/ground/log.js'),
      import('../../protocol/proxy-config/index.js'),
      import('node:fs'),
      import('node:path'),
      import('../../protocol/stream/messages.js'),
      import('node:fs/promises'),
      import('../local-layout.js'),
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
    const { awaitFirstConfig } = await import('./first-config.js');
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
