/**
 * Linkerd's HTTPLocalRateLimitPolicy on the local mesh, measured under load: clients (real
 * sidecars with SPIFFE identities) send a bounded number of requests at a steady rate well above
 * the limit; the server's sidecar admits the configured rate and answers the rest 429 with flag RL,
 * in its access log and in istio_requests_total. Rates are computed from counts and the measured
 * sending window (minus the burst a full bucket lets through at the start); no single request is timed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { request } from 'node:http';
import { LocalMeshForTest, SERVICE_PORT, freePort, send, type Answer, type Sidecar } from './support/local-mesh.js';
import { metricValue } from '../proxy-runtime/support.js';

const URL_EMOJI = `http://emoji-svc:${SERVICE_PORT}/list`;
let mesh: LocalMeshForTest;
let emoji: Sidecar;
let web: Sidecar;
let vote: Sidecar;
let appPort: number;
let gw: Sidecar;
/** The local port the gateway serves its Gateway port 80 on (`meshctl gateway run --listen 80=PORT`). */
let gwPort: number;

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  emoji = await mesh.run('emoji', { app: 'emoji-svc' }, { service: 'emoji-svc', serviceAccount: 'emoji' });
  web = await mesh.run('web', { app: 'web-svc' }, { serviceAccount: 'web' });
  vote = await mesh.run('voting', { app: 'voting-svc' }, { serviceAccount: 'voting' });
  appPort = (emoji.app!.address() as AddressInfo).port;
  gwPort = await freePort();
  gw = await mesh.gateway('ingressgateway', { istio: 'ingressgateway' }, { 80: gwPort });
  await mesh.settle();
  await mesh.applyAndSync(`apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata:
  name: emoji-http
spec:
  podSelector:
    matchLabels:
      app: emoji-svc
  port: ${appPort}
  accessPolicy: all-unauthenticated
`);
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
});

/** The outcome of a load run from one client. */
interface Tally {
  allowed: number;
  limited: number;
  other: string[];
  /** from the first request sent to the last, in seconds */
  windowS: number;
}

/**
 * Sends `n` requests from `from` at `rps` (open loop: one every 1000/rps ms, whatever the answers),
 * and counts 200s and 429s.
 */
async function load(from: Sidecar | 'gateway', n: number, rps: number): Promise<Tally> {
  const t: Tally = { allowed: 0, limited: 0, other: [], windowS: 0 };
  const gap = 1000 / rps;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  let last = start;
  for (let i = 0; i < n; i++) {
    const due = start + i * gap;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    last = performance.now();
    pending.push(
      (from === 'gateway' ? viaGateway() : send(from, URL_EMOJI)).then(
        (a) => {
          if (a.status === 200) t.allowed++;
          else if (a.status === 429 && a.body === 'local_rate_limited') t.limited++;
          else t.other.push(`${a.status} ${a.body.slice(0, 80)}`);
        },
        (e: Error) => void t.other.push(e.message),
      ),
    );
  }
  await Promise.all(pending);
  t.windowS = (last - start) / 1000;
  return t;
}

/** A request from outside the mesh to the gateway, as `curl -H 'Host: api.example.com' http://127.0.0.1:PORT/`. */
function viaGateway(): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: gwPort, path: '/list', headers: { host: 'api.example.com' }, agent: false },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The admitted rate: what was allowed beyond the initial burst (a full bucket), over the window. */
const rateOf = (t: Tally, burst: number): number => (t.allowed - burst) / t.windowS;

