/**
 * A config the proxies refuse names its source object: the NACK reason the control plane records
 * (what proxy-status, check and the control plane's log print) starts with `DestinationRule
 * reviews.default` and names the cluster, not only an index into the proxy's config.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalMeshForTest, eventually } from './support/local-mesh.js';
import { TypeUrl } from '../../src/protocol/stream/messages.js';

let mesh: LocalMeshForTest;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews' });
  await mesh.run('productpage', { app: 'productpage', version: 'v1' });
  await mesh.settle();
}, 60_000);
afterAll(async () => {
  await mesh.stop();
});

describe('NACK reasons', () => {
  it('name the DestinationRule behind a refused cluster', async () => {
    await mesh.apply(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: PASSTHROUGH}
`);
    const nack = await eventually(
      'a NACK from productpage',
      () => {
        const v = mesh.cp.server.ads.views().find((x) => x.proxy.workload === 'productpage');
        return v?.types[TypeUrl.clusters]?.status === 'NACKED'
          ? v.types[TypeUrl.clusters]!.lastNack!.message
          : undefined;
      },
      30_000,
    );
    expect(nack).toMatch(
      /^DestinationRule reviews\.default: .*clusters\[\d+\] \(cluster "outbound\|9080\|\|reviews\.default\.svc\.cluster\.local"\)/,
    );
  }, 60_000);
});
