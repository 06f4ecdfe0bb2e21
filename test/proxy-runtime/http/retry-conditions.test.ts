/**
 * Every retryOn condition Istio documents is accepted by the proxy and does what Envoy does: the
 * gRPC ones (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable) on a real
 * gRPC server, reset-before-request, envoy-ratelimited, and the default policy's shape; a retry
 * goes to another endpoint than the attempt that failed.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { closeAfter, cluster, freePort, send, simpleConfig, startProxy, startUpstream } from '../support.js';
import { client, service, unary } from '../grpc-support.js';
import { validateProxyConfig } from '../../../src/protocol/proxy-config/validate.js';
import { RETRY_ON_POLICIES } from '../../../src/config/index.js';

/** A gRPC server whose Echo fails with `code` on the first call, then answers. */
async function failingOnce(code: grpc.status): Promise<{ port: number; calls: () => number }> {
  let calls = 0;
  const server = new grpc.Server();
  server.addService(service, {
    Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls++;
      if (calls === 1) return cb({ code, details: `failing with ${code}` });
      cb(null, Buffer.concat([Buffer.from('echo:'), call.request]));
    },
    Fail: (_c: unknown, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.NOT_FOUND }),
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.end(),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  closeAfter({ close: () => new Promise<void>((r) => server.tryShutdown(() => r())) });
  return { port, calls: () => calls };
}

const GRPC_CONDITIONS: [string, grpc.status][] = [
  ['cancelled', grpc.status.CANCELLED],
  ['deadline-exceeded', grpc.status.DEADLINE_EXCEEDED],
  ['internal', grpc.status.INTERNAL],
  ['resource-exhausted', grpc.status.RESOURCE_EXHAUSTED],
  ['unavailable', grpc.status.UNAVAILABLE],
];

describe('retryOn conditions', () => {
  it('the proxy accepts every condition the config API accepts (none is NACKed)', () => {
    for (const c of RETRY_ON_POLICIES) {
      const cfg = simpleConfig({
        clusters: [cluster('c', [1])],
        routes: [{ retries: { attempts: 2, retryOn: c }, route: [{ cluster: 'c' }] }],
      });
      expect(validateProxyConfig(cfg), c).toMatchObject({ ok: true });
    }
    const istioDefault = simpleConfig({
      clusters: [cluster('c', [1])],
      routes: [
        {
          retries: {
            attempts: 2,
            retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
            retriableStatusCodes: [503],
          },
          route: [{ cluster: 'c' }],
        },
      ],
    });
    expect(validateProxyConfig(istioDefault)).toMatchObject({ ok: true });
  });

  for (const [condition, code] of GRPC_CONDITIONS) {
    it(`${condition}: a gRPC call answered with status ${code} is retried and succeeds; without the condition it is not`, async () => {
      const up = await failingOnce(code);
      const route = (retryOn: string) =>
        simpleConfig({
          clusters: [{ name: 'grpc', protocol: 'http2', endpoints: [{ address: '127.0.0.1', port: up.port }] }],
          routes: [
            { retries: { attempts: 2, retryOn, backoff: { baseInterval: '1ms' } }, route: [{ cluster: 'grpc' }] },
          ],
        });
      const { proxy } = await startProxy(route(condition));
      const r = await unary(client(proxy.listenerPort('out')), 'Echo', 'hi');
      expect(r.err).toBeNull();
      expect(r.value).toBe('echo:hi');
      expect(up.calls()).toBe(2);

      const other = await failingOnce(code);
      const { proxy: strict } = await startProxy({
        ...route(condition === 'unavailable' ? 'cancelled' : 'unavailable'),
        clusters: [{ name: 'grpc', protocol: 'http2', endpoints: [{ address: '127.0.0.1', port: other.port }] }],
      });
      const s = await unary(client(strict.listenerPort('out')), 'Echo', 'hi');
      expect(s.err?.code).toBe(code);
      expect(other.calls()).toBe(1);
    });
  }

  it('reset-before-request retries a request that never reached the upstream (connection refused), even a POST', async () => {
    const up = await startUpstream('up', (_req, res) => res.end('ok'));
    const dead = await freePort();
    const cfg = simpleConfig({
      clusters: [cluster('c', [dead, up.port], { loadBalancer: { simple: 'ROUND_ROBIN' } })],
      routes: [
        {
          retries: { attempts: 2, retryOn: 'reset-before-request', backoff: { baseInterval: '1ms' } },
          route: [{ cluster: 'c' }],
        },
      ],
    });
    const { proxy } = await startProxy(cfg);
    for (let i = 0; i < 4; i++)
      expect(await send(proxy.listenerPort('out'), { method: 'POST', body: 'x' })).toMatchObject({
        status: 200,
        body: 'ok',
      });
  });

  it('envoy-ratelimited retries a response carrying x-envoy-ratelimited, and only that', async () => {
    let n = 0;
    const up = await startUpstream('rl', (req, res) => {
      n++;
      if (n === 1) res.setHeader('x-envoy-ratelimited', 'true');
      res.statusCode = n === 1 || req.url === '/plain' ? 429 : 200;
      res.end(String(res.statusCode));
    });
    const cfg = simpleConfig({
      clusters: [cluster('rl', [up.port])],
      routes: [
        {
          retries: { attempts: 2, retryOn: 'envoy-ratelimited', backoff: { baseInterval: '1ms' } },
          route: [{ cluster: 'rl' }],
        },
      ],
    });
    const { proxy } = await startProxy(cfg);
    expect((await send(proxy.listenerPort('out'))).status).toBe(200);
    expect(up.seen).toHaveLength(2);
    expect((await send(proxy.listenerPort('out'), { path: '/plain' })).status).toBe(429);
    expect(up.seen).toHaveLength(3);
  });

  it('a retry after a 503 goes to the other endpoint, whatever the balancer picks first', async () => {
    const bad = await startUpstream('bad', (_req, res) => {
      res.statusCode = 503;
      res.end('bad');
    });
    const good = await startUpstream('good', (_req, res) => res.end('good'));
    const cfg = simpleConfig({
      clusters: [cluster('c', [bad.port, good.port], { loadBalancer: { simple: 'RANDOM' } })],
      routes: [
        {
          retries: {
            attempts: 1,
            retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
            retriableStatusCodes: [503],
            backoff: { baseInterval: '1ms' },
          },
          route: [{ cluster: 'c' }],
        },
      ],
    });
    const { proxy } = await startProxy(cfg);
    for (let i = 0; i < 30; i++)
      expect(await send(proxy.listenerPort('out'))).toMatchObject({ status: 200, body: 'good' });
  });
});
