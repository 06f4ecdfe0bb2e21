/**
 * Make-before-break across a certificate renewal, on both upstream pools, with real TLS: a peer
 * whose new handshakes fail (its certificate expired, as after a CA outage) keeps being served
 * over the connection authenticated before; once the peer holds a valid certificate again, a
 * connection made with the client's new certificate replaces the old one, which closes. Nothing
 * that x509 refuses is accepted: the expired peer's handshakes do fail, and a pool with no older
 * connection to fall back on fails the request.
 */
import { EventEmitter } from 'node:events';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EndpointHealth, type Endpoint } from '../../../../src/proxy-runtime/ground/endpoint.js';
import { H2Pool } from '../../../../src/proxy-runtime/upstream/pool/h2-pool.js';
import { FastH1Pool } from '../../../../src/proxy-runtime/upstream/pool/h1-pool.js';
import { MeshTls } from '../../../../src/proxy-runtime/ground/tls/contexts.js';
import type { IdentityMaterial, IdentitySource } from '../../../../src/proxy-runtime/ground/tls/identity.js';
import type { ProxyResponse } from '../../../../src/proxy-runtime/ground/types.js';
import { makeTestCa, makeTestLeaf, type PemPair } from '../../../support/tls.js';

const SERVER_ID = 'spiffe://cluster.local/ns/default/sa/reviews';
const CLIENT_ID = 'spiffe://cluster.local/ns/default/sa/productpage';

type Ca = Awaited<ReturnType<typeof makeTestCa>>;
let ca: Ca;
let expiredServer: PemPair;

beforeAll(async () => {
  ca = await makeTestCa();
  const hourAgo = Date.now() - 3_600_000;
  expiredServer = await makeTestLeaf(
    ca,
    { uri: [SERVER_ID] },
    { notBefore: new Date(hourAgo - 60_000), notAfter: new Date(hourAgo) },
  );
});

/** The client's identity: `renew()` swaps in a new certificate and emits 'rotated', as the CA client does. */
class RenewableIdentity extends EventEmitter implements IdentitySource {
  constructor(private material: IdentityMaterial) {
    super();
  }
  current(): IdentityMaterial {
    return this.material;
  }
  async renew(): Promise<void> {
    const leaf = await makeTestLeaf(ca, { uri: [CLIENT_ID] });
    this.material = { certChain: leaf.cert, privateKey: leaf.key, trustRoots: ca.cert };
    this.emit('rotated');
  }
  close(): void {}
}

/** A peer sidecar's inbound mTLS port (HTTP/1.1 and h2): answers with the number of the TLS connection it came on. */
interface Peer {
  readonly server: Http2SecureServer;
  readonly port: number;
  readonly sockets: TLSSocket[];
  useCertificate(p: PemPair): void;
}

async function startPeer(): Promise<Peer> {
  const valid = await makeTestLeaf(ca, { uri: [SERVER_ID] });
  const sockets: TLSSocket[] = [];
  const server = createSecureServer(
    { cert: valid.cert, key: valid.key, ca: ca.cert, requestCert: true, rejectUnauthorized: true, allowHTTP1: true },
    // The number of the TLS connection (h2 hands out a proxy of the socket: the property reads through).
    (req, res) => res.end(String((req.socket as TLSSocket & { connectionNumber?: number }).connectionNumber)),
  );
  server.on('secureConnection', (s: TLSSocket) => {
    (s as TLSSocket & { connectionNumber?: number }).connectionNumber = sockets.length;
    sockets.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    sockets,
    useCertificate: (p) => server.setSecureContext({ cert: p.cert, key: p.key, ca: ca.cert }),
  };
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function body(r: ProxyResponse): Promise<string> {
  let out = '';
  for await (const chunk of r.body as AsyncIterable<Buffer>) out += chunk.toString();
  return out;
}

async function eventually(fn: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const kind of ['h1', 'h2'] as const) {
  describe(`${kind} pool, certificate renewed while the peer's has expired`, () => {
    async function setUp() {
      const peer = await startPeer();
      const first = await makeTestLeaf(ca, { uri: [CLIENT_ID] });
      const identity = new RenewableIdentity({ certChain: first.cert, privateKey: first.key, trustRoots: ca.cert });
      const mesh = new MeshTls(identity);
      const options = { maxRequestsPerConnection: 0, idleTimeoutMs: 60_000, connectTimeoutMs: 10_000, mesh };
      const pool = kind === 'h1' ? new FastH1Pool({ ...options, maxConnections: Infinity }) : new H2Pool(options);
      mesh.onRotate(() => pool.renew());
      cleanups.push(() => {
        pool.close();
        peer.server.close();
        for (const s of peer.sockets) s.destroy();
      });
      const ep: Endpoint = {
        key: `127.0.0.1:${peer.port}`,
        address: '127.0.0.1',
        port: peer.port,
        weight: 1,
        labels: {},
        identity: SERVER_ID,
        mtls: true,
        health: new EndpointHealth(),
      };
      const get = async (): Promise<{ status: number; connection: number }> => {
        const r = await pool.send(
          ep,
          { method: 'GET', path: '/', authority: 'reviews', scheme: 'http', headers: {} },
          null,
        ).response;
        return { status: r.status, connection: Number(await body(r)) };
      };
      return { peer, identity, pool, get };
    }

    it('serves every request on the connection made before, then replaces it once the peer is valid again', async () => {
      const { peer, identity, get } = await setUp();
      expect(await get()).toEqual({ status: 200, connection: 0 });
      peer.useCertificate(expiredServer);
      await identity.renew();
      // The new certificate cannot connect yet (the peer's has expired): connection 0 serves on.
      for (let i = 0; i < 20; i++) expect(await get()).toEqual({ status: 200, connection: 0 });
      const valid = await makeTestLeaf(ca, { uri: [SERVER_ID] });
      peer.useCertificate(valid);
      // Within a retry interval, a connection with the new certificate takes over and the old one closes.
      let failed = 0;
      let last = 0;
      await eventually(async () => {
        const r = await get();
        if (r.status !== 200) failed++;
        last = r.connection;
        return last > 0 && peer.sockets[0]!.destroyed;
      }, 'a new connection replacing the one made before the renewal');
      expect(failed).toBe(0);
      expect(last).toBeGreaterThan(0);
      // The new connection presents the renewed certificate.
      const presented = peer.sockets[last]!.getPeerCertificate();
      expect(presented.raw.toString('base64')).toBe(
        identity
          .current()
          .certChain.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, '')
          .trim(),
      );
    }, 60_000);

    it('fails a request when there is no connection to fall back on: an expired peer is refused', async () => {
      const { peer, get } = await setUp();
      peer.useCertificate(expiredServer);
      await expect(get()).rejects.toThrow(/CERT_HAS_EXPIRED/);
    }, 30_000);
  });
}
