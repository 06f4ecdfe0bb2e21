/**
 * A request the downstream peer cancels (a client sidecar's route timeout resets the h2 stream
 * with RST_STREAM CANCEL) must end on the server sidecar too: access log line with DC, metrics,
 * in-flight gauge back to 0, and the request to the app aborted so its socket is released.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeTestCa, makeTestLeaf } from '../../support/tls.js';
import { eventually, metricValue, send, startProxy, startUpstream } from '../support.js';
import type { Proxy } from '../../../src/proxy-runtime/proxy.js';

const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/productpage';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/reviews';
let files: Record<'ca' | 'clientCert' | 'clientKey' | 'serverCert' | 'serverKey', string>;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'peer-cancel-'));
  const ca = await makeTestCa();
  const client = await makeTestLeaf(ca, { uri: [CLIENT_ID] });
  const server = await makeTestLeaf(ca, { uri: [SERVER_ID] });
  const w = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  files = {
    ca: w('ca.pem', ca.cert),
    clientCert: w('c.pem', client.cert),
    clientKey: w('c.key', client.key),
    serverCert: w('s.pem', server.cert),
    serverKey: w('s.key', server.key),
  };
});

function serverSidecar(appPort: number): Record<string, unknown> {
  return {
    apiVersion: 'proxy.meshctl.dev/v1',
    version: 'server-1',
    node: { workload: 'reviews-v1', namespace: 'default', labels: { app: 'reviews', version: 'v1' } },
    identity: { certChain: files.serverCert, privateKey: files.serverKey, trustRoots: files.ca },
    listeners: [
      {
        name: 'inbound',
        address: '127.0.0.1',
        port: 0,
        direction: 'inbound',
        chains: [{ routeConfig: 'inbound', tls: 'strict' }],
      },
    ],
    routes: [
      { name: 'inbound', virtualHosts: [{ name: 'app', domains: ['*'], routes: [{ route: [{ cluster: 'app' }] }] }] },
    ],
    clusters: [{ name: 'app', endpoints: [{ address: '127.0.0.1', port: appPort }] }],
  };
}

function clientSidecar(inboundPort: number, timeout: string, protocol: 'auto' | 'http2'): Record<string, unknown> {
  return {
    apiVersion: 'proxy.meshctl.dev/v1',
    version: 'client-1',
    node: { workload: 'productpage-v1', namespace: 'default', labels: { app: 'productpage', version: 'v1' } },
    identity: { certChain: files.clientCert, privateKey: files.clientKey, trustRoots: files.ca },
    listeners: [{ name: 'out', port: 0, direction: 'outbound', chains: [{ routeConfig: 'out' }] }],
    routes: [
      {
        name: 'out',
        virtualHosts: [{ name: 'reviews', domains: ['*'], routes: [{ timeout, route: [{ cluster: 'reviews' }] }] }],
      },
    ],
    clusters: [
      {
        name: 'reviews',
        service: 'reviews.default.svc.cluster.local',
        tls: 'mutual',
        protocol,
        endpoints: [
          {
            address: '127.0.0.1',
            port: inboundPort,
            identity: SERVER_ID,
            labels: { app: 'reviews', version: 'v1', namespace: 'default' },
          },
        ],
      },
    ],
  };
}

/** The proxy's own in-flight gauge, as the admin /stats page shows it. */
async function activeRequests(proxy: Proxy): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${proxy.adminPort}/stats`)).text();
  const line = text.split('\n').find((l) => l.startsWith('meshctl_proxy_active_requests '));
  if (!line) throw new Error(`no meshctl_proxy_active_requests in /stats:\n${text}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

// Between the sidecars: HTTP/1.1 over mTLS (the default for HTTP/1.1 traffic: the cancel is the
// connection closing) and h2 (a cluster pinned to http2: the cancel is RST_STREAM CANCEL).
describe.each([
  { between: 'auto' as const, protocol: 'HTTP/1.1' },
  { between: 'http2' as const, protocol: 'HTTP/2' },
])('a request cancelled by the downstream peer ($protocol between the sidecars)', ({ between, protocol }) => {
  it('ends on the server sidecar after the client sidecar times out: DC logged, in-flight 0, app request aborted', async () => {
    let appSawAbort = false;
    const app = await startUpstream('reviews', (req, res) => {
      res.on('close', () => {
        if (!res.writableFinished) appSawAbort = true;
      });
      // Answers far later than the client's route timeout (the test never waits for it).
      const t = setTimeout(() => res.end('late'), 10_000);
      res.on('close', () => clearTimeout(t));
      void req;
    });
    const server = await startProxy(serverSidecar(app.port));
    const client = await startProxy(clientSidecar(server.proxy.listenerPort('inbound'), '200ms', between));
    const r = await send(client.proxy.listenerPort('out'), { host: 'reviews:9080', path: '/slow' });
    expect(r.status).toBe(504);
    expect(client.accessLog().at(-1)).toMatchObject({ response_code: 504, response_flags: 'UT' });
    await eventually(
      () => server.accessLog().some((l) => l.path === '/slow'),
      'the server sidecar logs the cancelled request',
    );
    expect(server.accessLog().find((l) => l.path === '/slow')).toMatchObject({
      protocol,
      response_flags: 'DC',
      upstream_cluster: 'app',
    });
    expect(await activeRequests(server.proxy)).toBe(0);
    expect(
      await metricValue(server.proxy, 'istio_requests_total', {
        reporter: 'destination',
        response_flags: 'DC',
        source_principal: CLIENT_ID,
      }),
    ).toBe(1);
    await eventually(() => appSawAbort, 'the app sees its request aborted');
  });

  it('ends on the server sidecar when the client goes away in the middle of the response body', async () => {
    let appSawAbort = false;
    const app = await startUpstream('reviews', (_req, res) => {
      res.on('close', () => {
        if (!res.writableFinished) appSawAbort = true;
      });
      // The body starts and never ends: only the client going away can finish this request.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk');
    });
    const server = await startProxy(serverSidecar(app.port));
    const client = await startProxy(clientSidecar(server.proxy.listenerPort('inbound'), '5s', between));
    const firstChunk = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port: client.proxy.listenerPort('out'),
          path: '/stream',
          headers: { host: 'reviews:9080' },
          agent: false,
        },
        (res) => {
          res.once('data', (c: Buffer) => {
            resolve(c.toString());
            req.destroy();
          });
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code !== 'ECONNRESET') reject(e);
      });
      req.end();
    });
    expect(firstChunk).toBe('first chunk');
    await eventually(
      () => server.accessLog().some((l) => l.path === '/stream'),
      'the server sidecar logs the abandoned response',
    );
    expect(server.accessLog().find((l) => l.path === '/stream')).toMatchObject({
      protocol,
      response_code: 200,
      response_flags: 'DC',
    });
    expect(client.accessLog().find((l) => l.path === '/stream')).toMatchObject({
      response_code: 200,
      response_flags: 'DC',
    });
    expect(await activeRequests(server.proxy)).toBe(0);
    expect(await activeRequests(client.proxy)).toBe(0);
    await eventually(() => appSawAbort, 'the app sees its response abandoned');
  });
});
