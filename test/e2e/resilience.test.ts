/**
 * The seed's resilience patterns end to end, from the YAML users write to what the client app sees,
 * what the answering apps receive and the flags in the client sidecar's access log: timeouts,
 * retries, fault injection (Istio VirtualService), circuit breaking and outlier ejection (Istio
 * DestinationRule), and Linkerd's ServiceProfile (per-route timeout, retries under a budget).
 * Durations are the seed's scaled down (5s -> 300ms); assertions are on statuses, flags and counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerResponse } from 'node:http';
import { LocalMeshForTest, SERVICE_PORT, eventually, send, versionsSeen, type Sidecar } from './support/local-mesh.js';

let mesh: LocalMeshForTest;
let client: Sidecar;
let ratings: Sidecar;
let inventory: Sidecar;
let detailsGood: Sidecar;
let detailsBad: Sidecar;
let books: Sidecar;

/** Requests held by the inventory app until the test lets them go. */
const held: ServerResponse[] = [];

/** An app whose answer depends on the path: slow, failing twice per id, always failing, or fine. */
function pathApp(name: string) {
  const tries = new Map<string, number>();
  return (req: import('node:http').IncomingMessage, res: ServerResponse): void => {
    const path = req.url ?? '/';
    const n = (tries.get(path) ?? 0) + 1;
    tries.set(path, n);
    if (path.startsWith('/slow')) {
      const t = setTimeout(() => res.end(`${name} slow`), 2000);
      res.on('close', () => clearTimeout(t));
      return;
    }
    if ((path.startsWith('/flaky') && n <= 2) || path.startsWith('/broken')) {
      res.statusCode = 503;
      res.end(`${name} failure ${n}`);
      return;
    }
    res.end(`${name} ok after ${n}`);
  };
}

/** How many requests an app received on `path`. */
const hits = (s: Sidecar, path: string): number => s.received.filter((r) => r.url === path).length;

/** The client sidecar's access log entries for `path` (written after the answer: wait for them). */
async function logged(
  path: string,
  n = 1,
  service = 'ratings',
): Promise<{ response_code: number; response_flags: string; attempts?: number }[]> {
  return eventually(`${n} access log line(s) for ${service}${path}`, () => {
    const lines = client.accessLog.filter((e) => e.path === path && e.authority === `${service}:${SERVICE_PORT}`);
    return lines.length >= n ? lines : undefined;
  });
}

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  ratings = await mesh.run(
    'ratings-v1',
    { app: 'ratings', version: 'v1' },
    { service: 'ratings', handler: pathApp('ratings') },
  );
  inventory = await mesh.run(
    'inventory-v1',
    { app: 'inventory', version: 'v1' },
    { service: 'inventory', handler: (_req, res) => void held.push(res) },
  );
  detailsGood = await mesh.run('details-good', { app: 'details', version: 'v1' }, { service: 'details' });
  detailsBad = await mesh.run(
    'details-bad',
    { app: 'details', version: 'v1' },
    {
      service: 'details',
      handler: (_req, res) => {
        res.statusCode = 500;
        res.end('details-bad failing');
      },
    },
  );
  books = await mesh.run('books-v1', { app: 'books', version: 'v1' }, { service: 'books', handler: pathApp('books') });
  client = await mesh.run('productpage', { app: 'productpage', version: 'v1' });
  await mesh.settle();
  // The seed's timeout/retry/fault routes on one service, one path prefix each.
  await mesh.applyAndSync(`apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: ratings
spec:
  hosts:
  - ratings
  http:
  - match:
    - uri: {prefix: /slow}
    timeout: 300ms
    route:
    - destination:
        host: ratings
  - match:
    - uri: {prefix: /flaky}
    - uri: {prefix: /broken}
    timeout: 5s
    retries:
      attempts: 3
      perTryTimeout: 2s
      retryOn: 5xx,reset,connect-failure
    route:
    - destination:
        host: ratings
  - match:
    - uri: {prefix: /abort}
    fault:
      abort:
        percentage:
          value: 100
        httpStatus: 503
    route:
    - destination:
        host: ratings
  - match:
    - uri: {prefix: /delay}
    fault:
      delay:
        percentage:
          value: 100
        fixedDelay: 300ms
    route:
    - destination:
        host: ratings
  - match:
    - uri: {prefix: /zero}
    fault:
      delay:
        percentage:
          value: 0
        fixedDelay: 5s
      abort:
        percentage:
          value: 0
        httpStatus: 503
    route:
    - destination:
        host: ratings
`);
});
afterAll(async () => {
  for (const res of held) res.end();
  await mesh?.stop();
});

