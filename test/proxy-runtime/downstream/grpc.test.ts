/** gRPC through the proxy with @grpc/grpc-js: unary with trailers, errors, bidi streaming, local replies. */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { eventually, simpleConfig, startProxy } from '../support.js';
import { client, startGrpcServer, unary } from '../grpc-support.js';

describe('gRPC', () => {
  it('proxies unary calls with trailers, error statuses and bidi streams over h2c', async () => {
    const port = await startGrpcServer();
    const { proxy, accessLog } = await startProxy(
      simpleConfig({ clusters: [{ name: 'grpc', protocol: 'http2', endpoints: [{ address: '127.0.0.1', port }] }] }),
    );
    const c = client(proxy.listenerPort('out'));
    const ok = await unary(c, 'Echo', 'hi');
    expect(ok.err).toBeNull();
    expect(ok.value).toBe('echo:hi');
    expect(ok.trailers?.get('x-served')).toEqual(['yes']);
    const failed = await unary(c, 'Fail', 'x');
    expect(failed.err?.code).toBe(grpc.status.NOT_FOUND);
    expect(failed.err?.details).toBe('no such thing');
    const replies = await new Promise<string[]>((resolve, reject) => {
      const call = c.Chat!() as grpc.ClientDuplexStream<Buffer, Buffer>;
      const got: string[] = [];
      call.on('data', (m: Buffer) => {
        got.push(m.toString());
        if (got.length === 1) call.write(Buffer.from('two'));
        if (got.length === 2) call.end();
      });
      call.on('end', () => resolve(got));
      call.on('error', reject);
      call.write(Buffer.from('one'));
    });
    expect(replies).toEqual(['re:one', 're:two']);
    await eventually(() => accessLog().length >= 3, 'access log lines of the three calls');
    const log = accessLog();
    expect(log.filter((l) => l.path === '/test.Echo/Echo')[0]).toMatchObject({
      protocol: 'HTTP/2',
      response_code: 200,
      grpc_status: '0',
    });
    // The access log says how the call ended, as Envoy's %GRPC_STATUS%.
    expect(log.filter((l) => l.path === '/test.Echo/Fail')[0]).toMatchObject({ response_code: 200, grpc_status: '5' });
    const metrics = await (await fetch(`http://127.0.0.1:${proxy.telemetryPort}/stats/prometheus`)).text();
    expect(metrics).toMatch(/istio_requests_total\{[^}]*request_protocol="grpc"[^}]*grpc_response_status="5"/);
  });

  it('answers UNAVAILABLE as a gRPC status when no upstream is reachable, and fault aborts with grpcStatus', async () => {
    const cfg = simpleConfig({
      clusters: [{ name: 'nowhere', protocol: 'http2', endpoints: [{ address: '127.0.0.1', port: 1 }] }],
      routes: [
        {
          match: [{ uri: { exact: '/test.Echo/Fail' } }],
          fault: { abort: { grpcStatus: 8 } },
          route: [{ cluster: 'nowhere' }],
        },
        { route: [{ cluster: 'nowhere' }] },
      ],
    });
    const { proxy, accessLog } = await startProxy(cfg);
    const c = client(proxy.listenerPort('out'));
    const r = await unary(c, 'Echo', 'x');
    expect(r.err?.code).toBe(grpc.status.UNAVAILABLE);
    const f = await unary(c, 'Fail', 'x');
    expect(f.err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    await eventually(() => accessLog().length >= 2, 'access log lines');
    expect(accessLog().map((l) => l.response_flags)).toEqual(expect.arrayContaining(['UF', 'FI']));
  });
});
