/**
 * A local mesh for the proxy-status / proxy-config tests: a real control plane (in this process,
 * OS-chosen ports, temporary MESHCTL_HOME) and workloads wired as `meshctl run` wires them:
 * registered with their admin port, a real sidecar (CA certificate, config stream) and a real app.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/daemon.js';
import { LocalPlatform } from '../../src/cluster/local/platform.js';
import { PROXY_CONFIG_API_VERSION } from '../../src/protocol/proxy-config/index.js';
import {
  startCaIdentity,
  startSidecarStream,
  SIDECAR_TYPES,
} from '../../src/proxy-runtime/runtime/xds-client/sidecar-stream.js';
import { Proxy } from '../../src/proxy-runtime/proxy.js';
import { ProxyLog } from '../../src/proxy-runtime/ground/log.js';
import { freePort } from '../control-plane/local-mesh.js';
import { runCli, type CliResult } from '../support/cli.js';

/** One workload with its sidecar. */
export interface AdminWorkload {
  readonly name: string;
  readonly proxy: Proxy;
  readonly adminPort: number;
  readonly outboundPort: number;
  close(): Promise<void>;
}

/** A control plane and workloads that register their admin port. */
export class MeshWithAdmin {
  readonly workloads: AdminWorkload[] = [];

  private constructor(
    readonly home: string,
    readonly cp: RunningControlPlane,
    readonly platform: LocalPlatform,
  ) {}

  static async start(): Promise<MeshWithAdmin> {
    const home = await mkdtemp(join(tmpdir(), 'meshctl-pstatus-'));
    const cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
    return new MeshWithAdmin(home, cp, new LocalPlatform(home));
  }

  /** `meshctl --local <argv>` against this mesh. */
  cli(...argv: string[]): Promise<CliResult> {
    return runCli(['--local', ...argv], { env: { MESHCTL_HOME: this.home } });
  }

  /** Starts a workload serving `service` (answering `<name> <version>`), or a client when no service. */
  async run(
    name: string,
    labels: Record<string, string>,
    opts: { service?: string; outboundPort?: number } = {},
  ): Promise<AdminWorkload> {
    let app: Server | undefined;
    let appPort = await freePort();
    if (opts.service) {
      app = createServer((_q, r) => r.end(`${name} ${labels.version ?? ''}`));
      await new Promise<void>((r) => app!.listen(0, '127.0.0.1', r));
      appPort = (app.address() as AddressInfo).port;
    }
    const [proxyPort, adminPort, telemetryPort] = [await freePort(), await freePort(), await freePort()];
    const outboundPort = opts.outboundPort ?? (await freePort());
    const sa = labels.app ?? name;
    const reg = await this.platform.registerWorkload({
      name,
      namespace: 'default',
      serviceAccount: sa,
      labels,
      address: '127.0.0.1',
      ports: [appPort],
      adminPort,
      telemetryPort,
      outboundPort,
      ...(opts.service ? { services: [opts.service], servicePort: 9080, proxyPort } : {}),
    });
    const identity = await startCaIdentity({
      address: reg.streamAddress,
      trustRoots: reg.trustRoots,
      token: () => reg.token,
    });
    const proxy = await Proxy.start(
      { apiVersion: PROXY_CONFIG_API_VERSION, listeners: [] },
      {
        identitySource: identity,
        adminPort,
        telemetryPort,
        accessLog: null,
        log: new ProxyLog('off', () => undefined),
      },
    );
    const node = {
      id: `${name}.default`,
      workload: name,
      namespace: 'default',
      serviceAccount: sa,
      labels,
      proxyVersion: 'test',
    };
    const { client } = await startSidecarStream({ address: reg.streamAddress, proxy, identity, node });
    const w: AdminWorkload = {
      name,
      proxy,
      adminPort,
      outboundPort,
      close: async () => {
        client.close();
        await proxy.close();
        identity.close();
        app?.close();
      },
    };
    this.workloads.push(w);
    return w;
  }

  /** Whether every sidecar ACKed everything sent, and `changed` (a type URL) at the current snapshot version. */
  synced(changed?: string): boolean {
    const views = this.cp.server.ads.views();
    return (
      views.length === this.workloads.length &&
      views.every(
        (v) =>
          SIDECAR_TYPES.every((t) => v.types[t]?.status === 'SYNCED') &&
          (!changed || v.types[changed]?.ackedVersion === this.cp.pipeline.version),
      )
    );
  }

  async apply(text: string): Promise<void> {
    await this.platform.applyConfig([{ file: 'test.yaml', text }], { defaultNamespace: 'default' });
  }

  async stop(): Promise<void> {
    for (const w of this.workloads) await w.close();
    await this.cp.stop();
    await rm(this.home, { recursive: true, force: true });
  }
}
