/** Load balancing, connection pool limits and outlier detection, observed at real upstreams. */
import { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { admin, cluster, eventually, send, simpleConfig, startProxy, startUpstream } from '../support.js';

async function upstreams(n: number, handler?: Parameters<typeof startUpstream>[1]) {
  return Promise.all(Array.from({ length: n }, (_, i) => startUpstream(`e${i}`, handler)));
}

function count(bodies: string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const b of bodies) c[b] = (c[b] ?? 0) + 1;
  return c;
}

describe('load balancing', () => {
  it('ROUND_ROBIN spreads sequential requests exactly evenly', async () => {
    const ups = await upstreams(3);
    const { proxy } = await startProxy(
      simpleConfig({
        clusters: [
          cluster(
            'c',
            ups.map((u) => u.port),
          ),
        ],
      }),
    );
    const bodies: string[] = [];
    for (let i = 0; i < 30; i++) bodies.push((await send(proxy.listenerPort('out'))).body);
    expect(count(bodies)).toEqual({ e0: 10, e1: 10, e2: 10 });
  });

  it('honours endpoint weights (3:1 within ±8 points over 400 requests, RANDOM)', async () => {
    const ups = await upstreams(2);
    const c = {
      name: 'c',
      loadBalancer: { simple: 'RANDOM' },
      endpoints: [
        { address: '127.0.0.1', port: ups[0]!.port, weight: 3 },
        { address: '127.0.0.1', port: ups[1]!.port, weight: 1 },
      ],
    };
    const { proxy } = await startProxy(simpleConfig({ clusters: [c] }));
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const bodies = (
      await Promise.all(Array.from({ length: 400 }, () => send(proxy.listenerPort('out'), { agent })))
    ).map((r) => r.body);
    agent.destroy();
    const share = ((count(bodies).e0 ?? 0) / 400) * 100;
    expect(share).toBeGreaterThanOrEqual(67);
    expect(share).toBeLessThanOrEqual(83);
  });

  it('LEAST_REQUEST avoids the endpoint that is busy', async () => {
    const release: (() => void)[] = [];
    const slow = await startUpstream('slow', (_req, res) => release.push(() => res.end('slow')));
    const fast = await startUpstream('fast');
    const c = { ...cluster('c', [slow.port, fast.port]), loadBalancer: { simple: 'LEAST_CONN' } };
    const { proxy } = await startProxy(simpleConfig({ clusters: [c] }));
    // Park 4 requests on whichever endpoints they land; then every new request sees 'slow' busier.
    const parked = Array.from({ length: 4 }, () => send(proxy.listenerPort('out')));
    await eventually(() => release.length + fast.seen.length === 4, 'parked requests reached their endpoints');
    const busy = release.length;
    const bodies: string[] = [];
    for (let i = 0; i < 20; i++) bodies.push((await send(proxy.listenerPort('out'))).body);
    release.forEach((f) => f());
    await Promise.all(parked);
    expect(busy).toBeGreaterThan(0);
    // With `busy` requests parked on 'slow' and none on 'fast', P2C must pick 'fast' whenever it compares both.
    expect(count(bodies).fast ?? 0).toBeGreaterThanOrEqual(15);
  });

  it('consistent hash on a header, a cookie and the source IP keeps a key on one endpoint', async () => {
    const ups = await upstreams(4);
    const ports = ups.map((u) => u.port);
    const cfg = simpleConfig({
      clusters: [
        { ...cluster('byHeader', ports), loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } },
        {
          ...cluster('byCookie', ports),
          loadBalancer: { consistentHash: { httpCookie: { name: 'sticky', ttl: '60s' } } },
        },
        { ...cluster('byIp', ports), loadBalancer: { consistentHash: { useSourceIp: true } } },
      ],
      routes: [
        { match: [{ uri: { prefix: '/h' } }], route: [{ cluster: 'byHeader' }] },
        { match: [{ uri: { prefix: '/c' } }], route: [{ cluster: 'byCookie' }] },
        { route: [{ cluster: 'byIp' }] },
      ],
    });
    const { proxy } = await startProxy(cfg);
    const port = proxy.listenerPort('out');
    const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
    const placement = new Set<string>();
    for (const u of users) {
      const seen = new Set<string>();
      for (let i = 0; i < 5; i++) seen.add((await send(port, { path: '/h', headers: { 'x-user': u } })).body);
      expect(seen.size).toBe(1);
      placement.add([...seen][0]!);
    }
    expect(placement.size).toBeGreaterThan(1);
    const first = await send(port, { path: '/c' });
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    expect(cookie).toMatch(/^sticky=/);
    const sticky = new Set<string>();
    for (let i = 0; i < 5; i++) sticky.add((await send(port, { path: '/c', headers: { cookie } })).body);
    expect(sticky).toEqual(new Set([first.body]));
    const byIp = new Set<string>();
    for (let i = 0; i < 5; i++) byIp.add((await send(port, { path: '/ip' })).body);
    expect(byIp.size).toBe(1);
  });
});

