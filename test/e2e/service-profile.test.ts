/**
 * Linkerd ServiceProfile features on real traffic: dstOverrides split a service's requests by
 * weight between other services (counted where they land), and per-route metrics, the `route`
 * label (Linkerd's `rt_route`) on the client sidecar's istio_requests_total, read through a real
 * scrape of its telemetry port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalMeshForTest, SERVICE_PORT, send, versionsSeen, type Sidecar } from './support/local-mesh.js';

let mesh: LocalMeshForTest;
let client: Sidecar;
let v1: Sidecar;
let v2: Sidecar;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  v1 = await mesh.run('books-v1', { app: 'books', version: 'v1' }, { service: 'books', alsoServes: ['books-v1'] });
  v2 = await mesh.run('books-v2', { app: 'books', version: 'v2' }, { service: 'books', alsoServes: ['books-v2'] });
  client = await mesh.run('shelf', { app: 'shelf', version: 'v1' });
  await mesh.settle();
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
});

const url = (path: string): string => `http://books:${SERVICE_PORT}${path}`;

const profile = (w1: string, w2: string): string => `apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata:
  name: books.default.svc.cluster.local
  namespace: default
spec:
  routes:
  - name: GET /books/{id}
    condition:
      method: GET
      pathRegex: /books/[^/]*
  - name: POST /books
    condition:
      method: POST
      pathRegex: /books
  dstOverrides:
  - authority: books-v1.default.svc.cluster.local:${SERVICE_PORT}
    weight: ${w1}
  - authority: books-v2.default.svc.cluster.local:${SERVICE_PORT}
    weight: ${w2}
`;

/** The client sidecar's istio_requests_total samples (reporter=source) for `books`, summed by route. */
async function requestsByRoute(): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${client.proxy.telemetryPort}/stats/prometheus`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('istio_requests_total{') || !line.includes('reporter="source"')) continue;
    if (!/destination_service_name="books-v[12]"/.test(line)) continue;
    const route = /[{,]route="([^"]*)"/.exec(line)?.[1] ?? '(no route label)';
    out[route] = (out[route] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

describe('ServiceProfile on real traffic', () => {
  it('dstOverrides 900m/100m split requests between books-v1 and books-v2, then 0/1 sends all to v2', async () => {
    await mesh.applyAndSync(profile('900m', '100m'));
    const before = { v1: v1.received.length, v2: v2.received.length };
    const seen = await versionsSeen(client, 200, url('/books/7'));
    expect(Object.keys(seen).sort()).toEqual(['books-v1 v1', 'books-v2 v2']);
    // 200 draws at p = 0.1: mean 20, sd 4.2. [3, 50] is more than 4 sd away on both sides.
    expect(seen['books-v2 v2']).toBeGreaterThanOrEqual(3);
    expect(seen['books-v2 v2']).toBeLessThanOrEqual(50);
    // What the apps received agrees with what the client saw, request for request.
    expect(v1.received.length - before.v1).toBe(seen['books-v1 v1']);
    expect(v2.received.length - before.v2).toBe(seen['books-v2 v2']);
    // The authority the backend sees is the one the client asked for, as with a TrafficSplit.
    expect(new Set(v2.received.slice(before.v2).map((r) => r.host))).toEqual(new Set([`books:${SERVICE_PORT}`]));

    await mesh.applyAndSync(profile('0', '1'));
    expect(await versionsSeen(client, 20, url('/books/7'))).toEqual({ 'books-v2 v2': 20 });
  });

  it("counts each request under its ServiceProfile route's name (route label) in a scrape of the client sidecar", async () => {
    await mesh.applyAndSync(profile('1', '1'));
    const before = await requestsByRoute();
    for (let i = 0; i < 6; i++) expect((await send(client, url(`/books/${i}`))).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await send(client, url('/books'), { method: 'POST' })).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await send(client, url('/authors'))).status).toBe(200);
    const after = await requestsByRoute();
    const delta = Object.fromEntries(
      Object.entries(after)
        .map(([route, n]) => [route, n - (before[route] ?? 0)] as const)
        .filter(([, n]) => n > 0),
    );
    expect(delta).toEqual({ 'GET /books/{id}': 6, 'POST /books': 4, default: 3 });
  });
});
