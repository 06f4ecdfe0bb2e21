/**
 * The test cluster's PKI: one CA for everything (serving certs, client certs, SA-token root), client
 * certificates for each component, and the ServiceAccount token signing key. ECDSA P-256 throughout.
 */
import { webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
// @peculiar/x509 needs the Reflect polyfill evaluated before it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 3600_000;

/** A certificate and its key, both PEM. */
export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** A certificate authority able to sign leaf certificates. */
export class TestCa {
  readonly cert: x509.X509Certificate;
  readonly keyPem: string;
  private readonly keys: CryptoKeyPair;

  private constructor(cert: x509.X509Certificate, keys: CryptoKeyPair, keyPem: string) {
    this.cert = cert;
    this.keys = keys;
    this.keyPem = keyPem;
  }

  /** PEM of the CA certificate. */
  get certPem(): string {
    return this.cert.toString('pem');
  }

  /** A fresh self-signed CA. */
  static async create(commonName: string): Promise<TestCa> {
    const keys = (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: `CN=${commonName}`,
      keys,
      signingAlgorithm: alg,
      notBefore: new Date(Date.now() - 3600_000),
      notAfter: new Date(Date.now() + 30 * DAY),
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new TestCa(cert, keys, await keyPem(keys.privateKey));
  }

  /** A leaf for a server (`dns`/`ips` as SANs) and/or a client (`subject` carries CN and O=groups). */
  async issue(opts: {
    subject: string;
    server?: boolean;
    client?: boolean;
    dns?: string[];
    ips?: string[];
  }): Promise<CertAndKey> {
    const keys = (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
    const usages: string[] = [];
    if (opts.server) usages.push(x509.ExtendedKeyUsage.serverAuth);
    if (opts.client) usages.push(x509.ExtendedKeyUsage.clientAuth);
    const names = [
      ...(opts.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(opts.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    const cert = await x509.X509CertificateGenerator.create({
      subject: opts.subject,
      issuer: this.cert.subject,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      signingAlgorithm: alg,
      notBefore: new Date(Date.now() - 3600_000),
      notAfter: new Date(Date.now() + 30 * DAY),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(usages),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
        ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      ],
    });
    return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
  }
}

/** The ServiceAccount token signing key pair, PEM (private PKCS#8, public SPKI). */
export async function serviceAccountKeys(): Promise<{ privatePem: string; publicPem: string }> {
  const keys = (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const spki = await crypto.subtle.exportKey('spki', keys.publicKey);
  return { privatePem: await keyPem(keys.privateKey), publicPem: x509.PemConverter.encode(spki, 'PUBLIC KEY') };
}

/** Writes a secret file readable by root only. */
export function writeSecretFile(dir: string, name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}
