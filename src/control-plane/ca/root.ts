/**
 * The mesh's signing CA: created on first start (self-signed ECDSA P-256, 10 years) or supplied by
 * the user (a PEM cert, optionally followed by its chain up to the root, and its PKCS#8 key).
 * Whatever its origin, it is checked before use: a CA that cannot sign, whose key does not match,
 * or that has expired stops the control plane with a message naming the file and the fix.
 */
import { randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CaMaterialInvalidError } from '../../errors.js';
import {
  EC_P256,
  generateP256,
  loadX509,
  privateKeyFromPem,
  privateKeyToPem,
  splitPemCertificates,
  type CryptoKey,
  type EcKeyAlgorithm,
} from '../../protocol/pki/x509.js';
import type { X509Certificate } from '@peculiar/x509';
import type { CaMaterialPem, CaStorage } from './storage.js';

/** A CA ready to sign: its certificate, the chain above it, and its key (never exported again). */
export interface SigningCa {
  readonly certificate: X509Certificate;
  /** PEM certificates from the signing CA up to and including the root. */
  readonly chainPem: readonly string[];
  /** PEM of the trust root (the last certificate of the chain). */
  readonly rootPem: string;
  readonly signingKey: CryptoKey;
  /** Where it came from: `created`, `stored` or `supplied`. */
  readonly origin: 'created' | 'stored' | 'supplied';
}

/** Options for a new self-signed root. */
export interface CreateRootOptions {
  readonly commonName?: string;
  readonly validityDays?: number;
  readonly now?: Date;
}

/** Makes a new self-signed ECDSA P-256 root CA; returns its PEM material (to store) and the signer. */
export async function createRootCa(opts: CreateRootOptions = {}): Promise<{ pem: CaMaterialPem; ca: SigningCa }> {
  const x509 = await loadX509();
  const now = opts.now ?? new Date();
  // Extractable: the key must be written to the 0600 file, once, here.
  const keys = await generateP256(true);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: positiveSerial(),
    name: `O=meshctl, CN=${opts.commonName ?? 'meshctl root CA'}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + (opts.validityDays ?? 3650) * 86_400_000),
    keys,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certPem = certificate.toString('pem') + '\n';
  const pem = { certChainPem: certPem, keyPem: await privateKeyToPem(keys.privateKey) };
  // Re-import the key as non-extractable for signing, so nothing in the process can export it later.
  const signingKey = await privateKeyFromPem(pem.keyPem);
  return { pem, ca: { certificate, chainPem: [certPem], rootPem: certPem, signingKey, origin: 'created' } };
}

/** Checks PEM material and turns it into a signer; `subject` names its source in errors. */
export async function signingCaFromPem(
  material: CaMaterialPem,
  subject: string,
  origin: SigningCa['origin'],
  now = new Date(),
): Promise<SigningCa> {
  const x509 = await loadX509();
  const chainPem = splitPemCertificates(material.certChainPem);
  const first = chainPem[0];
  if (!first)
    throw new CaMaterialInvalidError(
      subject,
      'no PEM CERTIFICATE block in the certificate file',
      'give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)',
    );
  let certificate: X509Certificate;
  try {
    certificate = new x509.X509Certificate(first);
  } catch (err) {
    throw new CaMaterialInvalidError(
      subject,
      `the certificate does not parse (${(err as Error).message})`,
      'give a PEM X.509 certificate',
    );
  }
  const nodeCert = new NodeX509(first);
  if (!nodeCert.ca) {
    throw new CaMaterialInvalidError(
      subject,
      'the certificate is not a CA (basicConstraints CA:TRUE is missing)',
      'supply a CA certificate, not a leaf certificate',
    );
  }
  if (new Date(nodeCert.validTo).getTime() <= now.getTime()) {
    throw new CaMaterialInvalidError(
      subject,
      `the CA certificate expired on ${new Date(nodeCert.validTo).toISOString()}`,
      'supply a valid CA, or remove the stored one to let the control plane create a new root',
    );
  }
  const alg = certificate.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') {
    throw new CaMaterialInvalidError(
      subject,
      `the CA key is ${alg.name}${alg.namedCurve ? ` ${alg.namedCurve}` : ''}; the mesh signs with ECDSA P-256`,
      'supply an ECDSA P-256 CA (openssl ecparam -name prime256v1 -genkey)',
    );
  }
  let signingKey: CryptoKey;
  try {
    signingKey = await privateKeyFromPem(material.keyPem);
  } catch (err) {
    throw new CaMaterialInvalidError(
      subject,
      `the key does not load (${(err as Error).message})`,
      'give the CA key as an unencrypted PKCS#8 PEM (openssl pkcs8 -topk8 -nocrypt)',
    );
  }
  // The key must be the one the certificate was issued for: prove it with a signature.
  const probe = randomBytes(32);
  const signature = await webcrypto.subtle.sign(EC_P256, signingKey, probe);
  const publicKey = await certificate.publicKey.export(EC_P256, ['verify']);
  if (!(await webcrypto.subtle.verify(EC_P256, publicKey, signature, probe))) {
    throw new CaMaterialInvalidError(
      subject,
      'the private key does not match the CA certificate',
      'supply the key that belongs to this certificate',
    );
  }
  const rootPem = chainPem[chainPem.length - 1]!;
  return { certificate, chainPem, rootPem, signingKey, origin };
}

/** Where the CA comes from when the control plane starts. */
export interface CaSource {
  readonly storage: CaStorage;
  /** A user-supplied CA (cert chain and key files); it replaces whatever was stored. */
  readonly supplied?: { readonly certFile: string; readonly keyFile: string };
  readonly now?: Date;
}

/** Loads the user's CA, else the stored one, else creates (and stores) a new root. */
export async function loadOrCreateCa(source: CaSource): Promise<SigningCa> {
  if (source.supplied) {
    const read = async (file: string, what: string): Promise<string> => {
      try {
        return await readFile(file, 'utf8');
      } catch (err) {
        throw new CaMaterialInvalidError(
          file,
          `cannot read the CA ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
          `check the path given for the CA ${what}`,
        );
      }
    };
    const pem = {
      certChainPem: await read(source.supplied.certFile, 'certificate'),
      keyPem: await read(source.supplied.keyFile, 'key'),
    };
    const ca = await signingCaFromPem(
      pem,
      `${source.supplied.certFile} + ${source.supplied.keyFile}`,
      'supplied',
      source.now,
    );
    await source.storage.save(pem);
    return ca;
  }
  let stored: CaMaterialPem | undefined;
  try {
    stored = await source.storage.load();
  } catch (err) {
    throw new CaMaterialInvalidError(
      source.storage.describe(),
      `cannot read the stored CA (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      'restore the CA files, or remove them to create a new root (every workload then needs a new certificate)',
    );
  }
  if (stored) return signingCaFromPem(stored, source.storage.describe(), 'stored', source.now);
  const created = await createRootCa({ now: source.now });
  await source.storage.save(created.pem);
  return created.ca;
}

/** A random 128-bit serial with the top bit clear, so DER keeps it positive. */
export function positiveSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}