describe('connection pool limits', () => {
  it('answers 503 UO at once when maxConnections + http1MaxPendingRequests are taken', async () => {
    const release: (() => void)[] = [];
    const up = await startUpstream('held', (_req, res) => release.push(() => res.end('done')));
    const c = {
      ...cluster('c', [up.port]),
      connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } },
    };
    const { proxy, accessLog } = await startProxy(simpleConfig({ clusters: [c] }));
    const first = send(proxy.listenerPort('out'));
    await eventually(() => release.length === 1, 'first request at the upstream');
    const second = send(proxy.listenerPort('out'));
    await eventually(
      async () => (await admin<{ activeRequests: number }[]>(proxy, '/clusters'))[0]!.activeRequests === 2,
      'second request pending',
    );
    const third = await send(proxy.listenerPort('out'));
    expect(third.status).toBe(503);
    expect(third.body).toContain('overflow');
    expect(accessLog().at(-1)).toMatchObject({ response_code: 503, response_flags: 'UO' });
    // only one connection: the second request waits for the first to finish
    expect(release).toHaveLength(1);
    release.shift()!();
    await eventually(() => release.length === 1, 'second request at the upstream');
    release.shift()!();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    const clusters = await admin<{ name: string; overflows: number }[]>(proxy, '/clusters');
    expect(clusters[0]!.overflows).toBe(1);
  });

  it('http2MaxRequests caps concurrent requests of any protocol', async () => {
    const release: (() => void)[] = [];
    const up = await startUpstream('held', (_req, res) => release.push(() => res.end('done')));
    const c = { ...cluster('c', [up.port]), connectionPool: { http: { http2MaxRequests: 2 } } };
    const { proxy } = await startProxy(simpleConfig({ clusters: [c] }));
    const held = [send(proxy.listenerPort('out')), send(proxy.listenerPort('out'))];
    await eventually(() => release.length === 2, 'both requests at the upstream');
    expect((await send(proxy.listenerPort('out'))).status).toBe(503);
    release.forEach((f) => f());
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
  });

  it('closes upstream connections after maxRequestsPerConnection', async () => {
    const sockets = new Set<unknown>();
    const up = await startUpstream('svc', (req, res) => {
      sockets.add(req.socket);
      res.end('ok');
    });
    const c = { ...cluster('c', [up.port]), connectionPool: { http: { maxRequestsPerConnection: 1 } } };
    const { proxy } = await startProxy(simpleConfig({ clusters: [c] }));
    for (let i = 0; i < 4; i++) expect((await send(proxy.listenerPort('out'))).status).toBe(200);
    expect(sockets.size).toBe(4);
  });
});

