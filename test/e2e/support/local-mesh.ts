/**
 * A local mesh on loopback for end-to-end tests: a control plane (in this process, OS-chosen ports),
 * workloads registered as `meshctl run` registers them, each with a real app and a real sidecar (CA
 * identity, config stream, composed configs). Config goes in as the YAML users write, through the
 * platform's apply, so every test crosses parse -> store -> push -> translation -> proxy.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as netServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { Writable } from 'node:stream';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/daemon.js';
import type { JwksFetchOptions } from '../../../src/control-plane/jwks/jwks-cache.js';
import { LocalPlatform } from '../../../src/cluster/local/platform.js';
import { PROXY_CONFIG_API_VERSION } from '../../../src/protocol/proxy-config/index.js';
import { TypeUrl } from '../../../src/protocol/stream/messages.js';
import type { AccessLogEntry } from '../../../src/proxy-runtime/telemetry/access-log.js';
import type { CaIdentitySource } from '../../../src/proxy-runtime/runtime/identity/ca-client.js';
import type { XdsClient } from '../../../src/proxy-runtime/runtime/xds-client/client.js';
import {
  SIDECAR_TYPES,
  startCaIdentity,
  startSidecarStream,
} from '../../../src/proxy-runtime/runtime/xds-client/sidecar-stream.js';
import { Proxy } from '../../../src/proxy-runtime/proxy.js';
import { ProxyLog } from '../../../src/proxy-runtime/ground/log.js';

/** The port every test service is called on (`http://reviews:9080`), as in the seed's bookinfo. */
export const SERVICE_PORT = 9080;

export { freePort } from '../../support/ports.js';
import { freePort } from '../../support/ports.js';

/** What an app saw of one request. */
export interface AppRequest {
  readonly method: string;
  readonly url: string;
  readonly host: string;
  readonly headers: IncomingMessage['headers'];
}

/**
 * How an app answers: `seen` counts the requests it received before this one (so "fail twice,
 * then succeed" is `seen < 2 ? 503 : 200`).
 */
export type AppHandler = (req: IncomingMessage, res: ServerResponse, seen: number) => void;

/** One running workload. */
export interface Sidecar {
  readonly name: string;
  readonly proxy: Proxy;
  readonly client: XdsClient;
  readonly identity: CaIdentitySource;
  readonly outboundPort: number;
  /** The sidecar's inbound (mTLS) port, for workloads serving a service. */
  readonly proxyPort?: number;
  readonly app?: Server | NetServer;
  /** Every request the app received, in order. */
  readonly received: AppRequest[];
  /** The sidecar's access log, one parsed JSON line per request. */
  readonly accessLog: AccessLogEntry[];
}

/** Options of {@link LocalMeshForTest.run}. */
export interface RunOptions {
  /** The service it serves (`meshctl run --service`), on {@link SERVICE_PORT}. */
  service?: string;
  /** More services it serves (an SMI TrafficSplit's per-version backends). */
  alsoServes?: string[];
  serviceAccount?: string;
  /** The app; default: answers `<name> <version>`. */
  handler?: AppHandler;
  outboundPort?: number;
  /** The sidecar's inbound port; default: chosen free. */
  proxyPort?: number;
  /** Pod-style annotations (`meshctl run --annotations`). */
  annotations?: Record<string, string>;
  /** The port of an app the test started itself (no HTTP app is started; `received` stays empty). */
  appPort?: number;
  /** A non-HTTP app (a TCP or TLS server, not yet listening) instead of the HTTP one; started on a free port. */
  server?: () => NetServer;
  /** `meshctl run --outbound SVC:PORT=LOCALPORT`: listeners of its sidecar on 127.0.0.1 for clients that ignore HTTP_PROXY. */
  outboundPorts?: { service: string; port: number; localPort: number }[];
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

/** An access log stream that keeps parsed entries. */
function accessLogInto(entries: AccessLogEntry[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n'))
        if (line.trim()) entries.push(JSON.parse(line) as AccessLogEntry);
      done();
    },
  });
}

