/**
 * `meshctl run --transparent`: the workload in its own network namespace, meshed the way a pod is.
 *
 *   lease an address (198.19.N.x) and the service's VIP -> namespace + veth on the mesh bridge,
 *   hosts file naming every service VIP -> `proxy init` rules in the namespace -> register the
 *   workload (capture, its address, its VIP) -> the sidecar (`meshctl proxy run`, as in a pod) as
 *   UID 1337 in the namespace, reaching the control plane through a unix socket this process
 *   relays (the namespace has its own loopback) -> ready on 15020 -> the app as its user.
 *
 * Everything made is undone in reverse order when the app exits, on SIGINT/SIGTERM and when a
 * step fails; what a killed run left behind is swept by the next run on the same mesh home.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { unwatchFile, watchFile } from 'node:fs';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { RotatingFile, DEFAULT_ROTATION } from '../rotating-log.js';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { InvocationIo } from '../../index.js';
import { PlatformUnavailableError } from '../../../errors.js';
import { ProxyEnv, ProxyPorts, SIDECAR_NODE_FLAGS } from '../../../protocol/well-known.js';
import { launcherPath, processStartTime } from '../../processes.js';
import type { LocalPlatform } from '../platform.js';
import type { TransparentOptions, WorkloadInfo, WorkloadSpec } from '../../index.js';
import {
  allocateWorkload,
  chooseNetwork,
  hostsFile,
  meshNetwork,
  rewriteInPlace,
  serviceVip,
  withLeases,
  type Leases,
  type MeshNetwork,
  type WorkloadLease,
} from './addresses.js';
import { assertTransparentHost, PROXY_UID, resolveAppUser, transparentMeshHome, type AppUser } from './host.js';
import {
  addressesAndRoutes,
  createWorkloadNetns,
  ensureBridge,
  hostsPath,
  netnsExists,
  removeBridge,
  removeWorkloadNetns,
} from './netns.js';

const RUNTIME_ROOT = '/run/meshctl';

async function alive(lease: WorkloadLease): Promise<boolean> {
  try {
    process.kill(lease.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = await processStartTime(lease.pid);
  return lease.processStart === undefined || start === undefined || start === lease.processStart;
}

/** Removes the leases (and namespaces, veths, files) of runs that died without cleaning up. */
async function sweepStale(leases: Leases, platform: LocalPlatform, note: (m: string) => void): Promise<void> {
  const keep: WorkloadLease[] = [];
  for (const lease of leases.workloads) {
    if (await alive(lease)) {
      keep.push(lease);
      continue;
    }
    note(
      `removing what a stopped run left behind: ${lease.namespace}/${lease.name} (namespace ${lease.netns}, ${lease.ipv4})`,
    );
    await removeWorkloadNetns(lease);
    await platform.unregisterWorkload(lease.namespace, lease.name).catch(() => undefined);
  }
  leases.workloads = keep;
}

/** Points every running workload's hosts file at the current VIPs (a new service may have one now). */
async function refreshHostsFiles(leases: Leases): Promise<void> {
  for (const w of leases.workloads) {
    await rewriteInPlace(hostsPath(w.netns), hostsFile(leases, w.namespace, w.name, w.ipv4)).catch(() => undefined);
  }
}

/** A byte relay that ends its connections when closed (a plain close would wait for the peers to hang up). */
interface Relay {
  readonly server: Server;
  close(): Promise<void>;
}

/** Where a relay connects. */
type RelayTarget = { path: string } | { host: string; port: number };