describe('outlier detection', () => {
  it('ejects an endpoint after consecutive 5xx, shows it in /clusters, and brings it back after baseEjectionTime', async () => {
    const bad = await startUpstream('bad', (_req, res) => {
      res.statusCode = 500;
      res.end('bad');
    });
    const good = await startUpstream('good');
    const c = {
      ...cluster('c', [bad.port, good.port]),
      outlierDetection: { consecutive5xxErrors: 2, interval: '50ms', baseEjectionTime: '2s', maxEjectionPercent: 50 },
    };
    const { proxy } = await startProxy(simpleConfig({ clusters: [c] }));
    const bodies: string[] = [];
    for (let i = 0; i < 10; i++) bodies.push((await send(proxy.listenerPort('out'))).body);
    expect(bodies.filter((b) => b === 'bad')).toHaveLength(2);
    expect(bodies.slice(4).every((b) => b === 'good')).toBe(true);
    const view = await admin<{ endpoints: { port: number; health: string; outlier: { ejectionCount: number } }[] }[]>(
      proxy,
      '/clusters',
    );
    expect(view[0]!.endpoints.find((e) => e.port === bad.port)).toMatchObject({
      health: 'EJECTED',
      outlier: { ejectionCount: 1 },
    });
    await new Promise((r) => setTimeout(r, 2100));
    const after: string[] = [];
    for (let i = 0; i < 4; i++) after.push((await send(proxy.listenerPort('out'))).body);
    expect(after).toContain('bad');
  });

  it('legacy consecutiveErrors counts gateway errors; 500 does not trip it', async () => {
    const five = await startUpstream('500', (_req, res) => {
      res.statusCode = 500;
      res.end('500');
    });
    const gw = await startUpstream('503', (_req, res) => {
      res.statusCode = 503;
      res.end('503');
    });
    const okUp = await startUpstream('ok');
    const c = {
      ...cluster('c', [five.port, gw.port, okUp.port]),
      outlierDetection: { consecutiveErrors: 2, baseEjectionTime: '30s', maxEjectionPercent: 100 },
    };
    const { proxy } = await startProxy(simpleConfig({ clusters: [c] }));
    for (let i = 0; i < 12; i++) await send(proxy.listenerPort('out'));
    const view = await admin<{ endpoints: { port: number; health: string }[] }[]>(proxy, '/clusters');
    const health = Object.fromEntries(view[0]!.endpoints.map((e) => [e.port, e.health]));
    expect(health[gw.port]).toBe('EJECTED');
    expect(health[five.port]).toBe('HEALTHY');
  });

  it('answers 503 UH when every endpoint is ejected, and balances over all of them in panic mode', async () => {
    const a = await startUpstream('a', (_req, res) => {
      res.statusCode = 503;
      res.end('a');
    });
    const b = await startUpstream('b', (_req, res) => {
      res.statusCode = 503;
      res.end('b');
    });
    const base = {
      ...cluster('c', [a.port, b.port]),
      outlierDetection: { consecutiveGatewayErrors: 1, baseEjectionTime: '30s', maxEjectionPercent: 100 },
    };
    const { proxy, accessLog } = await startProxy(simpleConfig({ clusters: [base] }));
    await send(proxy.listenerPort('out'));
    await send(proxy.listenerPort('out'));
    const uh = await send(proxy.listenerPort('out'));
    expect(uh).toMatchObject({ status: 503, body: 'no healthy upstream' });
    expect(accessLog().at(-1)).toMatchObject({ response_flags: 'UH' });
    // Same cluster with minHealthPercent: below it, ejections are ignored (panic) and traffic flows to all.
    const panicCfg = simpleConfig({
      clusters: [{ ...base, outlierDetection: { ...base.outlierDetection, minHealthPercent: 50 } }],
      version: 'panic',
    });
    expect((await proxy.applyConfig(panicCfg)).ok).toBe(true);
    const bodies = new Set<string>();
    for (let i = 0; i < 6; i++) bodies.add((await send(proxy.listenerPort('out'))).body);
    expect(bodies).toEqual(new Set(['a', 'b']));
    const view = await admin<{ panic: boolean }[]>(proxy, '/clusters');
    expect(view[0]!.panic).toBe(true);
  });
});