describe('HTTPLocalRateLimitPolicy', () => {
  it('total.requestsPerSecond: 200 requests at 80/s are admitted at 20/s (within 10%), the rest answered 429 RL and counted', async () => {
    await mesh.applyAndSync(`apiVersion: policy.linkerd.io/v1alpha1
kind: HTTPLocalRateLimitPolicy
metadata:
  name: emoji-rl
spec:
  targetRef:
    group: policy.linkerd.io
    kind: Server
    name: emoji-http
  total:
    requestsPerSecond: 20
`);
    const logBefore = emoji.accessLog.length;
    const t = await load(web, 200, 80);
    expect(t.other).toEqual([]);
    expect(t.allowed + t.limited).toBe(200);
    const rate = rateOf(t, 20);
    console.log(
      `total: ${t.allowed} allowed, ${t.limited} limited over ${t.windowS.toFixed(2)} s -> ${rate.toFixed(1)} req/s (limit 20)`,
    );
    expect(rate).toBeGreaterThanOrEqual(18);
    expect(rate).toBeLessThanOrEqual(22);
    // The app saw only what was admitted; the refusals are in the access log and the metrics.
    const limitedLog = emoji.accessLog.slice(logBefore).filter((e) => e.response_code === 429);
    expect(limitedLog.length).toBe(t.limited);
    expect(
      limitedLog.every((e) => e.response_flags === 'RL' && e.response_code_details === 'local_rate_limited{total}'),
    ).toBe(true);
    expect(
      await metricValue(emoji.proxy, 'istio_requests_total', {
        reporter: 'destination',
        response_code: '429',
        response_flags: 'RL',
      }),
    ).toBe(t.limited);
  }, 60_000);

  it('identity.requestsPerSecond: two clients at 40/s each are each admitted at 10/s (within 10%)', async () => {
    await mesh.applyAndSync(`apiVersion: policy.linkerd.io/v1alpha1
kind: HTTPLocalRateLimitPolicy
metadata:
  name: emoji-rl
spec:
  targetRef:
    group: policy.linkerd.io
    kind: Server
    name: emoji-http
  total:
    requestsPerSecond: 50
  identity:
    requestsPerSecond: 10
`);
    const [w, v] = await Promise.all([load(web, 120, 40), load(vote, 120, 40)]);
    for (const [who, t] of [
      ['web', w],
      ['voting', v],
    ] as const) {
      expect(t.other).toEqual([]);
      console.log(
        `identity ${who}: ${t.allowed} allowed, ${t.limited} limited over ${t.windowS.toFixed(2)} s -> ${rateOf(t, 10).toFixed(1)} req/s (limit 10)`,
      );
      expect(rateOf(t, 10)).toBeGreaterThanOrEqual(9);
      expect(rateOf(t, 10)).toBeLessThanOrEqual(11);
    }
    expect(emoji.accessLog.some((e) => e.response_code_details === 'local_rate_limited{identity}')).toBe(true);
  }, 60_000);

  it('overrides: web (clientRefs ServiceAccount web) gets 25/s while voting keeps the identity limit of 10/s', async () => {
    await mesh.applyAndSync(`apiVersion: policy.linkerd.io/v1alpha1
kind: HTTPLocalRateLimitPolicy
metadata:
  name: emoji-rl
spec:
  targetRef:
    group: policy.linkerd.io
    kind: Server
    name: emoji-http
  total:
    requestsPerSecond: 50
  identity:
    requestsPerSecond: 10
  overrides:
  - requestsPerSecond: 25
    clientRefs:
    - kind: ServiceAccount
      name: web
`);
    const [w, v] = await Promise.all([load(web, 240, 80), load(vote, 120, 40)]);
    expect([...w.other, ...v.other]).toEqual([]);
    console.log(
      `override web: ${w.allowed} allowed over ${w.windowS.toFixed(2)} s -> ${rateOf(w, 25).toFixed(1)} req/s (limit 25)`,
    );
    console.log(
      `override voting: ${v.allowed} allowed over ${v.windowS.toFixed(2)} s -> ${rateOf(v, 10).toFixed(1)} req/s (limit 10)`,
    );
    expect(rateOf(w, 25)).toBeGreaterThanOrEqual(22.5);
    expect(rateOf(w, 25)).toBeLessThanOrEqual(27.5);
    expect(rateOf(v, 10)).toBeGreaterThanOrEqual(9);
    expect(rateOf(v, 10)).toBeLessThanOrEqual(11);
  }, 60_000);

  it('at the gateway: a Server selecting the ingress gateway on its Gateway port 80 limits requests from outside the mesh', async () => {
    await mesh.applyAndSync(
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: api-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [api.example.com]
`,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api.example.com]
  gateways: [api-gateway]
  http:
  - route:
    - destination: {host: emoji-svc, port: {number: ${SERVICE_PORT}}}
`,
      `apiVersion: policy.linkerd.io/v1beta3
kind: Server
metadata: {name: edge-http}
spec:
  podSelector:
    matchLabels: {istio: ingressgateway}
  port: 80
  accessPolicy: all-unauthenticated
`,
      // emoji's own limit out of the way: the gateway is one client identity there.
      `apiVersion: policy.linkerd.io/v1alpha1
kind: HTTPLocalRateLimitPolicy
metadata: {name: emoji-rl}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: emoji-http}
  total: {requestsPerSecond: 1000}
`,
      `apiVersion: policy.linkerd.io/v1alpha1
kind: HTTPLocalRateLimitPolicy
metadata: {name: edge-rl}
spec:
  targetRef: {group: policy.linkerd.io, kind: Server, name: edge-http}
  total: {requestsPerSecond: 15}
`,
    );
    const t = await load('gateway', 180, 60);
    expect(t.other).toEqual([]);
    console.log(
      `gateway: ${t.allowed} allowed, ${t.limited} limited over ${t.windowS.toFixed(2)} s -> ${rateOf(t, 15).toFixed(1)} req/s (limit 15)`,
    );
    expect(rateOf(t, 15)).toBeGreaterThanOrEqual(13.5);
    expect(rateOf(t, 15)).toBeLessThanOrEqual(16.5);
    expect(gw.accessLog.filter((e) => e.response_code === 429 && e.response_flags === 'RL').length).toBe(t.limited);
  }, 60_000);
});
