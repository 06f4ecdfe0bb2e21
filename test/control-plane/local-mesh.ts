/**
 * A local mesh on loopback for tests: a control plane (in this process, OS-chosen ports), workloads
 * registered as `meshctl run` does, each with a real app (answering its name and version) and a
 * real sidecar (CA identity, config stream, composed configs).
 */
import { createServer, request, type Server } from 'node:http';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/daemon.js';
import { LocalPlatform } from '../../src/cluster/local/platform.js';
import { PROXY_CONFIG_API_VERSION } from '../../src/protocol/proxy-config/index.js';
import { TypeUrl } from '../../src/protocol/stream/messages.js';
import type { CaIdentitySource } from '../../src/proxy-runtime/identity/ca-client.js';
import type { XdsClient } from '../../src/proxy-runtime/xds-client/client.js';
import { SIDECAR_TYPES, startCaIdentity, startSidecarStream } from '../../src/proxy-runtime/xds-client/sidecar-stream.js';
import { Proxy } from '../../src/proxy-runtime/proxy.js';
import { ProxyLog } from '../../src/proxy-runtime/log.js';

/** A port free right now (listen on 0, close). */
export async function freePort(): Promise<number> {
  const s = netServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** One running workload. */
export interface Sidecar {
  readonly name: string;
  readonly proxy: Proxy;
  readonly client: XdsClient;
  readonly identity: CaIdentitySource;
  readonly outboundPort: number;
  readonly app?: Server;
}

/** The DestinationRule with subsets v1/v2 of `reviews`, as in the seed. */
export const reviewsDestinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

/** A VirtualService splitting `reviews` between v1 and v2. */
export const reviewsSplit = (v1: number, v2: number): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: ${v1}
    - destination: {host: reviews, subset: v2}
      weight: ${v2}
`;

/** A control plane and its workloads. */
export class LocalMeshForTest {
  readonly sidecars: Sidecar[] = [];
  readonly proxyLogs: string[] = [];

  private constructor(
    readonly cp: RunningControlPlane,
    readonly platform: LocalPlatform,
  ) {}

  static async start(opts: { certTtlSeconds?: number } = {}): Promise<LocalMeshForTest> {
    const home = await mkdtemp(join(tmpdir(), 'meshctl-mesh-'));
    const cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined, ...(opts.certTtlSeconds ? { certTtlSeconds: opts.certTtlSeconds } : {}) });
    return new LocalMeshForTest(cp, new LocalPlatform(home));
  }

  /** Registers a workload and starts its app (when it serves `service`) and its sidecar. */
  async run(name: string, labels: Record<string, string>, opts: { service?: string; outboundPort?: number } = {}): Promise<Sidecar> {
    let app: Server | undefined;
    let appPort = await freePort();
    if (opts.service) {
      app = createServer((_req, res) => res.end(`${name} ${labels.version ?? ''}`));
      await new Promise<void>((r) => app!.listen(0, '127.0.0.1', r));
      appPort = (app.address() as AddressInfo).port;
    }
    const proxyPort = await freePort();
    const outboundPort = opts.outboundPort ?? (await freePort());
    const sa = labels.app ?? name;
    const reg = await this.platform.registerWorkload({ name, namespace: 'default', serviceAccount: sa, labels, address: '127.0.0.1', ports: [appPort], ...(opts.service ? { services: [opts.service], servicePort: 9080, proxyPort } : {}), outboundPort });
    const identity = await startCaIdentity({ address: reg.streamAddress, trustRoots: reg.trustRoots, token: () => reg.token });
    const proxy = await Proxy.start({ apiVersion: PROXY_CONFIG_API_VERSION, listeners: [] }, { identitySource: identity, adminPort: 0, telemetryPort: 0, accessLog: null, log: new ProxyLog('error', (l) => this.proxyLogs.push(l)) });
    const node = { id: `${name}.default`, workload: name, namespace: 'default', serviceAccount: sa, labels, proxyVersion: 'test' };
    const { client } = await startSidecarStream({ address: reg.streamAddress, proxy, identity, node });
    const s: Sidecar = { name, proxy, client, identity, outboundPort, ...(app ? { app } : {}) };
    this.sidecars.push(s);
    return s;
  }

  /** Every sidecar ACKed everything sent, and `changed` at the current snapshot's version. */
  synced(changed: string = TypeUrl.routes, only?: (workload: string) => boolean): boolean {
    const views = this.cp.server.ads.views().filter((v) => !only || only(v.proxy.workload));
    const expected = only ? this.sidecars.filter((s) => only(s.name)).length : this.sidecars.length;
    return views.length === expected && views.every((v) => SIDECAR_TYPES.every((t) => v.types[t]?.status === 'SYNCED') && v.types[changed]?.ackedVersion === this.cp.pipeline.version);
  }

  async apply(...docs: string[]): Promise<void> {
    await this.platform.applyConfig(docs.map((text, i) => ({ file: `doc-${i}.yaml`, text })), { defaultNamespace: 'default' });
  }

  async stop(): Promise<void> {
    for (const s of this.sidecars) {
      s.client.close();
      await s.proxy.close();
      s.identity.close();
      s.app?.close();
    }
    await this.cp.stop();
  }
}

/**
 * A request from a client app through its sidecar's HTTP_PROXY listener, as curl with HTTP_PROXY
 * sends it: one connection per request (the proxy binds a connection's route table when it is
 * accepted, so a kept-alive client connection keeps the routes it started with).
 */
export function viaProxy(sidecar: Sidecar, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: '127.0.0.1', port: sidecar.outboundPort, path: url, headers: { host: u.host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends `n` requests to reviews and counts answers by body (or status when not 200). */
export async function versionsSeen(client: Sidecar, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await viaProxy(client, 'http://reviews:9080/').catch((e: Error) => ({ status: 0, body: e.message }));
    const key = r.status === 200 ? r.body : `status ${r.status}: ${r.body.slice(0, 80)}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Sends requests back to back on `concurrency` connections until `stop()`; resolves with the tally. */
export function steadyLoad(client: Sidecar, concurrency = 4): { stop(): Promise<{ ok: number; failed: string[] }> } {
  let running = true;
  const failed: string[] = [];
  let ok = 0;
  const loop = async (): Promise<void> => {
    while (running) {
      const r = await viaProxy(client, 'http://reviews:9080/').catch((e: Error) => ({ status: 0, body: e.message }));
      if (r.status === 200 && r.body.startsWith('reviews-')) ok++;
      else failed.push(`${r.status} ${r.body.slice(0, 100)}`);
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { ok, failed };
    },
  };
}
