/**
 * The control plane's serving certificate (TLS of the config stream and CA, port 15012) is renewed
 * at half-life: new connections see the new certificate, connected proxies keep their stream and
 * keep receiving config. A 4-second lifetime makes it observable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CertificateAuthority,
  FileCaStorage,
  LocalTokenAuthenticator,
  loadOrCreateCa,
} from '../../src/control-plane/ca/index.js';
import { startMeshServer, type MeshServer } from '../../src/control-plane/stream/server.js';
import { TypeUrl } from '../../src/protocol/stream/messages.js';
import type { CaIdentitySource } from '../../src/proxy-runtime/runtime/identity/ca-client.js';
import { XdsClient } from '../../src/proxy-runtime/runtime/xds-client/client.js';
import { eventually, identityFor, TableSourceForTest, type TestControlPlane } from '../protocol/harness.js';

const SERVER_NAME = 'meshctl-control-plane.mesh-system.svc';

/** The certificate a new TLS connection to the server is shown: serial and expiry. */
async function servingCertificate(port: number, rootPem: string): Promise<{ serial: string; validTo: number }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: SERVER_NAME, ca: rootPem, ALPNProtocols: ['h2'] }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve({ serial: c.serialNumber, validTo: Date.parse(c.valid_to) });
    });
    s.on('error', reject);
  });
}

describe('serving certificate rotation', () => {
  let dir: string;
  let server: MeshServer;
  let authority: CertificateAuthority;
  let identity: CaIdentitySource;
  const logs: string[] = [];
  const source = new TableSourceForTest();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshctl-serving-'));
    authority = new CertificateAuthority(await loadOrCreateCa({ storage: new FileCaStorage(join(dir, 'ca')) }));
    const tokens = new LocalTokenAuthenticator(join(dir, 'tokens.json'));
    server = await startMeshServer({
      host: '127.0.0.1',
      port: 0,
      authority,
      authenticator: tokens,
      source,
      servingTtlSeconds: 4,
      log: (l) => logs.push(l),
    });
    const cpLike = { tokens, authority, address: () => `127.0.0.1:${server.port}` } as unknown as TestControlPlane;
    identity = await identityFor(cpLike, { namespace: 'default', serviceAccount: 'web', name: 'web-1' });
  });
  afterAll(async () => {
    identity.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('renews at half-life without dropping a connected proxy, which keeps getting config', async () => {
    source.set('v1', TypeUrl.clusters, [{ name: 'a' }]);
    const client = new XdsClient({
      address: `127.0.0.1:${server.port}`,
      identity,
      node: {
        id: 'web-1.default',
        workload: 'web-1',
        namespace: 'default',
        serviceAccount: 'web',
        proxyVersion: 'test',
      },
      types: [TypeUrl.clusters],
      apply: () => ({ ok: true }),
      backoff: { initialMs: 50, maxMs: 200 },
    });
    let disconnects = 0;
    client.on('disconnected', () => disconnects++);
    await client.start();
    try {
      await eventually('v1 synced', () => server.ads.views()[0]?.types[TypeUrl.clusters]?.status === 'SYNCED');
      const connectionId = server.ads.views()[0]!.connectionId;
      const first = await servingCertificate(server.port, authority.rootPem);
      expect(first.validTo - Date.now()).toBeLessThanOrEqual(5_000);

      // Two rotations (at ~2 s, then ~2 s later): each new handshake sees a newer certificate.
      await eventually(
        'a rotated certificate',
        () => logs.filter((l) => l.startsWith('serving certificate rotated')).length >= 2,
        15_000,
      );
      const later = await servingCertificate(server.port, authority.rootPem);
      expect(later.serial).not.toBe(first.serial);
      expect(later.validTo).toBeGreaterThan(first.validTo);
      expect(server.servingCertPem).toContain('BEGIN CERTIFICATE');

      // The proxy's stream is the same one, and still carries config, after the first certificate expired.
      await new Promise((r) => setTimeout(r, Math.max(0, first.validTo + 500 - Date.now())));
      source.set('v2', TypeUrl.clusters, [{ name: 'a' }, { name: 'b' }]);
      expect(server.ads.push()).toBe(1);
      await eventually('v2 ACKed', () => server.ads.views()[0]?.types[TypeUrl.clusters]?.ackedVersion === 'v2');
      expect(server.ads.views().map((v) => v.connectionId)).toEqual([connectionId]);
      expect(disconnects).toBe(0);
    } finally {
      client.close();
    }
  });
});
