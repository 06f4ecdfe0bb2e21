/**
 * CSR signing. The CA trusts nothing the CSR says about who the caller is: the only SAN of the
 * certificate it issues is the SPIFFE URI of the identity the credential authenticated. From the
 * CSR it takes the public key, after checking the CSR's signature proves possession of that key.
 */
import { webcrypto } from 'node:crypto';
import { CertificateRequestInvalidError } from '../../errors.js';
import { spiffeUri, type WorkloadIdentity } from '../../protocol/pki/spiffe.js';
import {
  EC_P256,
  generateP256,
  loadX509,
  privateKeyToPem,
  type EcKeyAlgorithm,
  type RsaHashedKeyAlgorithm,
} from '../../protocol/pki/x509.js';
import type { Pkcs10CertificateRequest } from '@peculiar/x509';
import { positiveSerial, type SigningCa } from './root.js';

/** Lifetimes of issued certificates. */
export interface CertificateTtlPolicy {
  /** Used when the request names none: 24h. */
  readonly defaultTtlSeconds: number;
  /** Requests above this are capped to it. */
  readonly maxTtlSeconds: number;
}

/** Istio's defaults: 24h workload certificates, at most 90 days. */
export const DEFAULT_TTL_POLICY: CertificateTtlPolicy = { defaultTtlSeconds: 24 * 3600, maxTtlSeconds: 90 * 24 * 3600 };

/** An issued certificate: PEM chain leaf first, up to and including the root. */
export interface IssuedCertificate {
  readonly certChain: readonly string[];
  readonly serialNumber: string;
  readonly notAfter: Date;
  readonly spiffeId: string;
}

/** One line per issued certificate, for the control plane's log; never given keys or tokens. */
export type CaAuditLog = (message: string) => void;

/** Signs workload CSRs with the mesh CA. */
export class CertificateAuthority {
  private signing: SigningCa;
  private bundle: readonly string[];
  /** Per SPIFFE ID, the roots of the certificates issued since the ledger was last reset (root rotation progress). */
  private readonly ledger = new Map<string, string[]>();

  constructor(
    ca: SigningCa,
    private readonly policy: CertificateTtlPolicy = DEFAULT_TTL_POLICY,
    private readonly audit: CaAuditLog = () => undefined,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.signing = ca;
    this.bundle = [ca.rootPem];
  }

  /** The CA that signs now (during a root rotation: the old root, then the new one). */
  get ca(): SigningCa {
    return this.signing;
  }

  /** The PEM trust root of the signing CA. */
  get rootPem(): string {
    return this.signing.rootPem;
  }

  /** Every root proxies must trust, concatenated PEM: one root, or old + new during a rotation. */
  get trustBundlePem(): string {
    return this.bundle.join('');
  }

  /**
   * Switches the signing CA and the trust bundle (root rotation, src/control-plane/ca/rotation.ts).
   * The bundle must contain the signing root, else peers could not verify what is issued.
   */
  useRoots(signing: SigningCa, bundle: readonly string[]): void {
    if (!bundle.includes(signing.rootPem)) throw new Error('the trust bundle must contain the signing root');
    this.signing = signing;
    this.bundle = [...bundle];
  }

  /** Forgets what was issued so far: a rotation phase counts the renewals after its start. */
  resetIssuedLedger(): void {
    this.ledger.clear();
  }

  /** Every SPIFFE ID issued to since the last reset, with the roots (PEM) of its certificates (Kubernetes rotation reports). */
  issuedIdentities(): ReadonlyMap<string, readonly string[]> {
    return this.ledger;
  }

  /** The roots (PEM) of the certificates issued to `spiffeId` since the last reset, oldest first. */
  issuedSinceReset(spiffeId: string): readonly string[] {
    return this.ledger.get(spiffeId) ?? [];
  }

