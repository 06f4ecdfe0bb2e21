/** The proxy's CA client against the real CA service over TLS: issuance, refusal, rotation, outages. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { CaIdentitySource } from '../../src/proxy-runtime/runtime/identity/ca-client.js';
import { grpcCertificateSigner } from '../../src/proxy-runtime/runtime/identity/grpc-signer.js';
import { EC_P256, generateP256, loadX509 } from '../../src/protocol/pki/x509.js';
import {
  eventually,
  identityFor,
  startBlackHoleThenForward,
  startTestControlPlane,
  type TestControlPlane,
} from './harness.js';

let cp: TestControlPlane;
beforeAll(async () => {
  cp = await startTestControlPlane();
});
afterAll(async () => {
  await cp.stop();
});

describe('CA service and CA client', () => {
  it('gives a workload with a valid token a certificate for its own SPIFFE identity, with a key made in the proxy', async () => {
    const id = await identityFor(cp, { namespace: 'shop', serviceAccount: 'cart', name: 'cart-1' });
    try {
      const m = id.current();
      const leaf = new X509Certificate(m.certChain);
      expect(leaf.subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/cart');
      expect(leaf.verify(new X509Certificate(m.trustRoots).publicKey)).toBe(true);
      expect(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(m.privateKey))).toBe(true);
      expect(id.status().spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/cart');
      // Half-life of a 24h certificate: about 12h from now.
      const next = Date.parse(id.status().nextRenewalAt!) - Date.now();
      expect(next).toBeGreaterThan(11.9 * 3600_000);
      expect(next).toBeLessThan(12.1 * 3600_000);
    } finally {
      id.close();
    }
  });

  it('a request that times out on a connection never answered is retried on a new connection (a control plane pod gone behind a Service)', async () => {
    const service = await startBlackHoleThenForward(() => cp.address());
    const token = await cp.tokens.issue({ namespace: 'shop', serviceAccount: 'cart', workload: 'cart-2' });
    const signer = await grpcCertificateSigner({
      address: service.address,
      trustRoots: cp.authority.rootPem,
      credential: () => token,
      timeoutMs: 1000,
    });
    const x509 = await loadX509();
    const keys = await generateP256(false);
    const csr = (
      await x509.Pkcs10CertificateRequestGenerator.create({
        keys: keys as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]['keys'],
        signingAlgorithm: EC_P256,
      })
    ).toString('pem');
    try {
      await expect(signer.sign(csr, 600)).rejects.toThrow(`certificate request to ${service.address} failed`);
      expect(service.held()).toBe(1);
      service.forward();
      // Same address: without dropping the hung channel every request would time out on it.
      const chain = await signer.sign(csr, 600);
      expect(new X509Certificate(chain[0]!).subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/cart');
      expect(service.held()).toBe(1);
    } finally {
      signer.close?.();
      await service.close();
    }
  });

  it('refuses a workload whose token the control plane did not issue: no certificate, a clear reason', async () => {
    const signer = await grpcCertificateSigner({
      address: cp.address(),
      trustRoots: cp.authority.rootPem,
      credential: () => 'meshtk_not-a-real-token',
    });
    const err = await CaIdentitySource.start({ signer, trustRoots: cp.authority.rootPem }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/credential rejected: unknown or revoked token/);
    expect(cp.logs.join('\n')).not.toContain('meshtk_not-a-real-token');
  });

  it('rotates at half-life with a new key and keeps the old certificate through a CA outage', async () => {
    const id = await identityFor(cp, { namespace: 'default', serviceAccount: 'web', name: 'web-1' }, 2);
    try {
      const first = id.current();
      await new Promise<void>((resolve) => id.once('rotated', () => resolve()));
      const second = id.current();
      expect(new X509Certificate(second.certChain).serialNumber).not.toBe(
        new X509Certificate(first.certChain).serialNumber,
      );
      expect(second.privateKey).not.toBe(first.privateKey);
      expect(id.status().renewals).toBe(1);

      // The CA goes away: renewals fail, the current material stays (until it expires), then the CA returns.
      await cp.stop();
      const failure = await new Promise<Error>((resolve) => id.once('renewalFailed', resolve));
      expect(failure.message).toMatch(/certificate request to 127\.0\.0\.1:\d+ failed/);
      expect(id.current()).toBe(second);
      await cp.restart();
      await eventually(
        'a rotation after the CA returns',
        () => id.current() !== second && id.status().lastError === undefined,
      );
      expect(new X509Certificate(id.current().certChain).subjectAltName).toBe(
        'URI:spiffe://cluster.local/ns/default/sa/web',
      );
    } finally {
      id.close();
    }
  });
});
