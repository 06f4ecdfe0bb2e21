/**
 * Findings 1, 2 and the upgrade parts of 6: HTTP/1.1 upgrades as Envoy does them, over real
 * sockets, through one proxy and through two sidecars with mTLS.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeTestCa, makeTestLeaf } from '../../support/tls.js';
import { closeAfter, cluster, eventually, simpleConfig, startProxy } from '../support.js';

/** An app: plain requests get `plain <url>`; upgrade requests get 101 and an echo when `accept` says so, else a normal 200. */
async function app(accept: (req: IncomingMessage) => boolean) {
  const seen: { url: string; headers: IncomingMessage['headers']; upgraded: boolean }[] = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers, upgraded: false });
    req.resume();
    req.on('end', () => res.end(`plain ${req.url}`));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    seen.push({ url: req.url ?? '', headers: req.headers, upgraded: accept(req) });
    if (!accept(req)) {
      // Refuses the switch and stays on HTTP/1.1 with keep-alive: a second request on the connection is served.
      socket.end('HTTP/1.1 426 Upgrade Required\r\ncontent-length: 4\r\n\r\nnope');
      return;
    }
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n');
    if (head.length) socket.write(`echo:${head.toString()}`);
    socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString()}`));
    socket.on('end', () => socket.end());
  });
  // Node answers upgrade requests through 'request' when the callback says no: a backend that ignores Upgrade.
  (server as unknown as { shouldUpgradeCallback: (r: IncomingMessage) => boolean }).shouldUpgradeCallback = (r) =>
    r.headers.upgrade !== 'ignored';
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closeAfter({
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
  return { port: (server.address() as { port: number }).port, seen };
}

/** Writes `bytes` on a fresh connection and collects everything until the proxy closes it (or `until` matches). */
function exchange(
  port: number,
  bytes: string,
  until?: RegExp,
  more?: (s: Socket, got: string) => void,
): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    let step = 0;
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (more && step === 0 && /\r\n\r\n/.test(got)) {
        step = 1;
        more(s, got);
      }
      if (until?.test(got)) s.end();
    });
    s.on('error', () => resolve(got));
    s.on('close', () => resolve(got));
    s.write(bytes);
  });
}

const routes = [
  { match: [{ uri: { prefix: '/admin' } }], directResponse: { status: 403, body: 'denied by route' } },
  { route: [{ cluster: 'app' }] },
];

describe('upgrade requests through one proxy', () => {
  it('a refused upgrade is a normal response; the bytes after the head never reach the app (no smuggled request)', async () => {
    const a = await app(() => false);
    const { proxy, accessLog } = await startProxy(simpleConfig({ clusters: [cluster('app', [a.port])], routes }));
    const port = proxy.listenerPort('out');
    for (const upgrade of ['websocket', 'ignored']) {
      const got = await exchange(
        port,
        `GET /ws HTTP/1.1\r\nHost: svc\r\nUpgrade: ${upgrade}\r\nConnection: Upgrade\r\n\r\nGET /admin/secret HTTP/1.1\r\nHost: svc\r\n\r\n`,
      );
      expect(got).toMatch(upgrade === 'websocket' ? /^HTTP\/1\.1 426 / : /^HTTP\/1\.1 200 /);
      expect(got).toMatch(/connection: close/i);
      expect(got).not.toContain('plain /admin');
    }
    expect(a.seen.map((s) => s.url)).toEqual(['/ws', '/ws']);
    expect(accessLog().map((l) => l.response_code)).toEqual([426, 200]);
  });

  it('an accepted upgrade is spliced only after the 101: bytes sent early arrive after it; bytes are logged both ways', async () => {
    const a = await app(() => true);
    const { proxy, accessLog } = await startProxy(simpleConfig({ clusters: [cluster('app', [a.port])], routes }));
    const got = await exchange(
      proxy.listenerPort('out'),
      'GET http://svc/ws?x=1 HTTP/1.1\r\nHost: svc\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nearly',
      /echo:later/,
      (s) => s.write('later'),
    );
    expect(got).toMatch(/^HTTP\/1\.1 101 /);
    expect(got).toContain('echo:early');
    expect(got).toContain('echo:later');
    // The absolute-form target reaches the app in origin form.
    expect(a.seen[0]).toMatchObject({ url: '/ws?x=1', upgraded: true });
    await eventually(() => accessLog().length === 1, 'access log line');
    const line = accessLog()[0]!;
    expect(line).toMatchObject({ response_code: 101, path: '/ws?x=1' });
    expect(line.bytes_received).toBe('earlylater'.length);
    expect(line.bytes_sent).toBe('echo:earlyecho:later'.length);
  });

  it('h2c is never upgraded to: Upgrade: h2c with HTTP2-Settings is served as a plain HTTP/1.1 request', async () => {
    const a = await app(() => true);
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('app', [a.port])], routes }));
    const got = await exchange(
      proxy.listenerPort('out'),
      'GET /h HTTP/1.1\r\nHost: svc\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n',
      /plain \/h/,
    );
    expect(got).toMatch(/^HTTP\/1\.1 200 /);
    expect(got).toContain('plain /h');
    expect(a.seen).toHaveLength(1);
    expect(a.seen[0]!.upgraded).toBe(false);
    expect(a.seen[0]!.headers.upgrade).toBeUndefined();
    expect(a.seen[0]!.headers['http2-settings']).toBeUndefined();
  });

  it('h2c offered among other protocols is removed from the offer', async () => {
    const a = await app(() => true);
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('app', [a.port])], routes }));
    await exchange(
      proxy.listenerPort('out'),
      'GET /ws HTTP/1.1\r\nHost: svc\r\nUpgrade: h2c, websocket\r\nHTTP2-Settings: AAMAAABk\r\nConnection: Upgrade, HTTP2-Settings\r\n\r\n',
      /101/,
    );
    expect(a.seen[0]!.headers.upgrade).toBe('websocket');
    expect(a.seen[0]!.headers['http2-settings']).toBeUndefined();
  });
});

describe('upgrade requests through two sidecars with mTLS', () => {
  const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/productpage';
  const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/reviews';
  let files: Record<'ca' | 'clientCert' | 'clientKey' | 'serverCert' | 'serverKey', string>;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'upgrade-mtls-'));
    const ca = await makeTestCa();
    const c = await makeTestLeaf(ca, { uri: [CLIENT_ID] });
    const s = await makeTestLeaf(ca, { uri: [SERVER_ID] });
    const w = (name: string, text: string): string => {
      const p = join(dir, name);
      writeFileSync(p, text, { mode: 0o600 });
      return p;
    };
    files = {
      ca: w('ca.pem', ca.cert),
      clientCert: w('c.pem', c.cert),
      clientKey: w('c.key', c.key),
      serverCert: w('s.pem', s.cert),
      serverKey: w('s.key', s.key),
    };
  });

  async function mesh(accept: boolean) {
    const a = await app(() => accept);
    const server = await startProxy({
      apiVersion: 'proxy.meshctl.dev/v1',
      node: { workload: 'reviews-v1', namespace: 'default', labels: { app: 'reviews' } },
      identity: { certChain: files.serverCert, privateKey: files.serverKey, trustRoots: files.ca },
      listeners: [
        {
          name: 'inbound',
          address: '127.0.0.1',
          port: 0,
          direction: 'inbound',
          chains: [{ routeConfig: 'in', tls: 'strict' }],
        },
      ],
      routes: [{ name: 'in', virtualHosts: [{ name: 'app', domains: ['*'], routes }] }],
      clusters: [{ name: 'app', endpoints: [{ address: '127.0.0.1', port: a.port }] }],
    });
    const client = await startProxy({
      apiVersion: 'proxy.meshctl.dev/v1',
      node: { workload: 'productpage-v1', namespace: 'default', labels: { app: 'productpage' } },
      identity: { certChain: files.clientCert, privateKey: files.clientKey, trustRoots: files.ca },
      listeners: [{ name: 'out', port: 0, direction: 'outbound', chains: [{ routeConfig: 'out' }] }],
      routes: [
        {
          name: 'out',
          virtualHosts: [{ name: 'reviews', domains: ['*'], routes: [{ route: [{ cluster: 'reviews' }] }] }],
        },
      ],
      clusters: [
        {
          name: 'reviews',
          tls: 'mutual',
          endpoints: [{ address: '127.0.0.1', port: server.proxy.listenerPort('inbound'), identity: SERVER_ID }],
        },
      ],
    });
    return { a, port: client.proxy.listenerPort('out') };
  }

  it('a refused upgrade smuggles nothing past the server sidecar route', async () => {
    const { a, port } = await mesh(false);
    // The app ignores this Upgrade and keeps the connection: exactly the backend a smuggled request needs.
    const got = await exchange(
      port,
      'GET /ws HTTP/1.1\r\nHost: reviews\r\nUpgrade: ignored\r\nConnection: Upgrade\r\n\r\nGET /admin/secret HTTP/1.1\r\nHost: reviews\r\n\r\n',
    );
    expect(got).toMatch(/^HTTP\/1\.1 200 /);
    expect(got).not.toContain('plain /admin');
    expect(a.seen.map((s) => s.url)).toEqual(['/ws']);
  });

  it('an accepted upgrade works end to end, and the app never sees the peer-metadata header', async () => {
    const { a, port } = await mesh(true);
    const got = await exchange(
      port,
      'GET /ws HTTP/1.1\r\nHost: reviews\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello',
      /echo:hello/,
    );
    expect(got).toMatch(/^HTTP\/1\.1 101 /);
    expect(got).toContain('echo:hello');
    expect(a.seen[0]!.upgraded).toBe(true);
    expect(a.seen[0]!.headers['x-meshctl-peer-metadata']).toBeUndefined();
  });
});
