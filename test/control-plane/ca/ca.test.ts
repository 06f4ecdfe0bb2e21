/** The mesh CA: root creation and storage, user-supplied CAs, CSR signing, local token credentials. */
import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { X509Certificate, webcrypto } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import {
  CertificateAuthority,
  FileCaStorage,
  LocalTokenAuthenticator,
  loadOrCreateCa,
} from '../../../src/control-plane/ca/index.js';
import { EC_P256, loadX509, privateKeyToPem } from '../../../src/protocol/pki/x509.js';
import { MeshError } from '../../../src/errors.js';

type CryptoKey = import('node:crypto').webcrypto.CryptoKey;
type CryptoKeyPair = import('node:crypto').webcrypto.CryptoKeyPair;

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'meshctl-ca-'));
}

/** A real CSR asking for names the CA must ignore; returns it with its key. */
async function makeCsr(
  opts: { uri?: string; dns?: string } = {},
): Promise<{ csrPem: string; keyPem: string; keys: webcrypto.CryptoKeyPair }> {
  await loadX509();
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const names = [
    ...(opts.uri ? [{ type: 'url' as const, value: opts.uri }] : []),
    ...(opts.dns ? [{ type: 'dns' as const, value: opts.dns }] : []),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=whoever-i-claim',
    keys: keys as unknown as CryptoKeyPair,
    signingAlgorithm: EC_P256,
    extensions: names.length ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return { csrPem: csr.toString('pem'), keyPem: await privateKeyToPem(keys.privateKey), keys };
}

function mode(s: { mode: number }): number {
  return s.mode & 0o777;
}

describe('root CA', () => {
  it('is created on first start as a self-signed ECDSA P-256 CA valid ~10 years, kept in 0600 files, and reused on restart', async () => {
    const dir = await tempDir();
    const storage = new FileCaStorage(join(dir, 'ca'));
    const ca = await loadOrCreateCa({ storage });
    expect(ca.origin).toBe('created');
    expect(mode(await stat(storage.keyPath))).toBe(0o600);
    expect(mode(await stat(storage.certPath))).toBe(0o600);
    expect(mode(await stat(join(dir, 'ca')))).toBe(0o700);

    const root = new X509Certificate(await readFile(storage.certPath));
    expect(root.ca).toBe(true);
    expect(root.checkIssued(root)).toBe(true);
    expect(root.verify(root.publicKey)).toBe(true);
    expect(root.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const years = (Date.parse(root.validTo) - Date.now()) / (365.25 * 86_400_000);
    expect(years).toBeGreaterThan(9.9);
    expect(years).toBeLessThan(10.1);

    const again = await loadOrCreateCa({ storage });
    expect(again.origin).toBe('stored');
    expect(again.rootPem).toBe(ca.rootPem);
  });

  it('accepts a user-supplied intermediate (cert chain + key) and issues chains up to the user root', async () => {
    const x = await loadX509();
    const rootKeys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const userRoot = await x.X509CertificateGenerator.createSelfSigned({
      serialNumber: '0a',
      name: 'CN=corp root',
      keys: rootKeys as unknown as CryptoKeyPair,
      signingAlgorithm: EC_P256,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 365 * 86_400_000),
      extensions: [
        new x.BasicConstraintsExtension(true, undefined, true),
        new x.KeyUsagesExtension(x.KeyUsageFlags.keyCertSign, true),
      ],
    });
    const interKeys = (await webcrypto.subtle.generateKey(EC_P256, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const inter = await x.X509CertificateGenerator.create({
      serialNumber: '0b',
      subject: 'CN=mesh intermediate',
      issuer: userRoot.subject,
      publicKey: interKeys.publicKey as unknown as CryptoKey,
      signingKey: rootKeys.privateKey as unknown as CryptoKey,
      signingAlgorithm: EC_P256,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 300 * 86_400_000),
      extensions: [
        new x.BasicConstraintsExtension(true, 0, true),
        new x.KeyUsagesExtension(x.KeyUsageFlags.keyCertSign, true),
      ],
    });
    const dir = await tempDir();
    const certFile = join(dir, 'ca-chain.pem');
    const keyFile = join(dir, 'ca-key.pem');
    await writeFile(certFile, `${inter.toString('pem')}\n${userRoot.toString('pem')}\n`);
    await writeFile(keyFile, await privateKeyToPem(interKeys.privateKey));

    const ca = await loadOrCreateCa({
      storage: new FileCaStorage(join(dir, 'state')),
      supplied: { certFile, keyFile },
    });
    expect(ca.origin).toBe('supplied');
    const authority = new CertificateAuthority(ca);
    const { csrPem } = await makeCsr();
    const issued = await authority.sign(csrPem, { namespace: 'shop', serviceAccount: 'cart' });
    expect(issued.certChain).toHaveLength(3);
    const [leaf, mid, top] = issued.certChain.map((p) => new X509Certificate(p));
    expect(leaf!.checkIssued(mid!)).toBe(true);
    expect(leaf!.verify(mid!.publicKey)).toBe(true);
    expect(mid!.verify(top!.publicKey)).toBe(true);
    expect(top!.fingerprint256).toBe(new X509Certificate(userRoot.toString('pem')).fingerprint256);
    expect(authority.rootPem).toContain(userRoot.toString('base64').slice(0, 40));
  });

  it('refuses a supplied key that does not belong to the certificate, and a leaf posing as a CA, naming the files', async () => {
    const dir = await tempDir();
    const storage = new FileCaStorage(join(dir, 'a'));
    await loadOrCreateCa({ storage });
    const otherKey = join(dir, 'other-key.pem');
    const { keyPem } = await makeCsr();
    await writeFile(otherKey, keyPem);
    const err = await loadOrCreateCa({
      storage: new FileCaStorage(join(dir, 'b')),
      supplied: { certFile: storage.certPath, keyFile: otherKey },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeshError);
    expect((err as MeshError).message).toContain(storage.certPath);
    expect((err as MeshError).message).toContain('does not match');

    // A workload certificate is not a CA.
    const authority = new CertificateAuthority(await loadOrCreateCa({ storage }));
    const csr = await makeCsr();
    const leaf = await authority.sign(csr.csrPem, { namespace: 'default', serviceAccount: 'web' });
    const leafFile = join(dir, 'leaf.pem');
    const leafKey = join(dir, 'leaf-key.pem');
    await writeFile(leafFile, leaf.certChain[0]!);
    await writeFile(leafKey, csr.keyPem);
    const err2 = await loadOrCreateCa({
      storage: new FileCaStorage(join(dir, 'c')),
      supplied: { certFile: leafFile, keyFile: leafKey },
    }).catch((e: unknown) => e);
    expect((err2 as MeshError).message).toMatch(/leaf\.pem.*not a CA/);
    expect((err2 as MeshError).hint).toBeTruthy();
  });
});

describe('CSR signing', () => {
  it('issues a 24h workload certificate whose only SAN is the authenticated SPIFFE ID, whatever the CSR asks for', async () => {
    const dir = await tempDir();
    const authority = new CertificateAuthority(await loadOrCreateCa({ storage: new FileCaStorage(dir) }));
    const { csrPem } = await makeCsr({
      uri: 'spiffe://cluster.local/ns/kube-system/sa/admin',
      dns: 'bank.example.com',
    });
    const issued = await authority.sign(csrPem, { namespace: 'shop', serviceAccount: 'cart' });
    const leaf = new X509Certificate(issued.certChain[0]!);
    expect(leaf.subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/cart');
    expect(issued.spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/cart');
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    expect(leaf.keyUsage).toHaveLength(2);
    const root = new X509Certificate(authority.rootPem);
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.checkIssued(root)).toBe(true);
    const hours = (Date.parse(leaf.validTo) - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(23.9);
    expect(hours).toBeLessThanOrEqual(24);

    // Key usage digitalSignature + keyEncipherment, read from the extension itself.
    const x = await loadX509();
    const ku = new x.X509Certificate(issued.certChain[0]!).getExtension(x.KeyUsagesExtension);
    expect(ku?.usages).toBe(x.KeyUsageFlags.digitalSignature | x.KeyUsageFlags.keyEncipherment);
  });

  it('honours a requested TTL, capped by the policy maximum', async () => {
    const authority = new CertificateAuthority(await loadOrCreateCa({ storage: new FileCaStorage(await tempDir()) }), {
      defaultTtlSeconds: 3600,
      maxTtlSeconds: 7200,
    });
    const short = await authority.sign((await makeCsr()).csrPem, { namespace: 'default', serviceAccount: 'web' }, 5);
    const leafShort = new X509Certificate(short.certChain[0]!);
    expect(Date.parse(leafShort.validTo) - Date.now()).toBeLessThanOrEqual(5_000);
    const long = await authority.sign(
      (await makeCsr()).csrPem,
      { namespace: 'default', serviceAccount: 'web' },
      10 * 86_400,
    );
    expect(Date.parse(new X509Certificate(long.certChain[0]!).validTo) - Date.now()).toBeLessThanOrEqual(7_200_000);
  });

  it('refuses a CSR whose signature does not verify, and garbage', async () => {
    const authority = new CertificateAuthority(await loadOrCreateCa({ storage: new FileCaStorage(await tempDir()) }));
    const x = await loadX509();
    const { csrPem } = await makeCsr();
    const der = new Uint8Array(x.PemConverter.decodeFirst(csrPem));
    der[der.length - 5] = der[der.length - 5]! ^ 0xff; // flip a byte of the signature
    const tampered = x.PemConverter.encode(der.buffer, 'CERTIFICATE REQUEST');
    await expect(authority.sign(tampered, { namespace: 'default', serviceAccount: 'web' })).rejects.toThrow(
      /signature does not verify|not a PEM/,
    );
    await expect(authority.sign('hello', { namespace: 'default', serviceAccount: 'web' })).rejects.toThrow(
      /not a PEM PKCS#10/,
    );
  });

  it('issues certificates two workloads can use for mutual TLS with each other', async () => {
    const authority = new CertificateAuthority(await loadOrCreateCa({ storage: new FileCaStorage(await tempDir()) }));
    const a = await makeCsr();
    const b = await makeCsr();
    const certA = await authority.sign(a.csrPem, { namespace: 'default', serviceAccount: 'server' });
    const certB = await authority.sign(b.csrPem, { namespace: 'default', serviceAccount: 'client' });
    const server = createServer(
      {
        cert: certA.certChain.join(''),
        key: a.keyPem,
        ca: authority.rootPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (s) => {
        s.end(`hello ${(s.getPeerCertificate() as { subjectaltname?: string }).subjectaltname}`);
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const reply = await new Promise<string>((resolve, reject) => {
      const sock: TLSSocket = connect(
        {
          port,
          host: '127.0.0.1',
          cert: certB.certChain.join(''),
          key: b.keyPem,
          ca: authority.rootPem,
          checkServerIdentity: () => undefined,
        },
        () => undefined,
      );
      let data = '';
      sock.on('data', (d: Buffer) => (data += d.toString()));
      sock.on('end', () => resolve(data));
      sock.on('error', reject);
    });
    server.close();
    expect(reply).toBe('hello URI:spiffe://cluster.local/ns/default/sa/client');
  });
});

describe('local token credentials', () => {
  it('authenticates a token it issued, and refuses a wrong, a revoked and an expired one', async () => {
    const dir = await tempDir();
    const file = join(dir, 'tokens.json');
    const auth = new LocalTokenAuthenticator(file);
    const token = await auth.issue({ namespace: 'shop', serviceAccount: 'cart', workload: 'cart-1' });
    expect(await auth.authenticate(token)).toEqual({ namespace: 'shop', serviceAccount: 'cart', workload: 'cart-1' });

    // A fresh instance (a restarted control plane) reads the stored hashes.
    const restarted = new LocalTokenAuthenticator(file);
    expect((await restarted.authenticate(token)).serviceAccount).toBe('cart');
    await expect(restarted.authenticate(token.slice(0, -2) + 'xx')).rejects.toThrow(/unknown or revoked token/);
    await expect(restarted.authenticate('')).rejects.toThrow(/no credential/);

    const shortLived = await auth.issue({ namespace: 'shop', serviceAccount: 'cart', workload: 'cart-2' }, 1);
    await new Promise((r) => setTimeout(r, 1100));
    await expect(auth.authenticate(shortLived)).rejects.toThrow(/expired/);

    expect(await auth.revoke('shop', 'cart-1')).toBe(1);
    await expect(auth.authenticate(token)).rejects.toThrow(/unknown or revoked/);
  });

  it('stores only hashes, in a 0600 file', async () => {
    const dir = await tempDir();
    const file = join(dir, 'tokens.json');
    const auth = new LocalTokenAuthenticator(file);
    const token = await auth.issue({ namespace: 'default', serviceAccount: 'web', workload: 'web-1' });
    expect(mode(await stat(file))).toBe(0o600);
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.slice(10, 30));
    expect(text).toContain('"workload": "web-1"');
  });
});

describe('CA hygiene', () => {
  it('never writes keys or tokens to its log', async () => {
    const dir = await tempDir();
    const lines: string[] = [];
    const storage = new FileCaStorage(join(dir, 'ca'));
    const ca = await loadOrCreateCa({ storage });
    const authority = new CertificateAuthority(ca, undefined, (l) => lines.push(l));
    const csr = await makeCsr();
    await authority.sign(csr.csrPem, { namespace: 'default', serviceAccount: 'web' });
    const serving = await authority.issueServing(
      { dns: ['localhost'], ips: ['127.0.0.1'] },
      { namespace: 'mesh-system', serviceAccount: 'meshctl-control-plane' },
      3600,
    );
    expect(lines.length).toBe(2);
    const caKeyBody = (await readFile(storage.keyPath, 'utf8')).split('\n').slice(1, 3).join('');
    const log = lines.join('\n');
    expect(log).toContain('spiffe://cluster.local/ns/default/sa/web');
    expect(log).not.toContain('PRIVATE KEY');
    expect(log).not.toContain(caKeyBody.slice(0, 32));
    expect(log).not.toContain(csr.keyPem.split('\n')[1]!.slice(0, 32));
    expect(log).not.toContain(serving.keyPem.split('\n')[1]!.slice(0, 32));
  });
});
