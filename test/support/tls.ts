/** Test certificates made at test time: a CA and leaf certificates signed by it (ECDSA P-256). */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** PEM-encoded certificate and PKCS#8 key. */
export interface PemPair {
  cert: string;
  key: string;
}

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** A self-signed test CA. */
export async function makeTestCa(
  name = 'meshctl test CA',
): Promise<PemPair & { keys: CryptoKeyPair; certificate: x509.X509Certificate }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert: certificate.toString('pem'), key: await keyPem(keys.privateKey), keys, certificate };
}

/**
 * A leaf certificate for the given DNS names, IPs and URIs (e.g. SPIFFE IDs), signed by `ca`;
 * `validity` sets its period (default: from a minute ago for a day; in the past for an expired one).
 */
export async function makeTestLeaf(
  ca: { keys: CryptoKeyPair; certificate: x509.X509Certificate },
  sans: { dns?: string[]; ip?: string[]; uri?: string[] },
  validity: { notBefore: Date; notAfter: Date } = {
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
  },
): Promise<PemPair> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const names = [
    ...(sans.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(sans.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(sans.uri ?? []).map((value) => ({ type: 'url' as const, value })),
  ];
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: Date.now().toString(16),
    subject: 'CN=test',
    issuer: ca.certificate.subject,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    signingKey: ca.keys.privateKey,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.SubjectAlternativeNameExtension(names),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    ],
  });
  return { cert: certificate.toString('pem'), key: await keyPem(keys.privateKey) };
}
