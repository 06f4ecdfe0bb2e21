/** Opaque TCP, protocol detection (incl. server-speaks-first), and the HTTP_PROXY listener (absolute-form, CONNECT). */
import { connect as netConnect, createServer as createNetServer, type Socket } from 'node:net';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cluster, closeAfter, eventually, metricValue, simpleConfig, startProxy, startUpstream } from '../support.js';

const exec = promisify(execFile);

async function tcpServer(onSocket: (s: Socket) => void): Promise<number> {
  const server = createNetServer(onSocket);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closeAfter({
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  });
  return (server.address() as { port: number }).port;
}

function talk(port: number, send: string | undefined, until: (got: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => {
      got += d.toString();
      if (until(got)) {
        s.end();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.on('close', () => resolve(got));
    if (send !== undefined) s.write(send);
  });
}

describe('TCP', () => {
  it('proxies opaque bytes both ways on a tcp chain and counts them in istio_tcp_* metrics', async () => {
    const port = await tcpServer((s) => s.on('data', (d) => s.write(`<${d.toString()}>`)));
    const cfg = simpleConfig({
      clusters: [cluster('db', [port])],
      chain: { protocol: 'tcp', tcpCluster: 'db', routeConfig: undefined },
    });
    const { proxy, accessLog } = await startProxy(cfg);
    const got = await talk(proxy.listenerPort('out'), '\x00\x01binary', (g) => g.endsWith('>'));
    expect(got).toBe('<\x00\x01binary>');
    await eventually(() => accessLog().length > 0, 'TCP access log line');
    expect(accessLog().at(-1)).toMatchObject({ protocol: 'tcp', upstream_cluster: 'db' });
    expect(await metricValue(proxy, 'istio_tcp_received_bytes_total', { destination_service: 'db' })).toBe(8);
    expect(await metricValue(proxy, 'istio_tcp_sent_bytes_total', { destination_service: 'db' })).toBe(10);
  });

  it('treats a silent client as server-speaks-first after the detection timeout', async () => {
    const port = await tcpServer((s) => s.write('220 smtp ready\r\n'));
    const cfg = simpleConfig({
      clusters: [cluster('smtp', [port])],
      chain: { tcpCluster: 'smtp' },
      listener: { detectTimeout: '100ms' },
    });
    const { proxy } = await startProxy(cfg);
    expect(await talk(proxy.listenerPort('out'), undefined, (g) => g.includes('\r\n'))).toBe('220 smtp ready\r\n');
  });

  it('closes a silent connection handed to TCP after detection once it idles past tcpIdleTimeout (flag SI); the app sees it close', async () => {
    let appSawClose = false;
    const port = await tcpServer((s) => s.on('close', () => (appSawClose = true)));
    const cfg = simpleConfig({
      clusters: [cluster('app', [port])],
      chain: { tcpCluster: 'app' },
      listener: { detectTimeout: '50ms', tcpIdleTimeout: '200ms' },
    });
    const { proxy, accessLog } = await startProxy(cfg);
    // Sends nothing and waits: without an idle timeout this connection would stay open for ever.
    expect(await talk(proxy.listenerPort('out'), undefined, () => false)).toBe('');
    await eventually(() => appSawClose, 'the app connection closed');
    await eventually(() => accessLog().length > 0, 'TCP access log line');
    expect(accessLog().at(-1)).toMatchObject({ protocol: 'tcp', response_flags: 'SI' });
  });

  it('detects HTTP and non-HTTP on the same auto port', async () => {
    const tcp = await tcpServer((s) => s.on('data', (d) => s.write(`tcp:${d.toString()}`)));
    const http = await startUpstream('http');
    const cfg = simpleConfig({
      clusters: [cluster('http', [http.port]), cluster('raw', [tcp])],
      chain: { tcpCluster: 'raw' },
    });
    const { proxy } = await startProxy(cfg);
    const port = proxy.listenerPort('out');
    expect(await talk(port, 'HELLO\n', (g) => g.includes('HELLO'))).toBe('tcp:HELLO\n');
    expect(
      await talk(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', (g) => g.endsWith('http')),
    ).toMatch(/^HTTP\/1\.1 200[\s\S]*http$/);
  });

  it('closes the client connection when the TCP upstream refuses (flag UF)', async () => {
    const cfg = simpleConfig({
      clusters: [cluster('gone', [1])],
      chain: { protocol: 'tcp', tcpCluster: 'gone', routeConfig: undefined },
    });
    const { proxy, accessLog } = await startProxy(cfg);
    expect(await talk(proxy.listenerPort('out'), 'x', () => false)).toBe('');
    await eventually(() => accessLog().length > 0, 'TCP access log line');
    expect(accessLog().at(-1)).toMatchObject({ protocol: 'tcp', response_flags: 'UF' });
  });
});

describe('HTTP proxy mode (HTTP_PROXY)', () => {
  function proxyModeConfig(reviewsPort: number): Record<string, unknown> {
    return {
      apiVersion: 'proxy.meshctl.dev/v1',
      version: 'pm',
      listeners: [
        {
          name: 'http-proxy',
          port: 0,
          direction: 'outbound',
          mode: 'http-proxy',
          chains: [{ routeConfig: 'outbound', tcpCluster: 'passthrough' }],
        },
      ],
      routes: [
        {
          name: 'outbound',
          virtualHosts: [
            {
              name: 'reviews',
              domains: ['reviews', 'reviews:9080'],
              routes: [{ route: [{ cluster: 'reviews' }], headers: { request: { set: { 'x-routed': 'reviews' } } } }],
            },
            { name: 'other', domains: ['*'], routes: [{ route: [{ cluster: 'passthrough' }] }] },
          ],
        },
      ],
      clusters: [
        { name: 'reviews', endpoints: [{ address: '127.0.0.1', port: reviewsPort }] },
        { name: 'passthrough', type: 'originalDst', loadBalancer: { simple: 'PASSTHROUGH' } },
      ],
    };
  }

  it('routes absolute-form requests from curl by the URL authority, and passes unknown hosts through', async () => {
    const reviews = await startUpstream('reviews', (req, res) =>
      res.end(`reviews ${req.url} ${req.headers['x-routed']}`),
    );
    const direct = await startUpstream('direct');
    const { proxy } = await startProxy(proxyModeConfig(reviews.port));
    const env = { ...process.env, http_proxy: `http://127.0.0.1:${proxy.listenerPort('http-proxy')}`, no_proxy: '' };
    const a = await exec('curl', ['-s', '--noproxy', '', 'http://reviews:9080/r/1'], { env });
    expect(a.stdout).toBe('reviews /r/1 reviews');
    const b = await exec('curl', ['-s', '--noproxy', '', `http://127.0.0.1:${direct.port}/d`], { env });
    expect(b.stdout).toBe('direct');
  });

  it('serves Node fetch with NODE_USE_ENV_PROXY=1 (absolute-form for http)', async () => {
    const reviews = await startUpstream('reviews', (req, res) => res.end(`reviews ${req.url}`));
    const { proxy } = await startProxy(proxyModeConfig(reviews.port));
    const script = 'fetch("http://reviews:9080/via-fetch").then(r => r.text()).then(t => process.stdout.write(t))';
    // The pinned Node 24 (vitest's own process may run on the system node).
    const out = await exec(join(process.cwd(), 'node_modules/.bin/node'), ['-e', script], {
      env: {
        ...process.env,
        NODE_USE_ENV_PROXY: '1',
        HTTP_PROXY: `http://127.0.0.1:${proxy.listenerPort('http-proxy')}`,
        NO_PROXY: '',
      },
    });
    expect(out.stdout).toBe('reviews /via-fetch');
  });

  it('tunnels CONNECT to a routed service or, for other hosts, to the original destination', async () => {
    const echo = await tcpServer((s) => s.on('data', (d) => s.write(`tunnel:${d.toString()}`)));
    const reviewsTcp = await tcpServer((s) => s.on('data', (d) => s.write(`reviews-tunnel:${d.toString()}`)));
    const { proxy } = await startProxy(proxyModeConfig(reviewsTcp));
    const viaConnect = async (authority: string) =>
      talk(proxy.listenerPort('http-proxy'), `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\nping`, (g) =>
        g.includes('ping'),
      );
    expect(await viaConnect(`127.0.0.1:${echo}`)).toBe('HTTP/1.1 200 Connection Established\r\n\r\ntunnel:ping');
    expect(await viaConnect('reviews:9080')).toBe('HTTP/1.1 200 Connection Established\r\n\r\nreviews-tunnel:ping');
    const refused = await talk(
      proxy.listenerPort('http-proxy'),
      'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n',
      (g) => g.includes('\r\n\r\n'),
    );
    expect(refused).toMatch(/^HTTP\/1\.1 502/);
  });
});