const ratingsUrl = (path: string): string => `http://ratings:${SERVICE_PORT}${path}`;

describe('timeouts and retries (VirtualService)', () => {
  it('a route timeout shorter than the app answers 504 with flag UT', async () => {
    const r = await send(client, ratingsUrl('/slow'));
    expect(r.status).toBe(504);
    expect(hits(ratings, '/slow')).toBe(1);
    const [entry] = await logged('/slow');
    expect(entry).toMatchObject({ response_code: 504, response_flags: 'UT' });
  });

  it('retries (attempts 3, retryOn 5xx): an app failing twice then answering gives the client 200 after 3 tries', async () => {
    const r = await send(client, ratingsUrl('/flaky/1'));
    expect({ status: r.status, body: r.body }).toEqual({ status: 200, body: 'ratings ok after 3' });
    expect(hits(ratings, '/flaky/1')).toBe(3);
    const [entry] = await logged('/flaky/1');
    expect(entry).toMatchObject({ response_code: 200, response_flags: '-', attempts: 3 });
  });

  it('an app that always fails is tried attempts+1 times, then the client gets its 503 with flag URX', async () => {
    const r = await send(client, ratingsUrl('/broken'));
    expect(r.status).toBe(503);
    expect(r.body).toBe('ratings failure 4');
    expect(hits(ratings, '/broken')).toBe(4);
    const [entry] = await logged('/broken');
    expect(entry).toMatchObject({ response_code: 503, response_flags: 'URX', attempts: 4 });
  });
});

describe('fault injection (VirtualService)', () => {
  it('abort 100% with httpStatus 503: the client gets 503 with flag FI and the app sees nothing', async () => {
    const answers = await versionsSeen(client, 5, ratingsUrl('/abort'));
    expect(Object.keys(answers)).toEqual([expect.stringMatching(/^status 503: /)]);
    expect(hits(ratings, '/abort')).toBe(0);
    const entries = await logged('/abort', 5);
    expect(entries.map((e) => `${e.response_code} ${e.response_flags}`)).toEqual(Array(5).fill('503 FI'));
  });

  it('delay 100% fixedDelay 300ms: the request is delayed (flag DI), then answered by the app', async () => {
    const r = await send(client, ratingsUrl('/delay'));
    expect({ status: r.status, body: r.body }).toEqual({ status: 200, body: 'ratings ok after 1' });
    const [entry] = await logged('/delay');
    expect(entry).toMatchObject({ response_code: 200, response_flags: 'DI' });
  });

  it('percentage 0: neither the delay nor the abort applies', async () => {
    const answers = await versionsSeen(client, 10, ratingsUrl('/zero'), undefined, 1);
    expect(Object.keys(answers).every((k) => k.startsWith('ratings ok after'))).toBe(true);
    expect(hits(ratings, '/zero')).toBe(10);
    const entries = await logged('/zero', 10);
    expect(new Set(entries.map((e) => `${e.response_code} ${e.response_flags}`))).toEqual(new Set(['200 -']));
  });
});

