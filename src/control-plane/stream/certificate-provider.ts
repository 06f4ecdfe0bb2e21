/**
 * Feeds grpc-js the control plane's serving certificate and the mesh root from memory, through
 * its certificate-provider credentials: the only grpc-js server credentials that request a client
 * certificate without requiring one. The config stream needs the proxy's certificate (its
 * identity); the CA service must serve proxies that have none yet (they present a token instead).
 */
import type { experimental } from '@grpc/grpc-js';
import type { Grpc } from '../../protocol/stream/grpc.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** The TLS material of the control plane's port 15012. */
export interface ServingMaterial {
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly trustRootsPem: string;
}

/** A certificate provider whose material can be replaced at run time (serving-cert rotation). */
export class MemoryCertificateProvider implements experimental.CertificateProvider {
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(private current: ServingMaterial) {}

  /** The material in use. */
  get material(): ServingMaterial {
    return this.current;
  }

  /** Replaces the material; new handshakes use it, open connections are untouched. */
  update(material: ServingMaterial): void {
    this.current = material;
    for (const l of this.caListeners) l(this.caUpdate());
    for (const l of this.identityListeners) l(this.identityUpdate());
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    listener(this.caUpdate());
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    listener(this.identityUpdate());
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  /** Server credentials that ask every client for a certificate and verify any it presents, without requiring one. */
  serverCredentials(grpc: Grpc): import('@grpc/grpc-js').ServerCredentials {
    // grpc-js names the first two parameters the other way round from how it uses them; one provider serves both.
    return grpc.experimental.createCertificateProviderServerCredentials(this, this, false);
  }

  private caUpdate() {
    return { caCertificate: Buffer.from(this.current.trustRootsPem) };
  }

  private identityUpdate() {
    return { certificate: Buffer.from(this.current.certChainPem), privateKey: Buffer.from(this.current.keyPem) };
  }
}