/** A control plane and its workloads. */
export class LocalMeshForTest {
  readonly sidecars: Sidecar[] = [];
  readonly proxyLogs: string[] = [];

  private constructor(
    readonly home: string,
    readonly cp: RunningControlPlane,
    readonly platform: LocalPlatform,
    /** DNS servers of the sidecars' own resolution (ServiceEntry DNS), `ip:port`. */
    readonly dnsServers?: readonly string[],
  ) {}

  static async start(
    opts: {
      certTtlSeconds?: number;
      jwks?: JwksFetchOptions;
      log?: (line: string) => void;
      /** Linkerd's install-wide default inbound policy (`--set proxy.defaultInboundPolicy=...`). */
      defaultInboundPolicy?: string;
      dnsServers?: readonly string[];
    } = {},
  ): Promise<LocalMeshForTest> {
    const home = await mkdtemp(join(tmpdir(), 'meshctl-mesh-'));
    const cp = await startControlPlane({
      home,
      streamPort: 0,
      debugPort: 0,
      version: 'test',
      log: opts.log ?? (() => undefined),
      ...(opts.certTtlSeconds ? { certTtlSeconds: opts.certTtlSeconds } : {}),
      ...(opts.jwks ? { jwks: opts.jwks } : {}),
      ...(opts.defaultInboundPolicy ? { defaultInboundPolicy: opts.defaultInboundPolicy } : {}),
    });
    return new LocalMeshForTest(home, cp, new LocalPlatform(home), opts.dnsServers);
  }