describe('circuit breaking and outlier detection (DestinationRule)', () => {
  it('connection pool limits: a burst beyond them is refused at once with 503 UO, the requests within them succeed', async () => {
    await mesh.applyAndSync(`apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: inventory
spec:
  host: inventory
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 1
      http:
        http1MaxPendingRequests: 1
        http2MaxRequests: 2
`);
    // The app holds every request it gets: the first two fill the pool, the other eight overflow.
    const burst = Array.from({ length: 10 }, () => send(client, `http://inventory:${SERVICE_PORT}/stock`));
    await eventually('the two admitted requests at the app', () => held.length === 2);
    const overflowLines = await eventually('eight overflow answers logged', () => {
      const lines = client.accessLog.filter((e) => e.path === '/stock' && e.response_flags === 'UO');
      return lines.length === 8 ? lines : undefined;
    });
    expect(overflowLines.every((e) => e.response_code === 503)).toBe(true);
    for (const res of held.splice(0)) res.end('inventory in stock');
    const answers = await Promise.all(burst);
    expect(answers.filter((a) => a.status === 200 && a.body === 'inventory in stock').length).toBe(2);
    expect(answers.filter((a) => a.status === 503).length).toBe(8);
    expect(inventory.received.length).toBe(2);

    // Within the limits again: every request succeeds.
    const sequential: number[] = [];
    for (let i = 0; i < 3; i++) {
      const p = send(client, `http://inventory:${SERVICE_PORT}/stock`);
      await eventually('the request at the app', () => held.length === 1);
      held.shift()!.end('inventory in stock');
      sequential.push((await p).status);
    }
    expect(sequential).toEqual([200, 200, 200]);
  });

  it('outlier detection: the endpoint answering 5xx is ejected after consecutive5xxErrors, traffic goes to the healthy one, and it returns after baseEjectionTime', async () => {
    await mesh.applyAndSync(`apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: details
spec:
  host: details
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    outlierDetection:
      consecutive5xxErrors: 2
      interval: 1s
      baseEjectionTime: 5s
      maxEjectionPercent: 50
`);
    const url = `http://details:${SERVICE_PORT}/`;
    // Round robin over two endpoints: the failing one is hit every other request until ejected.
    let failures = 0;
    for (let i = 0; i < 20 && failures < 2; i++) if ((await send(client, url)).status === 500) failures++;
    expect(failures).toBe(2);
    const badHits = detailsBad.received.length;
    expect(badHits).toBe(2);

    // Ejected: every request goes to the healthy endpoint.
    const goodBefore = detailsGood.received.length;
    expect(await versionsSeen(client, 10, url, undefined, 1)).toEqual({ 'details-good v1': 10 });
    expect(detailsBad.received.length).toBe(badHits);
    expect(detailsGood.received.length - goodBefore).toBe(10);

    // After baseEjectionTime it is back in rotation (and still failing, so the client sees a 500 again).
    const back = await eventually(
      'the ejected endpoint back in rotation',
      async () => ((await send(client, url)).status === 500 ? true : undefined),
      15_000,
    );
    expect(back).toBe(true);
    expect(detailsBad.received.length).toBe(badHits + 1);
  });
});

describe('Linkerd ServiceProfile', () => {
  it('per-route timeout and retries under the retry budget; a route that is not retryable is tried once', async () => {
    await mesh.applyAndSync(`apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata:
  name: books.default.svc.cluster.local
  namespace: default
spec:
  routes:
  - name: GET /slow
    condition:
      method: GET
      pathRegex: /slow
    timeout: 300ms
  - name: GET /flaky/{id}
    condition:
      method: GET
      pathRegex: /flaky/[^/]*
    isRetryable: true
    timeout: 5s
  - name: POST /broken
    condition:
      method: POST
      pathRegex: /broken
    timeout: 1s
  retryBudget:
    retryRatio: 0.2
    minRetriesPerSecond: 10
    ttl: 10s
`);
    const url = (p: string): string => `http://books:${SERVICE_PORT}${p}`;
    expect((await send(client, url('/slow'))).status).toBe(504);
    const [slow] = await logged('/slow', 1, 'books');
    expect(slow).toMatchObject({ response_code: 504, response_flags: 'UT' });

    const flaky = await send(client, url('/flaky/7'));
    expect({ status: flaky.status, body: flaky.body }).toEqual({ status: 200, body: 'books ok after 3' });
    expect(hits(books, '/flaky/7')).toBe(3);

    const broken = await send(client, url('/broken'), { method: 'POST' });
    expect(broken.status).toBe(503);
    expect(hits(books, '/broken')).toBe(1);
  });
});
