/**
 * The whole local mesh on loopback: a control plane, workloads registered as `meshctl run` does,
 * real sidecars (CA identity, config stream, composed configs), real apps. Traffic shifts between
 * versions follow `meshctl apply` of the seed's VirtualService/DestinationRule YAML.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { connect } from 'node:net';
import { eventually } from '../protocol/harness.js';

async function freePort(): Promise<number> {
  const s = netServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Sidecar { proxy: Proxy; client: XdsClient; identity: CaIdentitySource; outboundPort: number; app?: Server }

let cp: RunningControlPlane;
let platform: LocalPlatform;
const sidecars: Sidecar[] = [];
const proxyLogs: string[] = [];

/** Registers a workload and starts its app (answering its version) and its sidecar, as `meshctl run` would. */
async function runWorkload(name: string, labels: Record<string, string>, service?: string): Promise<Sidecar> {
  let app: Server | undefined;
  let appPort = await freePort();
  if (service) {
    app = createServer((_req, res) => res.end(`${name} ${labels.version ?? ''}`));
    await new Promise<void>((r) => app!.listen(0, '127.0.0.1', r));
    appPort = (app.address() as AddressInfo).port;
  }
  const [proxyPort, outboundPort] = [await freePort(), await freePort()];
  const reg = await platform.registerWorkload({ name, namespace: 'default', serviceAccount: labels.app ?? name, labels, address: '127.0.0.1', ports: [appPort], ...(service ? { services: [service], servicePort: 9080, proxyPort } : {}), outboundPort });
  const identity = await startCaIdentity({ address: reg.streamAddress, trustRoots: reg.trustRoots, token: () => reg.token });
  const proxy = await Proxy.start({ apiVersion: PROXY_CONFIG_API_VERSION, listeners: [] }, { identitySource: identity, adminPort: 0, telemetryPort: 0, accessLog: null, log: new ProxyLog('error', (l) => proxyLogs.push(l)) });
  const node = { id: `${name}.default`, workload: name, namespace: 'default', serviceAccount: labels.app ?? name, labels, proxyVersion: 'test' };
  const { client } = await startSidecarStream({ address: reg.streamAddress, proxy, identity, node });
  const s: Sidecar = { proxy, client, identity, outboundPort, ...(app ? { app } : {}) };
  sidecars.push(s);
  return s;
}

/**
 * A request from the client app through its sidecar's HTTP_PROXY listener, as curl with HTTP_PROXY
 * sends it: one connection per request (the proxy binds a connection's route table when it is
 * accepted, so a kept-alive client connection keeps the routes it started with).
 */
