/**
 * The one place @peculiar/x509 is loaded. It needs a Reflect polyfill evaluated before it and a
 * WebCrypto provider set once; both sides of the CA protocol (the control plane's CA and the proxy's
 * CA client) go through `loadX509()`, so neither pays for it until it first handles a certificate.
 */
import { webcrypto } from 'node:crypto';

/** WebCrypto types from node (the build has no DOM lib). */
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
export type EcKeyAlgorithm = webcrypto.EcKeyAlgorithm;
export type RsaHashedKeyAlgorithm = webcrypto.RsaHashedKeyAlgorithm;

/** The @peculiar/x509 module. */
export type X509Module = typeof import('@peculiar/x509');

/** ECDSA P-256 with SHA-256: the only key and signature algorithm the mesh issues. */
export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

let loaded: Promise<X509Module> | undefined;

/** Loads @peculiar/x509 (with its polyfill and node's WebCrypto) once. */
export function loadX509(): Promise<X509Module> {
  loaded ??= (async () => {
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<X509Module['cryptoProvider']['set']>[0]);
    return x509;
  })();
  return loaded;
}

/** Generates an ECDSA P-256 key pair; `extractable` only where the key must be written to a file. */
export async function generateP256(extractable: boolean): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, extractable, ['sign', 'verify'])) as CryptoKeyPair;
}

/** PKCS#8 PEM of a private key. */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const x509 = await loadX509();
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Imports a PKCS#8 PEM ECDSA P-256 private key for signing. */
export async function privateKeyFromPem(pem: string): Promise<CryptoKey> {
  const x509 = await loadX509();
  const blocks = x509.PemConverter.decodeWithHeaders(pem).filter((b) => b.type === 'PRIVATE KEY');
  const first = blocks[0];
  if (!first) throw new Error('no "PRIVATE KEY" (PKCS#8) block found');
  return webcrypto.subtle.importKey('pkcs8', first.rawData, EC_P256, false, ['sign']);
}

/** Splits a PEM bundle into its CERTIFICATE blocks (each re-encoded as PEM). */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((b) => `${b}\n`) ?? [];
}