  /** Registers a workload and starts its app (when it serves a service) and its sidecar. */
  async run(name: string, labels: Record<string, string>, opts: RunOptions = {}): Promise<Sidecar> {
    let app: Server | NetServer | undefined;
    let appPort = await freePort();
    const received: AppRequest[] = [];
    const services = [...(opts.service ? [opts.service] : []), ...(opts.alsoServes ?? [])];
    if (services.length > 0 && opts.appPort !== undefined) appPort = opts.appPort;
    else if (services.length > 0 && opts.server) {
      const server = opts.server();
      app = server;
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      appPort = (server.address() as AddressInfo).port;
    } else if (services.length > 0) {
      const handler: AppHandler = opts.handler ?? ((_req, res) => res.end(`${name} ${labels.version ?? ''}`));
      app = createServer((req, res) => {
        const seen = received.length;
        received.push({
          method: req.method ?? '',
          url: req.url ?? '',
          host: req.headers.host ?? '',
          headers: req.headers,
        });
        handler(req, res, seen);
      });
      await new Promise<void>((r) => app!.listen(0, '127.0.0.1', r));
      appPort = (app.address() as AddressInfo).port;
    }
    const proxyPort = services.length > 0 ? (opts.proxyPort ?? (await freePort())) : undefined;
    const outboundPort = opts.outboundPort ?? (await freePort());
    const telemetryPort = await freePort();
    const sa = opts.serviceAccount ?? labels.app ?? name;
    const reg = await this.platform.registerWorkload({
      name,
      namespace: 'default',
      serviceAccount: sa,
      labels,
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
      address: '127.0.0.1',
      ports: [appPort],
      ...(proxyPort !== undefined ? { services, servicePort: SERVICE_PORT, proxyPort } : {}),
      outboundPort,
      telemetryPort,
      ...(opts.outboundPorts ? { outboundPorts: opts.outboundPorts } : {}),
    } as Parameters<LocalPlatform['registerWorkload']>[0]);
    const identity = await startCaIdentity({
      address: reg.streamAddress,
      trustRoots: reg.trustRoots,
      token: () => reg.token,
      trustFile: join(this.home, 'ca-root.pem'),
    });
    const accessLog: AccessLogEntry[] = [];
    const proxy = await Proxy.start(
      { apiVersion: PROXY_CONFIG_API_VERSION, listeners: [] },
      {
        identitySource: identity,
        adminPort: 0,
        telemetryPort,
        accessLog: accessLogInto(accessLog),
        log: new ProxyLog('error', (l) => this.proxyLogs.push(l)),
        ...(this.dnsServers ? { dnsServers: this.dnsServers } : {}),
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
    const s: Sidecar = {
      name,
      proxy,
      client,
      identity,
      outboundPort,
      received,
      accessLog,
      ...(proxyPort !== undefined ? { proxyPort } : {}),
      ...(app ? { app } : {}),
    };
    this.sidecars.push(s);
    return s;
  }

  /**
   * Registers a gateway as `meshctl gateway run` does (router mode: no app) and starts its proxy;
   * `ports` maps Gateway server ports to the local ports it serves them on.
   */
  async gateway(name: string, labels: Record<string, string>, ports: Record<number, number>): Promise<Sidecar> {
    const reg = await this.platform.registerWorkload({
      name,
      namespace: 'default',
      serviceAccount: name,
      labels,
      address: '127.0.0.1',
      ports: [],
      gateway: { address: '127.0.0.1', ports },
    });
    const identity = await startCaIdentity({
      address: reg.streamAddress,
      trustRoots: reg.trustRoots,
      token: () => reg.token,
    });
    const accessLog: AccessLogEntry[] = [];
    const proxy = await Proxy.start(
      { apiVersion: PROXY_CONFIG_API_VERSION, listeners: [] },
      {
        identitySource: identity,
        adminPort: 0,
        telemetryPort: 0,
        accessLog: accessLogInto(accessLog),
        log: new ProxyLog('error', (l) => this.proxyLogs.push(l)),
        ...(this.dnsServers ? { dnsServers: this.dnsServers } : {}),
      },
    );
    const node = {
      id: `${name}.default`,
      workload: name,
      namespace: 'default',
      serviceAccount: name,
      labels,
      proxyVersion: 'test',
    };
    const { client } = await startSidecarStream({ address: reg.streamAddress, proxy, identity, node });
    const s: Sidecar = { name, proxy, client, identity, outboundPort: 0, received: [], accessLog };
    this.sidecars.push(s);
    return s;
  }

  /** Every sidecar ACKed everything sent, and `changed` at the current snapshot's version. */
  synced(changed: string = TypeUrl.routes, only?: (workload: string) => boolean): boolean {
    const views = this.cp.server.ads.views().filter((v) => !only || only(v.proxy.workload));
    const expected = only ? this.sidecars.filter((s) => only(s.name)).length : this.sidecars.length;
    return (
      views.length === expected &&
      views.every(
        (v) =>
          SIDECAR_TYPES.every((t) => v.types[t]?.status === 'SYNCED') &&
          v.types[changed]?.ackedVersion === this.cp.pipeline.version,
      )
    );
  }

  /** Every sidecar connected and ACKed everything it was sent (whatever changed). */
  allSynced(): boolean {
    const views = this.cp.server.ads.views();
    return (
      views.length === this.sidecars.length &&
      views.every((v) => SIDECAR_TYPES.every((t) => v.types[t]?.status === 'SYNCED'))
    );
  }

  async apply(...docs: string[]): Promise<void> {
    await this.platform.applyConfig(
      docs.map((text, i) => ({ file: `doc-${i}.yaml`, text })),
      { defaultNamespace: 'default' },
    );
  }

  /**
   * Applies YAML and waits until the control plane pushed a new snapshot and every sidecar ACKed
   * what it was sent: requests sent afterwards (on new connections) see the new config.
   */
  async applyAndSync(...docs: string[]): Promise<void> {
    const before = this.cp.pipeline.version;
    await this.apply(...docs);
    await eventually(
      'a push after the apply, ACKed by every sidecar',
      () => this.cp.pipeline.version !== before && this.allSynced(),
      60_000,
      () => this.notSynced(),
    );
  }

  /** Which sidecars are not synced and why (a NACK's error, or what is still pending), for a timeout's message. */
  notSynced(): string {
    const views = this.cp.server.ads.views();
    const connected = new Set(views.map((v) => v.proxy.workload));
    const lines = this.sidecars.filter((s) => !connected.has(s.name)).map((s) => `${s.name}: not connected`);
    for (const v of views)
      for (const t of SIDECAR_TYPES) {
        const state = v.types[t];
        if (state?.status !== 'SYNCED')
          lines.push(`${v.proxy.workload} ${t}: ${state ? JSON.stringify(state) : 'never sent'}`);
      }
    return `snapshot version ${this.cp.pipeline.version}; ${lines.length ? lines.join('\n') : 'all synced'}`;
  }

  /** Waits until the pushed snapshot holds every started workload and every sidecar ACKed it (after starting workloads). */
  async settle(): Promise<void> {
    await eventually(
      'every workload in the snapshot and every sidecar synced',
      () => {
        const inSnapshot = new Set(this.cp.pipeline.snapshot.workloads.map((w) => w.name));
        return this.sidecars.every((s) => inSnapshot.has(s.name)) && this.allSynced();
      },
      60_000,
      () => this.notSynced(),
    );
  }

  async stop(): Promise<void> {
    // In parallel: a sidecar still counting a request in flight waits out its drain period on close.
    await Promise.all(
      this.sidecars.map(async (s) => {
        s.client.close();
        await s.proxy.close();
        s.identity.close();
        if (s.app && 'closeAllConnections' in s.app) s.app.closeAllConnections();
        s.app?.close();
      }),
    );
    await this.cp.stop();
    await rm(this.home, { recursive: true, force: true });
  }
}

/** Polls `fn` until it returns something truthy; throws naming `what` after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  /** what the timeout's message adds about the state it gave up in */
  explain?: () => string,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${explain ? `: ${explain()}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** An answer as the client app sees it. */
export interface Answer {
  status: number;
  body: string;
  headers: IncomingMessage['headers'];
}

/**
 * A request from a client app through its sidecar's HTTP_PROXY listener, as curl with HTTP_PROXY
 * sends it: one connection per request (the proxy binds a connection's route table when it is
 * accepted, so a kept-alive client connection keeps the routes it started with).
 */
export function send(
  sidecar: Sidecar,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        host: '127.0.0.1',
        port: sidecar.outboundPort,
        method: opts.method ?? 'GET',
        path: url,
        headers: { host: u.host, ...opts.headers },
        agent: false,
        timeout: opts.timeoutMs ?? 15_000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${opts.timeoutMs ?? 15_000} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** {@link send} without headers, for the existing callers. */
export function viaProxy(sidecar: Sidecar, url: string): Promise<{ status: number; body: string }> {
  return send(sidecar, url);
}

/** Sends `n` requests (on `concurrency` connections at a time) and counts answers by body (or status when not 200). */
export async function versionsSeen(
  client: Sidecar,
  n: number,
  url = `http://reviews:${SERVICE_PORT}/`,
  headers?: Record<string, string>,
  concurrency = 4,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      const r = await send(client, url, headers ? { headers } : {}).catch((e: Error) => ({
        status: 0,
        body: e.message,
      }));
      const key = r.status === 200 ? r.body : `status ${r.status}: ${r.body.slice(0, 80)}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return counts;
}

/**
 * Sends requests back to back on `concurrency` connections until `stop()`; resolves with the tally.
 * A request counts as ok when it is answered 200 by a body starting with `okPrefix`.
 */
export function steadyLoad(
  client: Sidecar,
  concurrency = 4,
  url = `http://reviews:${SERVICE_PORT}/`,
  okPrefix = 'reviews-',
): { stop(): Promise<{ ok: number; failed: string[]; bodies: Record<string, number> }> } {
  let running = true;
  const failed: string[] = [];
  const bodies: Record<string, number> = {};
  let ok = 0;
  const loop = async (): Promise<void> => {
    while (running) {
      const r = await send(client, url).catch((e: Error) => ({ status: 0, body: e.message }));
      if (r.status === 200 && r.body.startsWith(okPrefix)) {
        ok++;
        bodies[r.body] = (bodies[r.body] ?? 0) + 1;
      } else failed.push(`${r.status} ${r.body.slice(0, 100)}`);
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { ok, failed, bodies };
    },
  };
}
