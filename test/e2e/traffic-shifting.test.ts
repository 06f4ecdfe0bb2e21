/**
 * The seed's traffic-shifting patterns end to end: the YAML as users write it, applied to a real
 * control plane, pushed to real sidecars (CA identities, mTLS between them), observed by a client
 * app through its sidecar and by the apps that answer. Canary (90/10 from the seed, with a header
 * override), blue-green, A/B testing by a header regex, dark traffic (mirroring) and SMI TrafficSplit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalMeshForTest, SERVICE_PORT, send, steadyLoad, versionsSeen, type Sidecar } from './support/local-mesh.js';

let mesh: LocalMeshForTest;
let client: Sidecar;
let blue: Sidecar;
let green: Sidecar;
let shadowV2: Sidecar;

const productDestinationRule = `apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: product-service
spec:
  host: product-service
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  await mesh.run(
    'product-service-v1',
    { app: 'product-service', version: 'v1' },
    { service: 'product-service', alsoServes: ['product-service-v1'] },
  );
  await mesh.run(
    'product-service-v2',
    { app: 'product-service', version: 'v2' },
    { service: 'product-service', alsoServes: ['product-service-v2'] },
  );
  blue = await mesh.run('checkout-blue', { app: 'checkout', version: 'blue' }, { service: 'checkout' });
  green = await mesh.run('checkout-green', { app: 'checkout', version: 'green' }, { service: 'checkout' });
  await mesh.run('search-v1', { app: 'search', version: 'v1' }, { service: 'search' });
  // The dark-traffic target fails every request: mirroring must not let that reach the client.
  shadowV2 = await mesh.run(
    'search-v2',
    { app: 'search', version: 'v2' },
    {
      service: 'search',
      handler: (_req, res) => {
        res.statusCode = 500;
        res.end('search-v2 broken');
      },
    },
  );
  client = await mesh.run('frontend', { app: 'frontend', version: 'v1' });
  await mesh.settle();
});
afterAll(async () => {
  await mesh?.stop();
});

const product = `http://product-service:${SERVICE_PORT}/products`;

describe('traffic shifting through real sidecars', () => {
  it('canary (seed: premium users to v2, everyone else 90/10): the header rule wins, the split stays within wide bounds', async () => {
    await mesh.applyAndSync(
      productDestinationRule,
      `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: product-service
spec:
  hosts:
  - product-service
  http:
  - match:
    - headers:
        user-type:
          exact: premium
    route:
    - destination:
        host: product-service
        subset: v2
      weight: 100
  - route:
    - destination:
        host: product-service
        subset: v1
      weight: 90
    - destination:
        host: product-service
        subset: v2
      weight: 10  # Canary deployment
`,
    );
    expect(await versionsSeen(client, 20, product, { 'user-type': 'premium' })).toEqual({
      'product-service-v2 v2': 20,
    });
    // 200 draws at p = 0.1: mean 20, sd 4.2. [3, 50] is more than 4 sd away on both sides.
    const split = await versionsSeen(client, 200, product);
    expect(Object.keys(split).sort()).toEqual(['product-service-v1 v1', 'product-service-v2 v2']);
    expect(split['product-service-v2 v2']).toBeGreaterThanOrEqual(3);
    expect(split['product-service-v2 v2']).toBeLessThanOrEqual(50);
  });

  it('blue-green: 100% blue, then 100% green under steady load, with zero failed requests during the switch', async () => {
    const vs = (blueWeight: number, greenWeight: number): string => `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: checkout
spec:
  hosts:
  - checkout
  http:
  - route:
    - destination:
        host: checkout
        subset: blue
      weight: ${blueWeight}  # Blue
    - destination:
        host: checkout
        subset: green
      weight: ${greenWeight}  # Green
`;
    const dr = `apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: checkout
spec:
  host: checkout
  subsets:
  - name: blue
    labels: {version: blue}
  - name: green
    labels: {version: green}
`;
    await mesh.applyAndSync(dr, vs(100, 0));
    expect(await versionsSeen(client, 10, `http://checkout:${SERVICE_PORT}/`)).toEqual({ 'checkout-blue blue': 10 });

    const blueBefore = blue.received.length;
    const greenBefore = green.received.length;
    const load = steadyLoad(client, 4, `http://checkout:${SERVICE_PORT}/`, 'checkout-');
    await new Promise((r) => setTimeout(r, 300));
    await mesh.applyAndSync(vs(0, 100));
    // Every connection opened from now on routes with the green config.
    const greenAtSwitch = green.received.length;
    await new Promise((r) => setTimeout(r, 300));
    const { ok, failed, bodies } = await load.stop();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(20);
    expect(Object.keys(bodies).sort()).toEqual(['checkout-blue blue', 'checkout-green green']);
    expect(blue.received.length).toBeGreaterThan(blueBefore);
    expect(green.received.length).toBeGreaterThan(greenAtSwitch);
    expect(greenAtSwitch).toBeGreaterThanOrEqual(greenBefore);

    // After the switch, all of it goes to green.
    expect(await versionsSeen(client, 10, `http://checkout:${SERVICE_PORT}/`)).toEqual({ 'checkout-green green': 10 });
  });

  it('A/B testing: user-id ending 0-4 goes to v1, 5-9 to v2 (seed regexes), no user-id matches no route (404 NR)', async () => {
    await mesh.applyAndSync(`apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: product-service
spec:
  hosts:
  - product-service
  http:
  - match:
    - headers:
        user-id:
          regex: ".*[0-4]$"  # Users ending in 0-4
    route:
    - destination:
        host: product-service
        subset: v1
  - match:
    - headers:
        user-id:
          regex: ".*[5-9]$"  # Users ending in 5-9
    route:
    - destination:
        host: product-service
        subset: v2
`);
    for (const id of ['user-100', 'u41', '3', 'alice-1234', 'user-105', 'u49', '7', 'bob-5678']) {
      const r = await send(client, product, { headers: { 'user-id': id } });
      const last = Number(id.at(-1));
      expect({ id, status: r.status, body: r.body }).toEqual({
        id,
        status: 200,
        body: last <= 4 ? 'product-service-v1 v1' : 'product-service-v2 v2',
      });
    }
    // Neither regex matches (no trailing digit, or no header): no route, as Envoy answers.
    for (const headers of [{ 'user-id': 'anonymous' }, {}] as Record<string, string>[]) {
      const r = await send(client, product, { headers });
      expect(r.status).toBe(404);
    }
    await new Promise((r) => setTimeout(r, 50));
    const nr = client.accessLog.filter((e) => e.authority?.startsWith('product-service') && e.response_flags === 'NR');
    expect(nr.length).toBe(2);
  });

  it('dark traffic: 100% mirrored to v2, the client sees only v1 answers, v2 gets copies with Host -shadow, and v2 failing changes nothing for the client', async () => {
    await mesh.applyAndSync(
      `apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: search
spec:
  host: search
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`,
      `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: search
spec:
  hosts:
  - search
  http:
  - route:
    - destination:
        host: search
        subset: v1
      weight: 100
    mirror:
      host: search
      subset: v2
    mirrorPercentage:
      value: 100  # Mirror 100% of traffic
`,
    );
    const before = shadowV2.received.length;
    const seen = await versionsSeen(client, 20, `http://search:${SERVICE_PORT}/q?term=mesh`);
    expect(seen).toEqual({ 'search-v1 v1': 20 });
    // Copies are fire-and-forget: they arrive, but not necessarily before the answer.
    const copies = await eventuallyCount(() => shadowV2.received.length - before, 20);
    expect(copies).toBe(20);
    const shadowed = shadowV2.received.slice(before);
    expect(new Set(shadowed.map((r) => r.host))).toEqual(new Set([`search-shadow:${SERVICE_PORT}`]));
    expect(shadowed.every((r) => r.url === '/q?term=mesh')).toBe(true);
  });

  it('SMI TrafficSplit (seed: 90/10 between product-service-v1 and -v2 backends), then all to v2', async () => {
    // The header/regex VirtualService of the A/B test would win over a TrafficSplit: remove it first.
    await mesh.platform.deleteConfig([
      { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'default', name: 'product-service' },
    ]);
    const split = (v1: number, v2: number): string => `apiVersion: split.smi-spec.io/v1alpha1
kind: TrafficSplit
metadata:
  name: product-service-split
spec:
  service: product-service
  backends:
  - service: product-service-v1
    weight: ${v1}
  - service: product-service-v2
    weight: ${v2}
`;
    await mesh.applyAndSync(split(90, 10));
    const seen = await versionsSeen(client, 200, product);
    expect(Object.keys(seen).sort()).toEqual(['product-service-v1 v1', 'product-service-v2 v2']);
    expect(seen['product-service-v2 v2']).toBeGreaterThanOrEqual(3);
    expect(seen['product-service-v2 v2']).toBeLessThanOrEqual(50);

    await mesh.applyAndSync(split(0, 100));
    expect(await versionsSeen(client, 20, product)).toEqual({ 'product-service-v2 v2': 20 });
  });
});

/** Waits (bounded) until `count()` reaches `target`; returns the last count. */
async function eventuallyCount(count: () => number, target: number): Promise<number> {
  const end = Date.now() + 5000;
  while (count() < target && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return count();
}