/** A byte relay from `listen` (a unix socket path, or a port on 127.0.0.1) to `target`. */
async function startRelay(listen: string | number, target: RelayTarget | (() => Promise<RelayTarget>)): Promise<Relay> {
  const open = new Set<import('node:net').Socket>();
  const server = createServer((client) => {
    open.add(client);
    client.once('close', () => open.delete(client));
    client.on('error', () => undefined);
    // The target is looked up for every connection: a control plane restarted on another port is found again.
    void (typeof target === 'function' ? target() : Promise.resolve(target)).then(
      (t) => {
        if (client.destroyed) return;
        const upstream = connect(t);
        open.add(upstream);
        upstream.once('close', () => open.delete(upstream));
        client.pipe(upstream).pipe(client);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
      },
      () => client.destroy(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (typeof listen === 'number') server.listen(listen, '127.0.0.1', () => resolve());
    else server.listen(listen, () => resolve());
  });
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}

function hostPortOf(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/**
 * The sidecar's admin API listens on the namespace's own 127.0.0.1:15000. A relay inside the
 * namespace (as UID 1337) exposes it on a unix socket, which this process serves on the host's
 * 127.0.0.1, so `meshctl proxy-status` and `proxy-config` reach it as for any local workload.
 */
const NETNS_ADMIN_RELAY = `const net=require('node:net');const [sock,port]=process.argv.slice(1);net.createServer((c)=>{const u=net.connect(Number(port),'127.0.0.1');c.pipe(u).pipe(c);c.on('error',()=>u.destroy());u.on('error',()=>c.destroy())}).listen(sock);process.on('SIGTERM',()=>process.exit(0));`;

/**
 * Waits until the control plane has pushed a snapshot holding the workload. A sidecar connecting
 * earlier is taken for an unregistered pod and gets IPv4-only capture listeners first; the
 * proxy cannot then move them to `::` on the same ports (it binds new listeners before closing
 * old ones), and would keep refusing the workload's real config.
 */
async function awaitPushOf(
  platform: LocalPlatform,
  key: string,
  since: string,
  timeoutMs: number,
  debug: (m: string) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { pushes } = await platform.controlPlaneGet<{ pushes: { reasons: string[]; at: string }[] }>('/debug/pushz');
    if (pushes.some((p) => p.at >= since && p.reasons.includes(`workload ${key}`))) return;
    if (Date.now() > deadline) {
      debug(`no push naming workload ${key} seen in /debug/pushz; starting the sidecar anyway`);
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function nsArgv(netns: string, user: { uid: number; gid: number }, argv: readonly string[]): string[] {
  return [
    'netns',
    'exec',
    netns,
    'setpriv',
    `--reuid=${user.uid}`,
    `--regid=${user.gid}`,
    '--clear-groups',
    '--',
    ...argv,
  ];
}

function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const hard = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(hard);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Runs the workload transparently; resolves with the app's exit code once everything is removed. */
export async function runTransparent(
  ctx: InvocationIo,
  w: WorkloadSpec,
  opts: TransparentOptions,
  /** The local platform of a mesh home (the invoking user's, which under sudo is not root's). */
  platformAt: (home: string) => LocalPlatform,
): Promise<number> {
  const { resolveCaptureOptions, flagName } = await import('../../../proxy-init/options.js');
  // validate(): the capture settings, before anything is created.
  const captureOptions = resolveCaptureOptions(
    { proxyUid: String(PROXY_UID), proxyGid: String(PROXY_UID), ...opts.capture },
    flagName,
  );
  await assertTransparentHost();
  const appUser: AppUser = await resolveAppUser(opts.user, ctx.io.env);
  const platform = platformAt(await transparentMeshHome(ctx.io.env, ctx.meshHome()));
  const state = await platform.state();
  const home = platform.layout.home;
  const id = `${w.name}.${w.namespace}`;
  const note = (m: string): void => ctx.err(`${ctx.errStyle.dim('•')} ${id}: ${m}\n`);

  const cleanups: { what: string; run: () => Promise<unknown> }[] = [];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) {
      const started = Date.now();
      try {
        await c.run();
      } catch (err) {
        note(`cleanup: ${c.what} failed: ${(err as Error).message}`);
      }
      ctx.logger.debug(`cleanup: ${c.what} took ${Date.now() - started} ms`);
    }
    cleanups.length = 0;
  };
  let stopping = false;
  let app: ChildProcess | undefined;
  let serving = false;
  const onSignal = (): void => {
    if (stopping) return;
    stopping = true;
    // Withdrawn first, and only once every proxy ACKed that, the app stops (then the sidecar drains).
    const withdraw = serving
      ? platform.setWorkloadServing(w.namespace, w.name, false, 10_000).catch(() => undefined)
      : Promise.resolve();
    void withdraw.then(() => app && stopChild(app, 5_000));
  };
  // The invocation's interrupt (SIGINT/SIGTERM), as the CLI context delivers it.
  ctx.signal.addEventListener('abort', onSignal, { once: true });
  try {
    const processStart = await processStartTime('self');
    let net!: MeshNetwork;
    let lease!: WorkloadLease;
    let vip: string | undefined;
    await withLeases(home, async (leases) => {
      await sweepStale(leases, platform, note);
      const clash = leases.workloads.find((l) => l.name === w.name && l.namespace === w.namespace);
      if (clash)
        throw new PlatformUnavailableError(
          `workload ${id} is already running transparently (meshctl run pid ${clash.pid}, ${clash.ipv4})`,
          'stop it first, or pick another --name',
        );
      const third = chooseNetwork(leases, home, await addressesAndRoutes());
      net = meshNetwork(home, third);
      const ipv6 = await ensureBridge(net);
      const allocated = allocateWorkload(leases, third);
      const { ipv4, index } = allocated;
      const netns = `${net.namePrefix}-${index}`;
      lease = {
        name: w.name,
        namespace: w.namespace,
        netns,
        veth: `${net.namePrefix}v${index}`,
        ipv4,
        ...(ipv6 ? { ipv6: allocated.ipv6 } : {}),
        pid: process.pid,
        ...(processStart ? { processStart } : {}),
        runtimeDir: join(RUNTIME_ROOT, netns),
      };
      if (w.service) vip = serviceVip(leases, third, w.service, w.namespace);
      leases.workloads.push(lease);
      try {
        // A namespace of that name outliving its lease (the lease file was removed by hand) is stale too.
        if (await netnsExists(netns)) await removeWorkloadNetns(lease);
        await createWorkloadNetns(net, lease, hostsFile(leases, w.namespace, w.name, ipv4));
      } catch (err) {
        await removeWorkloadNetns(lease);
        leases.workloads.pop();
        throw err;
      }
      await refreshHostsFiles(leases);
    });
    cleanups.push({
      what: `removing namespace ${lease.netns}`,
      run: () =>
        withLeases(home, async (leases) => {
          await removeWorkloadNetns(lease);
          leases.workloads = leases.workloads.filter((l) => l.netns !== lease.netns);
          if (!leases.workloads.length) await removeBridge(net);
        }),
    });
    note(
      `network namespace ${lease.netns}, address ${lease.ipv4}${lease.ipv6 ? ` and ${lease.ipv6}` : ''}${vip ? `, service ${w.service} at ${vip}` : ''} (bridge ${net.bridge}, gateway ${net.gateway})`,
    );

    const apply = await import('../../../proxy-init/apply.js');
    const { execaRunner } = await import('../../../proxy-init/iptables.js');
    const runner = execaRunner(lease.netns);
    await apply.applyCapture(captureOptions, runner, await apply.familiesFor(captureOptions, runner));

    // What the sidecar reads, in a directory only it (UID 1337) can enter.
    await mkdir(RUNTIME_ROOT, { recursive: true, mode: 0o755 });
    await mkdir(lease.runtimeDir, { recursive: true, mode: 0o700 });
    await chown(lease.runtimeDir, PROXY_UID, PROXY_UID);
    const adminSocket = join(lease.runtimeDir, 'admin.sock');
    const adminRelay = await startRelay(0, { path: adminSocket });
    cleanups.push({ what: 'closing the admin relay', run: () => adminRelay.close() });
    const adminPort = (adminRelay.server.address() as import('node:net').AddressInfo).port;

    const registration: WorkloadInfo & { capture: boolean; serviceAddresses?: string[]; ipv6Address?: string } = {
      name: w.name,
      namespace: w.namespace,
      serviceAccount: w.serviceAccount,
      labels: w.labels,
      ...(w.annotations ? { annotations: w.annotations } : {}),
      address: lease.ipv4,
      ports: [w.port],
      capture: true,
      adminPort,
      telemetryPort: ProxyPorts.telemetry,
      ...(w.service ? { services: [w.service], servicePort: w.servicePort ?? w.port } : {}),
      ...(vip ? { serviceAddresses: [vip] } : {}),
      ...(lease.ipv6 ? { ipv6Address: lease.ipv6 } : {}),
      ...(w.weight !== undefined ? { weight: w.weight } : {}),
      // Not an endpoint until its sidecar is ready and the app started (see workload-lifecycle.ts).
      serving: false,
    };
    const registeredAt = new Date(Date.now() - 1_000).toISOString();
    const reg = await platform.registerWorkload(registration);
    cleanups.push({ what: 'unregistering the workload', run: () => platform.unregisterWorkload(w.namespace, w.name) });
    await awaitPushOf(platform, `${w.namespace}/${w.name}`, registeredAt, Math.min(opts.readyTimeoutMs, 5_000), (m) =>
      ctx.logger.debug(m),
    );

    const tokenPath = join(lease.runtimeDir, 'token');
    const rootPath = join(lease.runtimeDir, 'root-cert.pem');
    await writeFile(tokenPath, reg.token, { mode: 0o600 });
    await chown(tokenPath, PROXY_UID, PROXY_UID);
    await writeFile(rootPath, reg.trustRoots, { mode: 0o644 });
    // A root rotation rewrites the mesh's trust file at each phase; the sidecar watches its copy and renews.
    const mirrorTrust = (): void => {
      readFile(platform.layout.caRoot, 'utf8')
        .then((t) => writeFile(rootPath, t, { mode: 0o644 }))
        .catch(() => undefined);
    };
    watchFile(platform.layout.caRoot, { interval: 1000, persistent: false }, mirrorTrust);
    const unwatchTrust = async (): Promise<void> => unwatchFile(platform.layout.caRoot, mirrorTrust);
    cleanups.push({ what: 'no longer following the trust bundle', run: unwatchTrust });
    const socketPath = join(lease.runtimeDir, 'control-plane.sock');
    const relay = await startRelay(socketPath, async () => hostPortOf((await platform.state()).streamAddress));
    await chown(socketPath, PROXY_UID, PROXY_UID);
    await chmod(socketPath, 0o600);
    cleanups.push({ what: 'closing the control-plane relay', run: () => relay.close() });

    await mkdir(platform.layout.logDir, { recursive: true, mode: 0o700 });
    const accessLog = new RotatingFile(
      join(platform.layout.logDir, `${w.name}.${w.namespace}.access.log`),
      DEFAULT_ROTATION,
    );
    cleanups.push({ what: 'closing the access log', run: () => new Promise((r) => accessLog.end(r)) });
    const sidecar = spawn(
      'ip',
      nsArgv(lease.netns, { uid: PROXY_UID, gid: PROXY_UID }, [
        process.execPath,
        ...SIDECAR_NODE_FLAGS,
        launcherPath(),
        'proxy',
        'run',
        '--log-level',
        ctx.io.env.MESH_PROXY_LOG_LEVEL ?? 'warn',
      ]),
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          PATH: ctx.io.env.PATH ?? '/usr/bin:/bin',
          [ProxyEnv.controlPlaneAddress]: `unix://${socketPath}`,
          [ProxyEnv.podName]: w.name,
          [ProxyEnv.podNamespace]: w.namespace,
          [ProxyEnv.serviceAccount]: w.serviceAccount,
          [ProxyEnv.podIp]: lease.ipv4,
          [ProxyEnv.podLabels]: Object.entries(w.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
          [ProxyEnv.tokenPath]: tokenPath,
          [ProxyEnv.caRootPath]: rootPath,
        },
      },
    );
    sidecar.stdout!.pipe(accessLog, { end: false });
    sidecar.stderr!.on('data', (d: Buffer) => ctx.err(d.toString()));
    cleanups.push({ what: 'stopping the sidecar', run: () => stopChild(sidecar, 5_000) });
    note(`sidecar pid ${String(sidecar.pid)} as UID ${PROXY_UID}; waiting for its certificate and listeners`);
    const adminInNetns = spawn(
      'ip',
      nsArgv(lease.netns, { uid: PROXY_UID, gid: PROXY_UID }, [
        process.execPath,
        '-e',
        NETNS_ADMIN_RELAY,
        adminSocket,
        String(ProxyPorts.admin),
      ]),
      { stdio: 'ignore' },
    );
    cleanups.push({ what: 'stopping the admin relay in the namespace', run: () => stopChild(adminInNetns, 2_000) });

    const ready = `http://${lease.ipv4}:${ProxyPorts.telemetry}/healthz/ready`;
    const deadline = Date.now() + opts.readyTimeoutMs;
    for (;;) {
      if (stopping) return 130;
      if (sidecar.exitCode !== null || sidecar.signalCode !== null)
        throw new PlatformUnavailableError(
          `the sidecar exited (${String(sidecar.exitCode ?? sidecar.signalCode)}) before it was ready`,
          'see its messages above',
        );
      const ok = await fetch(ready, { signal: AbortSignal.timeout(1_000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline)
        throw new PlatformUnavailableError(
          `the sidecar was not ready within ${opts.readyTimeoutMs / 1000}s (${ready})`,
          "check the control plane with 'meshctl check'",
        );
      await new Promise((r) => setTimeout(r, 100));
    }
    note(
      `sidecar ready (admin 127.0.0.1:${adminPort}, telemetry http://${lease.ipv4}:${ProxyPorts.telemetry}/stats/prometheus); starting the app as ${appUser.label} (UID ${appUser.uid})`,
    );

    const child = spawn('ip', nsArgv(lease.netns, appUser, w.command), {
      cwd: ctx.io.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...ctx.io.env, PORT: String(w.port) },
    });
    app = child;
    child.stdout!.on('data', (d: Buffer) => ctx.out(d.toString()));
    child.stderr!.on('data', (d: Buffer) => ctx.err(d.toString()));
    const exited = new Promise<number>((resolve) => {
      child.on('error', () => resolve(127));
      child.on('exit', (c, signal) => resolve(c ?? (signal === 'SIGINT' ? 130 : signal === 'SIGKILL' ? 137 : 143)));
    });
    if (stopping) void stopChild(child, 5_000);
    else {
      // The app's readiness is not probed here (from the host its port is the sidecar's capture): announced once started.
      serving = true;
      void platform.setWorkloadServing(w.namespace, w.name, true).then(
        () => w.service && note(`now an endpoint of ${w.service}`),
        (err: Error) => note(`announcing the endpoint failed: ${err.message}`),
      );
    }
    // Without its sidecar the workload is cut off from the mesh (its traffic is still redirected): stop it too.
    const sidecarGone = (c: number | null, signal: NodeJS.Signals | null): void => {
      if (stopping || child.exitCode !== null || child.signalCode !== null) return;
      note(`the sidecar exited (${String(c ?? signal)}) while the command ran; stopping the command`);
      void stopChild(child, 5_000);
    };
    sidecar.once('exit', sidecarGone);
    const code = await exited;
    sidecar.off('exit', sidecarGone);
    note(`command exited with ${code}; removing its sidecar and namespace`);
    return code;
  } finally {
    ctx.signal.removeEventListener('abort', onSignal);
    await cleanup();
  }
}
