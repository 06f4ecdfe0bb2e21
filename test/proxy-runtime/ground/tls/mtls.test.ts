/** Two sidecars with mTLS between them: SPIFFE identity checks, ALPN (http/1.1 for HTTP/1.1, h2 for gRPC), TCP over mTLS, rotation, handshake timeout. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect, createServer as createNetServer } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeTestCa, makeTestLeaf } from '../../../support/tls.js';
import { StaticIdentitySource } from '../../../../src/proxy-runtime/ground/tls/identity.js';
import { admin, closeAfter, eventually, metricValue, send, startProxy, startUpstream } from '../../support.js';
import { client as grpcClient, startGrpcServer, unary } from '../../grpc-support.js';

const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/productpage';
const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/reviews';
let dir: string;
let testCa: Awaited<ReturnType<typeof makeTestCa>>;
let files: Record<
  'ca' | 'clientCert' | 'clientKey' | 'serverCert' | 'serverKey' | 'otherCert' | 'otherKey' | 'otherCa',
  string
>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mtls-'));
  const ca = await makeTestCa();
  testCa = ca;
  const other = await makeTestCa('someone else');
  const client = await makeTestLeaf(ca, { uri: [CLIENT_ID] });
  const server = await makeTestLeaf(ca, { uri: [SERVER_ID] });
  const stranger = await makeTestLeaf(other, { uri: [CLIENT_ID] });
  const w = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  files = {
    ca: w('ca.pem', ca.cert),
    clientCert: w('client.pem', client.cert),
    clientKey: w('client.key', client.key),
    serverCert: w('server.pem', server.cert),
    serverKey: w('server.key', server.key),
    otherCert: w('other.pem', stranger.cert),
    otherKey: w('other.key', stranger.key),
    otherCa: w('other-ca.pem', other.cert),
  };
});

function serverSidecar(appPort: number, tcpPort: number, opts: { tls?: string } = {}) {
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
        chains: [{ routeConfig: 'inbound', tcpCluster: 'app-tcp', tls: opts.tls ?? 'strict' }],
      },
    ],
    routes: [
      { name: 'inbound', virtualHosts: [{ name: 'app', domains: ['*'], routes: [{ route: [{ cluster: 'app' }] }] }] },
    ],
    clusters: [
      { name: 'app', endpoints: [{ address: '127.0.0.1', port: appPort }] },
      { name: 'app-tcp', endpoints: [{ address: '127.0.0.1', port: tcpPort }] },
    ],
  };
}

function clientSidecar(
  inboundPort: number,
  expected: string,
  identity = { certChain: files.clientCert, privateKey: files.clientKey, trustRoots: files.ca },
) {
  const ep = {
    address: '127.0.0.1',
    port: inboundPort,
    identity: expected,
    labels: { app: 'reviews', version: 'v1', namespace: 'default' },
  };
  return {
    apiVersion: 'proxy.meshctl.dev/v1',
    version: 'client-1',
    node: { workload: 'productpage-v1', namespace: 'default', labels: { app: 'productpage', version: 'v1' } },
    identity,
    listeners: [
      { name: 'out', port: 0, direction: 'outbound', chains: [{ routeConfig: 'out' }] },
      { name: 'out-tcp', port: 0, direction: 'outbound', chains: [{ protocol: 'tcp', tcpCluster: 'reviews' }] },
    ],
    routes: [
      {
        name: 'out',
        virtualHosts: [{ name: 'reviews', domains: ['*'], routes: [{ route: [{ cluster: 'reviews' }] }] }],
      },
    ],
    clusters: [{ name: 'reviews', service: 'reviews.default.svc.cluster.local', tls: 'mutual', endpoints: [ep] }],
  };
}

async function tcpEcho(): Promise<number> {
  const s = createNetServer((c) => c.on('data', (d) => c.write(`echo:${d.toString()}`)));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  closeAfter({ close: () => new Promise<void>((r) => s.close(() => r())) });
  return (s.address() as { port: number }).port;
}

describe('mTLS between sidecars', () => {
  it('carries HTTP/1.1 over pooled mTLS HTTP/1.1 connections (ALPN http/1.1), and the server side labels the caller by SPIFFE ID', async () => {
    const connections = new Set<unknown>();
    const app = await startUpstream('reviews', (req, res) => {
      connections.add(req.socket);
      res.end(`reviews ${req.httpVersion}`);
    });
    const server = await startProxy(serverSidecar(app.port, await tcpEcho()));
    const client = await startProxy(clientSidecar(server.proxy.listenerPort('inbound'), SERVER_ID));
    // one after the other: one kept-alive mTLS connection between the sidecars carries them all
    for (let i = 0; i < 5; i++)
      expect(await send(client.proxy.listenerPort('out'), { host: 'reviews:9080' })).toMatchObject({
        status: 200,
        body: 'reviews 1.1',
      });
    expect((await admin<{ name: string; connections: number }[]>(server.proxy, '/listeners'))[0]!.connections).toBe(1);
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => send(client.proxy.listenerPort('out'), { host: 'reviews:9080' })),
    );
    expect(replies.every((r) => r.status === 200 && r.body === 'reviews 1.1')).toBe(true);
    const inbound = await admin<{ name: string; connections: number }[]>(server.proxy, '/listeners');
    expect(inbound[0]!.connections).toBeGreaterThanOrEqual(1);
    expect(inbound[0]!.connections).toBeLessThanOrEqual(5);
    const serverLog = server.accessLog();
    expect(serverLog.at(-1)).toMatchObject({ protocol: 'HTTP/1.1', response_code: 200 });
    const labels = {
      reporter: 'destination',
      source_principal: CLIENT_ID,
      source_workload: 'productpage-v1',
      connection_security_policy: 'mutual_tls',
      destination_app: 'reviews',
    };
    expect(await metricValue(server.proxy, 'istio_requests_total', labels)).toBe(10);
    expect(
      await metricValue(client.proxy, 'istio_requests_total', {
        reporter: 'source',
        destination_principal: SERVER_ID,
        destination_service: 'reviews.default.svc.cluster.local',
      }),
    ).toBe(10);
    // The peer-metadata header is consumed by the server sidecar, never seen by the app.
    expect(app.seen[0]!.headers['x-meshctl-peer-metadata']).toBeUndefined();
    expect(app.seen[0]!.headers['x-meshctl-orig-proto']).toBeUndefined();
  });

  it('refuses a peer whose SPIFFE ID is not the expected one (503 UF, nothing reaches the app)', async () => {
    const app = await startUpstream('reviews');
    const server = await startProxy(serverSidecar(app.port, await tcpEcho()));
    const client = await startProxy(
      clientSidecar(server.proxy.listenerPort('inbound'), 'spiffe://cluster.local/ns/default/sa/ratings'),
    );
    const r = await send(client.proxy.listenerPort('out'));
    expect(r.status).toBe(503);
    expect(client.accessLog().at(-1)).toMatchObject({ response_flags: 'UF' });
    expect(app.seen).toHaveLength(0);
  });

  it('gives up on a peer that accepts TCP but never completes the handshake after connectTimeout (503 UF)', async () => {
    const silent: unknown[] = [];
    const blackhole = createNetServer((c) => {
      silent.push(c);
      c.on('error', () => undefined);
    });
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', () => r()));
    closeAfter({
      close: () =>
        new Promise<void>((r) => {
          for (const c of silent) (c as { destroy(): void }).destroy();
          blackhole.close(() => r());
        }),
    });
    const cfg = clientSidecar((blackhole.address() as { port: number }).port, SERVER_ID);
    cfg.clusters[0] = {
      ...cfg.clusters[0]!,
      connectionPool: { tcp: { connectTimeout: '200ms' } },
    } as (typeof cfg.clusters)[0];
    const client = await startProxy(cfg);
    const r = await send(client.proxy.listenerPort('out'));
    expect(r.status).toBe(503);
    expect(r.body).toContain('connection failure');
    expect(client.accessLog().at(-1)).toMatchObject({ response_code: 503, response_flags: 'UF' });
    // the TCP connection was made: what timed out is the handshake the peer never answered
    expect(silent.length).toBeGreaterThanOrEqual(1);
  });

  it('refuses clients with a certificate from another CA, and plaintext on a strict port', async () => {
    const app = await startUpstream('reviews');
    const server = await startProxy(serverSidecar(app.port, await tcpEcho()));
    const stranger = await startProxy(
      clientSidecar(server.proxy.listenerPort('inbound'), SERVER_ID, {
        certChain: files.otherCert,
        privateKey: files.otherKey,
        trustRoots: files.ca,
      }),
    );
    expect((await send(stranger.proxy.listenerPort('out'))).status).toBe(503);
    const plain = await send(server.proxy.listenerPort('inbound')).catch((e: Error) => e);
    expect(plain).toBeInstanceOf(Error);
    expect(app.seen).toHaveLength(0);
  });

  it('accepts plaintext on a permissive port (connection_security_policy none)', async () => {
    const app = await startUpstream('reviews');
    const server = await startProxy(serverSidecar(app.port, await tcpEcho(), { tls: 'permissive' }));
    expect((await send(server.proxy.listenerPort('inbound'))).body).toBe('reviews');
    expect(await metricValue(server.proxy, 'istio_requests_total', { connection_security_policy: 'none' })).toBe(1);
  });

  it('carries opaque TCP over mTLS (ALPN meshctl-tcp)', async () => {
    const app = await startUpstream('reviews');
    const server = await startProxy(serverSidecar(app.port, await tcpEcho()));
    const client = await startProxy(clientSidecar(server.proxy.listenerPort('inbound'), SERVER_ID));
    const got = await new Promise<string>((resolve, reject) => {
      const s = netConnect(client.proxy.listenerPort('out-tcp'), '127.0.0.1');
      s.on('data', (d) => {
        resolve(d.toString());
        s.destroy();
      });
      s.on('error', reject);
      s.write('raw-bytes');
    });
    expect(got).toBe('echo:raw-bytes');
  });

  it('carries gRPC (h2 end to end, trailers and error statuses) through both sidecars', async () => {
    const grpcPort = await startGrpcServer();
    const server = await startProxy(serverSidecar(grpcPort, await tcpEcho()));
    const client = await startProxy(clientSidecar(server.proxy.listenerPort('inbound'), SERVER_ID));
    const c = grpcClient(client.proxy.listenerPort('out'));
    const ok = await unary(c, 'Echo', 'across');
    expect(ok.err).toBeNull();
    expect(ok.value).toBe('echo:across');
    expect(ok.trailers?.get('x-served')).toEqual(['yes']);
    const failed = await unary(c, 'Fail', 'x');
    expect(failed.err?.code).toBe(5);
    expect(
      await metricValue(server.proxy, 'istio_requests_total', {
        request_protocol: 'grpc',
        grpc_response_status: '0',
        source_principal: CLIENT_ID,
      }),
    ).toBe(1);
    // gRPC stays HTTP/2 between the sidecars (HTTP/1.1 traffic is what goes as HTTP/1.1)
    expect(server.accessLog().every((l) => l.protocol === 'HTTP/2')).toBe(true);
  });

  it('carries WebSocket upgrades over mTLS (ALPN http/1.1) to the app', async () => {
    const { createServer } = await import('node:http');
    const app = createServer((_req, res) => res.end('plain'));
    app.on('upgrade', (req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString()}`));
      socket.on('end', () => socket.end());
      void req;
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
    closeAfter({
      close: () =>
        new Promise<void>((r) => {
          app.closeAllConnections();
          app.close(() => r());
        }),
    });
    const server = await startProxy(serverSidecar((app.address() as { port: number }).port, await tcpEcho()));
    const client = await startProxy(clientSidecar(server.proxy.listenerPort('inbound'), SERVER_ID));
    const got = await new Promise<string>((resolve, reject) => {
      const s = netConnect(client.proxy.listenerPort('out'), '127.0.0.1');
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString();
        if (buf.includes('\r\n\r\n') && !buf.includes('echo:')) s.write('hello');
        if (buf.includes('echo:hello')) {
          s.destroy();
          resolve(buf);
        }
      });
      s.on('error', reject);
      s.write(
        'GET /ws HTTP/1.1\r\nHost: reviews\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    expect(got).toMatch(/^HTTP\/1\.1 101/);
    expect(got).toContain('echo:hello');
  });

  it('rotates the certificate without failing requests in flight; new connections use the new certificate', async () => {
    const held: (() => void)[] = [];
    const app = await startUpstream('reviews', (req, res) => {
      if (req.url === '/hold') held.push(() => res.end('held-done'));
      else res.end('ok');
    });
    const server = await startProxy(serverSidecar(app.port, await tcpEcho()));
    const source = new StaticIdentitySource({
      certChain: files.clientCert,
      privateKey: files.clientKey,
      trustRoots: files.ca,
    });
    closeAfter(source);
    const client = await startProxy(clientSidecar(server.proxy.listenerPort('inbound'), SERVER_ID), {
      identitySource: source,
    });
    const before = await admin<{ identity: { serialNumber: string } }>(client.proxy, '/certs');
    const inFlight = send(client.proxy.listenerPort('out'), { path: '/hold' });
    await eventually(() => held.length === 1, 'request reached the app');
    const fresh = await makeTestLeaf(testCa, { uri: [CLIENT_ID] });
    writeFileSync(files.clientCert, fresh.cert);
    writeFileSync(files.clientKey, fresh.key);
    source.reload();
    await eventually(
      async () =>
        (await admin<{ identity: { serialNumber: string } }>(client.proxy, '/certs')).identity.serialNumber !==
        before.identity.serialNumber,
      'new cert in /certs',
    );
    for (let i = 0; i < 5; i++) expect((await send(client.proxy.listenerPort('out'))).status).toBe(200);
    held[0]!();
    expect(await inFlight).toMatchObject({ status: 200, body: 'held-done' });
    const expiry = await metricValue(client.proxy, 'meshctl_proxy_certificate_expiry_timestamp_seconds', {
      spiffe_id: CLIENT_ID,
    });
    expect(expiry).toBeGreaterThan(Date.now() / 1000);
  });
});