function viaProxy(sidecar: Sidecar, url: string): Promise<{ status: number; body: string }> {
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

async function versionsSeen(client: Sidecar, n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await viaProxy(client, 'http://reviews:9080/');
    const key = r.status === 200 ? r.body : `status ${r.status}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Every sidecar ACKed everything sent, and the routes of the current snapshot (what a VirtualService edit changes). */
function allSynced(): boolean {
  const views = cp.server.ads.views();
  return views.length === sidecars.length && views.every((v) => SIDECAR_TYPES.every((t) => v.types[t]?.status === 'SYNCED') && v.types[TypeUrl.routes]?.ackedVersion === cp.pipeline.version);
}

const destinationRule = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;
const split = (v1: number, v2: number) => `apiVersion: networking.istio.io/v1
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

beforeAll(async () => {
  const home = await mkdtemp(join(tmpdir(), 'meshctl-e2e-'));
  cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
  platform = new LocalPlatform(home);
});
afterAll(async () => {
  for (const s of sidecars) {
    s.client.close();
    await s.proxy.close();
    s.identity.close();
    s.app?.close();
  }
  await cp.stop();
});

describe('local mesh end to end', () => {
  it('routes by the applied VirtualService over mTLS between sidecars, and follows each change', async () => {
    await runWorkload('reviews-v1', { app: 'reviews', version: 'v1' }, 'reviews');
    await runWorkload('reviews-v2', { app: 'reviews', version: 'v2' }, 'reviews');
    const product = await runWorkload('productpage', { app: 'productpage', version: 'v1' });
    await platform.applyConfig([{ file: 'dr.yaml', text: destinationRule }, { file: 'vs.yaml', text: split(100, 0) }], { defaultNamespace: 'default' });
    await eventually('every sidecar synced to the config with the VirtualService', () => cp.pipeline.snapshot.configs('VirtualService').length === 1 && allSynced());
    expect(await versionsSeen(product, 10)).toEqual({ 'reviews-v1 v1': 10 });

    await platform.applyConfig([{ file: 'vs.yaml', text: split(0, 100) }], { defaultNamespace: 'default' });
    await eventually('the 0/100 split synced', () => allSynced() && JSON.stringify(cp.pipeline.snapshot.configs('VirtualService')[0]!.spec).includes('"weight":100}]'));
    expect(await versionsSeen(product, 10)).toEqual({ 'reviews-v2 v2': 10 });

    await platform.applyConfig([{ file: 'vs.yaml', text: split(50, 50) }], { defaultNamespace: 'default' });
    await eventually('the 50/50 split synced', () => allSynced() && JSON.stringify(cp.pipeline.snapshot.configs('VirtualService')[0]!.spec).includes('"weight":50'));
    const mixed = await versionsSeen(product, 40);
    expect(Object.keys(mixed).sort()).toEqual(['reviews-v1 v1', 'reviews-v2 v2']);

    // Each sidecar holds its own workload identity on the config stream.
    const syncz = (await (await fetch(`${cp.state.apiUrl}/debug/syncz`)).json()) as { proxies: { spiffeId: string }[] };
    expect(syncz.proxies.map((p) => p.spiffeId).sort()).toEqual(['spiffe://cluster.local/ns/default/sa/productpage', 'spiffe://cluster.local/ns/default/sa/reviews', 'spiffe://cluster.local/ns/default/sa/reviews']);
  });

  it('enforces PeerAuthentication STRICT: sidecar-to-sidecar mTLS still works, plaintext to the workload is refused', async () => {
    const product = sidecars[2]!;
    const strict = 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default}\nspec:\n  mtls: {mode: STRICT}\n';
    await platform.applyConfig([{ file: 'pa.yaml', text: strict }], { defaultNamespace: 'default' });
    await eventually('STRICT listeners synced', () =>
      cp.pipeline.snapshot.configs('PeerAuthentication').length === 1 &&
      cp.server.ads.views().filter((v) => v.proxy.workload.startsWith('reviews-')).every((v) => v.types[TypeUrl.listeners]?.status === 'SYNCED' && v.types[TypeUrl.listeners]?.ackedVersion === cp.pipeline.version));
    const seen = await versionsSeen(product, 10);
    expect(Object.keys(seen).every((k) => k.startsWith('reviews-'))).toBe(true);

    // A client without a mesh certificate, straight to reviews-v1's sidecar: no HTTP answer.
    const workloads = await platform.listWorkloads();
    const v1 = workloads.find((w) => w.name === 'reviews-v1')!;
    const answer = await new Promise<string>((resolve) => {
      const sock = connect(v1.proxyPort!, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nhost: reviews\r\n\r\n'));
      let data = '';
      sock.on('data', (d: Buffer) => (data += d));
      sock.on('close', () => resolve(data));
      sock.on('error', () => resolve(data));
    });
    expect(answer).not.toContain('reviews-v1');
    expect(answer).not.toMatch(/^HTTP\/1\.1 200/);
  });

  it('keeps serving the last config while the control plane is down', async () => {
    const product = sidecars[2]!;
    await cp.server.close();
    await eventually('the sidecar noticed', () => !product.client.connected);
    const mixed = await versionsSeen(product, 20);
    expect(Object.keys(mixed).every((k) => k.startsWith('reviews-'))).toBe(true);
  });
});
