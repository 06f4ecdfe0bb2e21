import { afterEach, describe, expect, it } from 'vitest';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startDemoApp, type DemoAnswer } from '../../src/demo/app.js';

const servers: Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

function get(port: number, headers: Record<string, string> = {}): Promise<{ status: number; body: DemoAnswer }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/reviews/1', headers }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(b) }));
    })
      .on('error', reject)
      .end();
  });
}

const portOf = (s: Server) => (s.address() as AddressInfo).port;

describe('demo-app', () => {
  it('answers who it is and includes the answers of the services it calls, propagating headers', async () => {
    const ratings = await startDemoApp({
      service: 'ratings',
      version: 'v1',
      port: 0,
      host: '127.0.0.1',
      calls: [],
      podName: 'ratings-1',
    });
    servers.push(ratings);
    const reviews = await startDemoApp({
      service: 'reviews',
      version: 'v2',
      port: 0,
      host: '127.0.0.1',
      calls: [`127.0.0.1:${portOf(ratings)}`],
      podName: 'reviews-2',
    });
    servers.push(reviews);
    const r = await get(portOf(reviews), { 'x-request-id': 'abc', 'end-user': 'jason' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ service: 'reviews', version: 'v2', pod: 'reviews-2', path: '/reviews/1' });
    expect(r.body.calls[0]).toMatchObject({
      status: 200,
      answer: { service: 'ratings', version: 'v1', pod: 'ratings-1' },
    });
  });

  it('sends calls through HTTP_PROXY in absolute form', async () => {
    const seen: { url?: string; host?: string; endUser?: string }[] = [];
    const proxy = createServer((req, res) => {
      seen.push({ url: req.url, host: req.headers.host, endUser: req.headers['end-user'] as string });
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end('{"service":"ratings","version":"v9","pod":"p","path":"/","calls":[]}');
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    servers.push(proxy);
    const app = await startDemoApp({
      service: 'reviews',
      version: 'v3',
      port: 0,
      host: '127.0.0.1',
      calls: ['ratings:9080'],
      httpProxy: `http://127.0.0.1:${portOf(proxy)}`,
    });
    servers.push(app);
    const r = await get(portOf(app), { 'end-user': 'jason' });
    expect(seen).toEqual([{ url: 'http://ratings:9080/', host: 'ratings:9080', endUser: 'jason' }]);
    expect(r.body.calls[0]!.answer!.version).toBe('v9');
  });

  it('answers 502 when a dependency cannot be reached, and the configured failure status', async () => {
    const app = await startDemoApp({
      service: 'productpage',
      version: 'v1',
      port: 0,
      host: '127.0.0.1',
      calls: ['127.0.0.1:1'],
    });
    servers.push(app);
    const r = await get(portOf(app));
    expect(r.status).toBe(502);
    expect(r.body.calls[0]!.error).toMatch(/ECONNREFUSED/);
    const failing = await startDemoApp({
      service: 'ratings',
      version: 'v1',
      port: 0,
      host: '127.0.0.1',
      calls: [],
      failStatus: 503,
    });
    servers.push(failing);
    expect((await get(portOf(failing))).status).toBe(503);
  });
});
