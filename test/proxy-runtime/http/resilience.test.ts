/** Timeouts, retries (observed at the upstream), retry budgets, fault injection and mirroring. */
import { describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { cluster, eventually, send, simpleConfig, startProxy, startUpstream } from '../support.js';

describe('timeouts', () => {
  it('answers 504 UT when the route timeout passes, and the upstream request is cancelled', async () => {
    let closedByProxy = false;
    const up = await startUpstream('slow', (req, res) => {
      res.on('close', () => (closedByProxy = !res.writableFinished));
      setTimeout(() => res.end('late'), 3000).unref();
    });
    const cfg = simpleConfig({
      clusters: [cluster('slow', [up.port])],
      routes: [{ timeout: '100ms', route: [{ cluster: 'slow' }] }],
    });
    const { proxy, accessLog } = await startProxy(cfg);
    const r = await send(proxy.listenerPort('out'));
    expect(r.status).toBe(504);
    expect(r.body).toBe('upstream request timeout');
    expect(accessLog().at(-1)).toMatchObject({ response_code: 504, response_flags: 'UT' });
    await eventually(() => closedByProxy, 'upstream request cancelled');
  });
});

describe('retries', () => {
  it('retries 5xx up to attempts and succeeds; the upstream sees every try with the same request id', async () => {
    let n = 0;
    const up = await startUpstream('flaky', (_req, res) => {
      n++;
      res.statusCode = n <= 2 ? 503 : 200;
      res.end(n <= 2 ? 'fail' : 'ok');
    });
    const cfg = simpleConfig({
      clusters: [cluster('flaky', [up.port])],
      routes: [
        { retries: { attempts: 3, retryOn: '5xx', backoff: { baseInterval: '1ms' } }, route: [{ cluster: 'flaky' }] },
      ],
    });
    const { proxy, accessLog } = await startProxy(cfg);
    const r = await send(proxy.listenerPort('out'), {
      method: 'POST',
      body: 'payload',
      headers: { 'content-type': 'text/plain' },
    });
    // POST is not idempotent: a 5xx is NOT retried for it by default
    expect(r.status).toBe(503);
    expect(up.seen).toHaveLength(1);
    const g = await send(proxy.listenerPort('out'), { path: '/get' });
    expect(g).toMatchObject({ status: 200, body: 'ok' });
    expect(up.seen).toHaveLength(3);
    const ids = new Set(up.seen.slice(1).map((s) => s.headers['x-request-id']));
    expect(ids.size).toBe(1);
    expect(accessLog().at(-1)).toMatchObject({ response_code: 200, attempts: 2 });
  });

  it('replays the request body on retry when retryNonIdempotent is set, and flags URX when retries run out', async () => {
    const up = await startUpstream('down', (_req, res) => {
      res.statusCode = 502;
      res.end('bad gateway');
    });
    const cfg = simpleConfig({
      clusters: [cluster('down', [up.port])],
      routes: [
        {
          retries: {
            attempts: 2,
            retryOn: 'gateway-error',
            retryNonIdempotent: true,
            backoff: { baseInterval: '1ms' },
          },
          route: [{ cluster: 'down' }],
        },
      ],
    });
    const { proxy, accessLog } = await startProxy(cfg);
    const r = await send(proxy.listenerPort('out'), { method: 'POST', body: 'hello body' });
    expect(r.status).toBe(502);
    expect(up.seen.map((s) => s.body)).toEqual(['hello body', 'hello body', 'hello body']);
    expect(accessLog().at(-1)).toMatchObject({ response_code: 502, response_flags: 'URX' });
  });

  it('does not retry when the body is larger than maxBodyBytes (nothing to replay)', async () => {
    const up = await startUpstream('down', (_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const cfg = simpleConfig({
      clusters: [cluster('down', [up.port])],
      routes: [
        {
          retries: {
            attempts: 2,
            retryOn: '5xx',
            retryNonIdempotent: true,
            maxBodyBytes: 4,
            backoff: { baseInterval: '1ms' },
          },
          route: [{ cluster: 'down' }],
        },
      ],
    });
    const { proxy } = await startProxy(cfg);
    const r = await send(proxy.listenerPort('out'), { method: 'PUT', body: 'more than four bytes' });
    expect(r.status).toBe(503);
    expect(up.seen).toHaveLength(1);
    expect(up.seen[0]!.body).toBe('more than four bytes');
  });

  it('retries connect failures on another endpoint (even for POST: the request never left)', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const deadPort = (dead.address() as { port: number }).port;
    await new Promise((r) => dead.close(r));
    const up = await startUpstream('alive');
    const cfg = simpleConfig({
      clusters: [cluster('mixed', [deadPort, up.port])],
      routes: [
        {
          retries: { attempts: 2, retryOn: 'connect-failure', backoff: { baseInterval: '1ms' } },
          route: [{ cluster: 'mixed' }],
        },
      ],
    });
    const { proxy, accessLog } = await startProxy(cfg);
    for (let i = 0; i < 4; i++) {
      const r = await send(proxy.listenerPort('out'), { method: 'POST', body: 'x' });
      expect(r).toMatchObject({ status: 200, body: 'alive' });
    }
    expect(accessLog().some((l) => (l.attempts as number) === 2)).toBe(true);
  });

  it('applies the per-try timeout and retries after it', async () => {
    let n = 0;
    const up = await startUpstream('slowfirst', (_req, res) => {
      n++;
      if (n === 1) setTimeout(() => res.end('late'), 2000).unref();
      else res.end('fast');
    });
    const cfg = simpleConfig({
      clusters: [cluster('slowfirst', [up.port])],
      routes: [
        {
          retries: { attempts: 1, perTryTimeout: '100ms', retryOn: 'gateway-error', backoff: { baseInterval: '1ms' } },
          route: [{ cluster: 'slowfirst' }],
        },
      ],
    });
    const { proxy } = await startProxy(cfg);
    expect(await send(proxy.listenerPort('out'))).toMatchObject({ status: 200, body: 'fast' });
    expect(up.seen.length).toBeGreaterThanOrEqual(1);
    expect(n).toBe(2);
  });

  it('retries the listed status codes (retriable-status-codes) and not others', async () => {
    let n = 0;
    const up = await startUpstream('teapot', (req, res) => {
      n++;
      res.statusCode = req.url === '/teapot' && n === 1 ? 418 : req.url === '/conflict' ? 409 : 200;
      res.end(String(res.statusCode));
    });
    const cfg = simpleConfig({
      clusters: [cluster('teapot', [up.port])],
      routes: [
        {
          retries: {
            attempts: 2,
            retryOn: 'retriable-status-codes',
            retriableStatusCodes: [418],
            backoff: { baseInterval: '1ms' },
          },
          route: [{ cluster: 'teapot' }],
        },
      ],
    });
    const { proxy } = await startProxy(cfg);
    expect((await send(proxy.listenerPort('out'), { path: '/teapot' })).status).toBe(200);
    expect(up.seen).toHaveLength(2);
    expect((await send(proxy.listenerPort('out'), { path: '/conflict' })).status).toBe(409);
    expect(up.seen).toHaveLength(3);
  });

  it('does not retry beyond the cluster maxRetries in flight', async () => {
    const release: (() => void)[] = [];
    const up = await startUpstream('down', (req, res) => {
      if (req.url === '/hold') {
        release.push(() => {
          res.statusCode = 503;
          res.end();
        });
        return;
      }
      res.statusCode = 503;
      res.end();
    });
    const cfg = simpleConfig({
      clusters: [{ ...cluster('down', [up.port]), connectionPool: { http: { maxRetries: 0 } } }],
      routes: [
        { retries: { attempts: 3, retryOn: '5xx', backoff: { baseInterval: '1ms' } }, route: [{ cluster: 'down' }] },
      ],
    });
    const { proxy } = await startProxy(cfg);
    expect((await send(proxy.listenerPort('out'))).status).toBe(503);
    // maxRetries 0: the retry is refused by the circuit breaker, the first answer is returned.
    expect(up.seen).toHaveLength(1);
  });

  it('stops retrying when the retry budget is spent', async () => {
    const up = await startUpstream('down', (_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    const cfg = simpleConfig({
      clusters: [cluster('down', [up.port])],
      routes: [
        {
          retries: {
            attempts: 5,
            retryOn: '5xx',
            backoff: { baseInterval: '1ms' },
            budget: { retryRatio: 0.2, minRetriesPerSecond: 0, ttl: '10s' },
          },
          route: [{ cluster: 'down' }],
        },
      ],
    });
    const { proxy } = await startProxy(cfg);
    for (let i = 0; i < 10; i++) expect((await send(proxy.listenerPort('out'))).status).toBe(503);
    // 10 requests x ratio 0.2 allows at most 2 retries in the window, against 50 without a budget.
    expect(up.seen.length).toBeLessThanOrEqual(12);
    expect(up.seen.length).toBeGreaterThanOrEqual(10);
  });
});

describe('fault injection', () => {
  it('aborts 100% with the configured status and flag FI, sending nothing upstream', async () => {
    const up = await startUpstream('svc');
    const cfg = simpleConfig({
      clusters: [cluster('svc', [up.port])],
      routes: [{ fault: { abort: { httpStatus: 418, percentage: { value: 100 } } }, route: [{ cluster: 'svc' }] }],
    });
    const { proxy, accessLog } = await startProxy(cfg);
    expect((await send(proxy.listenerPort('out'))).status).toBe(418);
    expect(up.seen).toHaveLength(0);
    expect(accessLog().at(-1)).toMatchObject({ response_code: 418, response_flags: 'FI' });
  });

  it('aborts about the configured percentage (50% within ±10 points over 400 requests)', async () => {
    const up = await startUpstream('svc');
    const cfg = simpleConfig({
      clusters: [cluster('svc', [up.port])],
      routes: [{ fault: { abort: { httpStatus: 503, percentage: { value: 50 } } }, route: [{ cluster: 'svc' }] }],
    });
    const { proxy } = await startProxy(cfg);
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const replies = await Promise.all(Array.from({ length: 400 }, () => send(proxy.listenerPort('out'), { agent })));
    agent.destroy();
    const aborted = replies.filter((r) => r.status === 503).length / 4;
    expect(aborted).toBeGreaterThanOrEqual(40);
    expect(aborted).toBeLessThanOrEqual(60);
    expect(up.seen.length).toBe(400 - replies.filter((r) => r.status === 503).length);
  });

  it('delays requests and flags DI', async () => {
    const up = await startUpstream('svc');
    const cfg = simpleConfig({
      clusters: [cluster('svc', [up.port])],
      routes: [{ fault: { delay: { fixedDelay: '50ms', percentage: { value: 100 } } }, route: [{ cluster: 'svc' }] }],
    });
    const { proxy, accessLog } = await startProxy(cfg);
    expect((await send(proxy.listenerPort('out'))).status).toBe(200);
    expect(accessLog().at(-1)).toMatchObject({ response_flags: 'DI' });
  });

  it('does not count the fault delay in the route timeout (the fault filter runs before the router, as in Envoy)', async () => {
    const up = await startUpstream('svc');
    const cfg = simpleConfig({
      clusters: [cluster('svc', [up.port])],
      routes: [{ timeout: '50ms', fault: { delay: { fixedDelay: '200ms' } }, route: [{ cluster: 'svc' }] }],
    });
    const { proxy } = await startProxy(cfg);
    expect((await send(proxy.listenerPort('out'))).status).toBe(200);
  });
});

describe('mirroring', () => {
  it('mirrors the configured share to the mirror cluster with -shadow host, discarding its answer', async () => {
    const main = await startUpstream('main');
    const shadow = await startUpstream('shadow', (_req, res) => {
      res.statusCode = 500;
      res.end('shadow failure is invisible');
    });
    const cfg = simpleConfig({
      clusters: [cluster('main', [main.port]), cluster('shadow', [shadow.port])],
      routes: [{ mirror: { cluster: 'shadow', percentage: { value: 100 } }, route: [{ cluster: 'main' }] }],
    });
    const { proxy } = await startProxy(cfg);
    const r = await send(proxy.listenerPort('out'), {
      method: 'POST',
      host: 'reviews:9080',
      body: 'copy me',
      path: '/m',
    });
    expect(r).toMatchObject({ status: 200, body: 'main' });
    await eventually(() => shadow.seen.length === 1, 'mirror received');
    expect(shadow.seen[0]).toMatchObject({ method: 'POST', url: '/m', body: 'copy me' });
    expect(shadow.seen[0]!.headers.host).toBe('reviews-shadow:9080');
    expect(main.seen[0]!.headers.host).toBe('reviews:9080');
  });

  it('mirrors to every entry of mirrors, each with its own share', async () => {
    const main = await startUpstream('main');
    const a = await startUpstream('a');
    const b = await startUpstream('b');
    const cfg = simpleConfig({
      clusters: [cluster('main', [main.port]), cluster('a', [a.port]), cluster('b', [b.port])],
      routes: [
        {
          mirrors: [
            { cluster: 'a', percentage: { value: 100 } },
            { cluster: 'b', percentage: { value: 100 } },
            { cluster: 'b', percentage: { value: 0 } },
          ],
          route: [{ cluster: 'main' }],
        },
      ],
    });
    const { proxy } = await startProxy(cfg);
    for (let i = 0; i < 3; i++)
      expect((await send(proxy.listenerPort('out'), { method: 'POST', body: `copy ${i}`, path: '/m' })).status).toBe(
        200,
      );
    await eventually(() => a.seen.length === 3 && b.seen.length === 3, 'both mirrors received every request');
    expect(a.seen.map((r) => r.body).sort()).toEqual(['copy 0', 'copy 1', 'copy 2']);
    expect(b.seen.map((r) => r.body).sort()).toEqual(['copy 0', 'copy 1', 'copy 2']);
  });

  it('mirrors nothing at 0% and still serves when the mirror is down', async () => {
    const main = await startUpstream('main');
    const shadow = await startUpstream('shadow');
    const cfg = simpleConfig({
      clusters: [cluster('main', [main.port]), cluster('shadow', [shadow.port])],
      routes: [{ mirror: { cluster: 'shadow', percentage: { value: 0 } }, route: [{ cluster: 'main' }] }],
    });
    const { proxy } = await startProxy(cfg);
    for (let i = 0; i < 20; i++) expect((await send(proxy.listenerPort('out'))).status).toBe(200);
    expect(shadow.seen).toHaveLength(0);
  });
});
