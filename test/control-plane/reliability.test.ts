/**
 * The reliability promises under steady load through real sidecars: shifting weights every
 * second, and rotating 5-second certificates, lose no request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../protocol/harness.js';
import { LocalMeshForTest, reviewsDestinationRule, reviewsSplit, steadyLoad, type Sidecar } from './local-mesh.js';

let mesh: LocalMeshForTest;
let product: Sidecar;

beforeAll(async () => {
  // 5-second workload certificates: every sidecar renews about every 2.5 s.
  mesh = await LocalMeshForTest.start({ certTtlSeconds: 5 });
  await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews' });
  await mesh.run('reviews-v2', { app: 'reviews', version: 'v2' }, { service: 'reviews' });
  product = await mesh.run('productpage', { app: 'productpage', version: 'v1' });
  await mesh.apply(reviewsDestinationRule, reviewsSplit(90, 10));
  await eventually(
    'the first split synced',
    () => mesh.cp.pipeline.snapshot.configs('VirtualService').length === 1 && mesh.synced(),
  );
});
afterAll(async () => {
  await mesh.stop();
});

describe('reliability under load', () => {
  it('loses no request while weights shift every second and 5 s certificates rotate', async () => {
    const renewalsBefore = mesh.sidecars.map((s) => s.identity.status().renewals);
    const load = steadyLoad(product);
    for (const [v1, v2] of [
      [50, 50],
      [10, 90],
      [0, 100],
      [100, 0],
      [90, 10],
      [50, 50],
    ] as const) {
      await new Promise((r) => setTimeout(r, 1000));
      await mesh.apply(reviewsSplit(v1, v2));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const { ok, failed } = await load.stop();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    // Every sidecar renewed its certificate at least twice during the run.
    mesh.sidecars.forEach((s, i) =>
      expect(s.identity.status().renewals - renewalsBefore[i]!).toBeGreaterThanOrEqual(2),
    );
    expect(mesh.synced()).toBe(true);
  });
});
