/**
 * A workload of the local mesh beside the others on this host (`meshctl run` without --transparent):
 * registered not serving, its sidecar (certificate from the mesh CA, config from the control plane),
 * then the command with `PORT` set and `HTTP_PROXY` pointing at the sidecar, so the app reaches
 * other services by name. Once the app is ready it becomes an endpoint; a stop (the command exiting,
 * or the invocation's signal) withdraws it, drains in-flight requests, stops the app and unregisters
 * it (its token revoked). Reached through LocalPlatform.runWorkload.
 */
import type { HostWorkloadSpec, InvocationIo, OutboundPort, WorkloadInfo, WorkloadLifecycle } from '../index.js';
import { meshctlVersion } from '../../version.js';
import type { LocalPlatform } from './platform.js';

/** Calls `fn` once when `signal` aborts (at once if it already has); returns what removes the listener. */
export function whenAborted(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => undefined;
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
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

/** How long a withdrawal waits for the proxies' ACKs before stopping anyway. */
const WITHDRAW_ACK_TIMEOUT_MS = 10_000;

/**
 * Runs a workload with its sidecar until its command exits or `ctx.signal` aborts: registers it
 * (not serving), starts the sidecar, then the app, announces it once ready; on the way out withdraws,
 * drains and unregisters it. Resolves with the app's exit code.
 */
export async function runWorkload(
  ctx: InvocationIo,
  platform: LocalPlatform,
  flags: HostWorkloadSpec,
  life: WorkloadLifecycle,
): Promise<number> {
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
      import('../../proxy-runtime/runtime/xds-client/sidecar-stream.js'),
      import('../../proxy-runtime/proxy.js'),
      import('../../proxy-runtime/ground/log.js'),
      import('../../protocol/proxy-config/index.js'),
      import('node:path'),
      import('../../protocol/stream/messages.js'),
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
    await (await import('node:fs/promises')).mkdir(platform.layout.logDir, { recursive: true, mode: 0o700 });
    const accessLogFile = join(platform.layout.logDir, `${flags.name}.${flags.namespace}.access.log`);
    const { RotatingFile } = await import('./rotating-log.js');
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
    const { awaitFirstConfig } = await import('./first-config.js');
    await awaitFirstConfig(() => stream.client.state()[TypeUrl.listeners], {
      what: 'sidecar',
      from: reg.streamAddress,
      timeoutMs: life.readyTimeoutMs,
      refusedHint: "see 'meshctl check' and the control plane log",
    });
    note(
      `sidecar ready as ${identity.status().spiffeId} (HTTP_PROXY http://127.0.0.1:${outboundPort}, admin 127.0.0.1:${proxy.adminPort}, telemetry http://127.0.0.1:${proxy.telemetryPort}/stats/prometheus${flags.service ? `, serving ${flags.service}:${flags.servicePort ?? flags.port}` : ''}${flags.workloadGroup ? `, member of WorkloadGroup ${flags.workloadGroup}` : ''}${flags.outbound.map((o) => `, 127.0.0.1:${o.localPort} -> ${o.service}:${o.port}`).join('')})`,
    );
    const { drainInFlight } = await import('./workload-lifecycle.js');
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
  ctx: InvocationIo,
  flags: HostWorkloadSpec,
  outboundPort: number,
  note: (m: string) => void,
  life: WorkloadLifecycle & { announce(): Promise<void>; withdraw(): Promise<void> },
): Promise<number> {
  const [{ spawn }, { waitForApp }] = await Promise.all([
    import('node:child_process'),
    import('./workload-lifecycle.js'),
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
