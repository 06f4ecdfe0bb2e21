/**
 * The whole local mesh on loopback: traffic shifts between versions follow `meshctl apply` of the
 * seed's VirtualService/DestinationRule YAML, PeerAuthentication STRICT is enforced, proxies keep
 * serving without the control plane.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { TypeUrl } from '../../src/protocol/stream/messages.js';
import { eventually } from '../protocol/harness.js';
import { LocalMeshForTest, reviewsDestinationRule, reviewsSplit, versionsSeen, type Sidecar } from './local-mesh.js';

let mesh: LocalMeshForTest;
let product: Sidecar;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
});
afterAll(async () => {
  await mesh.stop();
});

describe('local mesh end to end', () => {
  it('routes by the applied VirtualService over mTLS between sidecars, and follows each change', async () => {
    await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews' });
    await mesh.run('reviews-v2', { app: 'reviews', version: 'v2' }, { service: 'reviews' });
    product = await mesh.run('productpage', { app: 'productpage', version: 'v1' });
    const vsWeights = () => JSON.stringify(mesh.cp.pipeline.snapshot.configs('VirtualService')[0]?.spec ?? null);
    await mesh.apply(reviewsDestinationRule, reviewsSplit(100, 0));
    await eventually(
      'every sidecar synced to the config with the VirtualService',
      () => vsWeights().includes('"weight":100},') && mesh.synced(),
    );
    expect(await versionsSeen(product, 10)).toEqual({ 'reviews-v1 v1': 10 });

    await mesh.apply(reviewsSplit(0, 100));
    await eventually('the 0/100 split synced', () => vsWeights().includes('"weight":100}]') && mesh.synced());
    expect(await versionsSeen(product, 10)).toEqual({ 'reviews-v2 v2': 10 });

    await mesh.apply(reviewsSplit(50, 50));
    await eventually('the 50/50 split synced', () => vsWeights().includes('"weight":50') && mesh.synced());
    const mixed = await versionsSeen(product, 40);
    expect(Object.keys(mixed).sort()).toEqual(['reviews-v1 v1', 'reviews-v2 v2']);

    // Each sidecar holds its own workload identity on the config stream.
    const syncz = (await (await fetch(`${mesh.cp.state.apiUrl}/debug/syncz`)).json()) as {
      proxies: { spiffeId: string }[];
    };
    expect(syncz.proxies.map((p) => p.spiffeId).sort()).toEqual([
      'spiffe://cluster.local/ns/default/sa/productpage',
      'spiffe://cluster.local/ns/default/sa/reviews',
      'spiffe://cluster.local/ns/default/sa/reviews',
    ]);
  });

  it('enforces PeerAuthentication STRICT: sidecar-to-sidecar mTLS still works, plaintext to the workload is refused', async () => {
    const strict =
      'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default}\nspec:\n  mtls: {mode: STRICT}\n';
    await mesh.apply(strict);
    await eventually(
      'STRICT listeners synced',
      () =>
        mesh.cp.pipeline.snapshot.configs('PeerAuthentication').length === 1 &&
        mesh.synced(TypeUrl.listeners, (w) => w.startsWith('reviews-')),
    );
    const seen = await versionsSeen(product, 10);
    expect(Object.keys(seen).every((k) => k.startsWith('reviews-'))).toBe(true);

    // A client without a mesh certificate, straight to reviews-v1's sidecar: no HTTP answer.
    const v1 = (await mesh.platform.listWorkloads()).find((w) => w.name === 'reviews-v1')!;
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

  it('shows a config the proxy cannot apply as NACKED with its reason, while the proxy keeps serving', async () => {
    // A workload whose HTTP_PROXY port is taken by something else: its proxy cannot bind the listener.
    const { createServer } = await import('node:net');
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const taken = (squatter.address() as import('node:net').AddressInfo).port;
    try {
      await mesh.run('ratings', { app: 'ratings', version: 'v1' }, { outboundPort: taken });
      await eventually(
        'the NACK',
        () =>
          mesh.cp.server.ads.views().find((v) => v.proxy.workload === 'ratings')?.types[TypeUrl.listeners]?.status ===
          'NACKED',
      );
      const view = mesh.cp.server.ads.views().find((v) => v.proxy.workload === 'ratings')!;
      expect(view.types[TypeUrl.listeners]!.lastNack!.message).toContain(
        `cannot listen on 127.0.0.1:${taken}: EADDRINUSE`,
      );
      // The other proxies are unaffected.
      expect(Object.keys(await versionsSeen(product, 5)).every((k) => k.startsWith('reviews-'))).toBe(true);
    } finally {
      squatter.close();
    }
  });

  it('keeps serving the last config while the control plane is down', async () => {
    await mesh.cp.server.close();
    await eventually('the sidecar noticed', () => !product.client.connected);
    const seen = await versionsSeen(product, 20);
    expect(Object.keys(seen).every((k) => k.startsWith('reviews-'))).toBe(true);
  });
});
