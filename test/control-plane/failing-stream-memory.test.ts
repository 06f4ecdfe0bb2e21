/**
 * A failing stream does not grow the control plane's memory: a sidecar that refuses (NACKs) the
 * config it is sent and reconnects, again and again, with a route table of about 0.9 MB in every
 * response. Memory (heap + array buffers, after a full GC) is measured after a warm-up and after
 * many more cycles; a leak of one response per cycle would add about 36 MB, the bound is 16 MB.
 * The stream's own records are counted too: after each disconnect the control plane holds no view
 * of the looping proxy. The control plane runs in this process (so a full GC can be asked for);
 * the loop's client side is created per cycle and dropped, so its leaks would count as well.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TypeUrl } from '../../src/protocol/stream/messages.js';
import { startSidecarStream } from '../../src/proxy-runtime/runtime/xds-client/sidecar-stream.js';
import { LocalMeshForTest, eventually, type Sidecar } from '../e2e/support/local-mesh.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const WARM_UP = 10;
const CYCLES = 40;
const BOUND_BYTES = 16 * 1024 * 1024;

/**
 * A VirtualService of about 0.9 MB (under the 1 MiB object limit): 1,500 routes on header matches,
 * different at each `edition` so every cycle sends newly encoded routes (a leaked response is not
 * one shared with the other proxies).
 */
function largeVirtualService(edition: number): string {
  const routes = Array.from(
    { length: 1500 },
    (_, i) =>
      `  - match: [{headers: {x-tenant: {exact: "tenant-${String(i).padStart(5, '0')}-${edition}-${'t'.repeat(420)}"}}}]\n` +
      `    route: [{destination: {host: reviews}}]\n`,
  ).join('');
  return `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews-tenants}\nspec:\n  hosts: [reviews]\n  http:\n${routes}`;
}

let mesh: LocalMeshForTest;
let looper: Sidecar;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews' });
  looper = await mesh.run('looper', { app: 'looper', version: 'v1' });
  await mesh.settle();
  await mesh.apply(
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external-api}
spec:
  hosts: [api.external.com]
  ports: [{number: 443, name: https, protocol: HTTP}]
  location: MESH_EXTERNAL
  resolution: DNS
  endpoints: [{address: localhost}]
`,
    // Refused by every sidecar: the CA file is not on their filesystem (see test/e2e/nack-source.test.ts).
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: external-api}
spec:
  host: api.external.com
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: /etc/meshctl-test/no-such-ca.pem}
`,
    largeVirtualService(0),
  );
  await eventually('the looping sidecar refusing its clusters', () => viewOfLooper()?.status === 'NACKED', 60_000);
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
});

function viewOfLooper() {
  return mesh.cp.server.ads.views().find((v) => v.proxy.workload === 'looper')?.types[TypeUrl.clusters];
}

function retained(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('a stream that NACKs and reconnects in a loop', () => {
  it('does not grow the control plane', async () => {
    const node = {
      id: 'looper.default',
      workload: 'looper',
      namespace: 'default',
      serviceAccount: 'looper',
      labels: { app: 'looper', version: 'v1' },
      proxyVersion: 'test',
    };
    let current = looper.client;
    let baseline = 0;
    for (let cycle = 1; cycle <= WARM_UP + CYCLES; cycle++) {
      current.close();
      await eventually(`cycle ${cycle}: the control plane dropped the stream`, () => !viewOfLooper(), 30_000);
      const before = mesh.cp.pipeline.version;
      await mesh.apply(largeVirtualService(cycle));
      await eventually(`cycle ${cycle}: the changed routes pushed`, () => mesh.cp.pipeline.version !== before, 30_000);
      const version = mesh.cp.pipeline.version;
      const { client } = await startSidecarStream({
        address: mesh.cp.state.streamAddress,
        proxy: looper.proxy,
        identity: looper.identity,
        node,
      });
      current = client;
      await eventually(
        `cycle ${cycle}: the config sent (routes included) and refused`,
        () => {
          const v = mesh.cp.server.ads.views().find((x) => x.proxy.workload === 'looper');
          // The sidecar composes one config of every type: all of it is refused, and every type answered.
          return (
            v?.types[TypeUrl.clusters]?.status === 'NACKED' &&
            v.types[TypeUrl.routes]?.status === 'NACKED' &&
            v.types[TypeUrl.routes]?.sentVersion === version &&
            Object.values(v.types).every((t) => t.status !== 'STALE')
          );
        },
        30_000,
      );
      if (cycle === WARM_UP) baseline = retained();
    }
    const grown = retained() - baseline;
    current.close();
    await eventually('the last stream dropped', () => !viewOfLooper(), 30_000);
    // One view per connected sidecar: nothing kept from the closed streams.
    expect(
      mesh.cp.server.ads
        .views()
        .map((v) => v.proxy.workload)
        .sort(),
    ).toEqual(['reviews-v1']);
    console.log('GROWN', grown, 'BASE', baseline);
    expect(grown).toBeLessThan(BOUND_BYTES);
  }, 600_000);
});