  /** Verifies `csrPem` and issues a certificate for `identity` (already authenticated by the caller). */
  async sign(
    csrPem: string,
    identity: Omit<WorkloadIdentity, 'trustDomain'> & { trustDomain?: string },
    requestedTtlSeconds?: number,
  ): Promise<IssuedCertificate> {
    const x509 = await loadX509();
    let csr: Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (err) {
      throw new CertificateRequestInvalidError(`it is not a PEM PKCS#10 request (${(err as Error).message})`);
    }
    const alg = csr.publicKey.algorithm as EcKeyAlgorithm & RsaHashedKeyAlgorithm;
    const keyOk =
      (alg.name === 'ECDSA' && alg.namedCurve === 'P-256') ||
      (alg.name === 'RSASSA-PKCS1-v1_5' && alg.modulusLength >= 2048);
    if (!keyOk)
      throw new CertificateRequestInvalidError(
        `unsupported key ${alg.name}${alg.namedCurve ? ` ${alg.namedCurve}` : ''}`,
      );
    let signatureOk = false;
    try {
      signatureOk = await csr.verify();
    } catch {
      signatureOk = false;
    }
    if (!signatureOk) throw new CertificateRequestInvalidError('its signature does not verify with its public key');
    return this.issue(csr.publicKey.rawData, identity, requestedTtlSeconds, []);
  }

  /**
   * A serving certificate for the control plane itself (its TLS port), with its key. The SANs are
   * DNS names and IPs plus the control plane's own SPIFFE identity.
   */
  async issueServing(
    names: { dns: readonly string[]; ips: readonly string[] },
    identity: { namespace: string; serviceAccount: string },
    ttlSeconds: number,
  ): Promise<{ certChainPem: string; keyPem: string; notAfter: Date }> {
    const keys = await generateP256(true);
    const spki = await webcrypto.subtle.exportKey('spki', keys.publicKey);
    const extra = [
      ...names.dns.map((value) => ({ type: 'dns' as const, value })),
      ...names.ips.map((value) => ({ type: 'ip' as const, value })),
    ];
    const issued = await this.issue(spki, identity, ttlSeconds, extra, true);
    return {
      certChainPem: issued.certChain.join(''),
      keyPem: await privateKeyToPem(keys.privateKey),
      notAfter: issued.notAfter,
    };
  }

  private async issue(
    publicKeySpki: ArrayBuffer,
    identity: { namespace: string; serviceAccount: string; trustDomain?: string },
    requestedTtlSeconds: number | undefined,
    extraNames: { type: 'dns' | 'ip'; value: string }[],
    uncapped = false,
  ): Promise<IssuedCertificate> {
    // One CA for the whole certificate, even if a rotation switches it while this one is made.
    const ca = this.signing;
    const x509 = await loadX509();
    const ttl = this.ttlFor(requestedTtlSeconds, uncapped);
    const now = this.now();
    const notAfter = new Date(now.getTime() + ttl * 1000);
    const caNotAfter = ca.certificate.notAfter;
    const effectiveNotAfter = notAfter > caNotAfter ? caNotAfter : notAfter;
    const spiffeId = spiffeUri(identity);
    const serialNumber = positiveSerial();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber,
      subject: 'O=meshctl',
      issuer: ca.certificate.subjectName,
      // A minute of slack for peers whose clocks run slightly behind ours.
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: effectiveNotAfter,
      publicKey: publicKeySpki,
      signingKey: ca.signingKey,
      signingAlgorithm: EC_P256,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }, ...extraNames], true),
        await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
      ],
    });
    const roots = this.ledger.get(spiffeId) ?? [];
    roots.push(ca.rootPem);
    this.ledger.set(spiffeId, roots.slice(-64));
    this.audit(
      `issued certificate serial=${serialNumber} for ${spiffeId} valid until ${effectiveNotAfter.toISOString()}`,
    );
    return {
      certChain: [cert.toString('pem') + '\n', ...ca.chainPem],
      serialNumber,
      notAfter: effectiveNotAfter,
      spiffeId,
    };
  }

  private ttlFor(requested: number | undefined, uncapped: boolean): number {
    if (requested === undefined || requested <= 0 || !Number.isFinite(requested)) return this.policy.defaultTtlSeconds;
    return uncapped ? requested : Math.min(Math.floor(requested), this.policy.maxTtlSeconds);
  }
}
