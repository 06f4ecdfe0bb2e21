/**
 * SecureContexts built from the current identity: one for serving (inbound mTLS) and one for
 * dialing peers. Rebuilt on 'rotated'; readers take `current` per new connection, so a rotation
 * applies to the next handshake and leaves open connections alone.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import type { IdentityMaterial, IdentitySource } from './identity.js';
import { spiffeIdOf, summarizeLeaf, type CertificateSummary } from './identity.js';

/** ALPN protocols between sidecars: h2 first, so many requests share one connection. */
export const MESH_ALPN_SERVER = ['h2', 'http/1.1', 'meshctl-tcp'];
/** ALPN a sidecar offers for opaque TCP carried over mTLS. */
export const MESH_ALPN_TCP = 'meshctl-tcp';

/** A trusted root as the admin API reports it. */
export interface TrustRootSummary {
  readonly subject: string;
  readonly serialNumber: string;
  readonly validFrom: string;
  readonly validTo: string;
}

/** The contexts of the current identity. */
export interface MeshTlsContexts {
  readonly server: SecureContext;
  readonly client: SecureContext;
  readonly summary: CertificateSummary;
  /** Subjects of the roots trusted for peers (two during a root rotation). */
  readonly trustRoots: readonly string[];
  /** The same roots with what `proxy-config secrets` shows of each (metadata only, never the PEM). */
  readonly roots: readonly TrustRootSummary[];
  /** Increments on each rotation, so pools can tell their connections are from an older identity. */
  readonly generation: number;
}

function build(m: IdentityMaterial, generation: number): MeshTlsContexts {
  const opts = { cert: m.certChain, key: m.privateKey, ca: m.trustRoots, minVersion: 'TLSv1.2' as const };
  const roots = m.trustRoots.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  const certs = roots.map((pem) => new X509Certificate(pem));
  const trustRoots = certs.map((c) => c.subject.replace(/\n/g, ', '));
  return {
    roots: certs.map((c, i) => ({
      subject: trustRoots[i]!,
      serialNumber: c.serialNumber,
      validFrom: new Date(c.validFrom).toISOString(),
      validTo: new Date(c.validTo).toISOString(),
    })),
    server: createSecureContext(opts),
    client: createSecureContext(opts),
    summary: summarizeLeaf(m.certChain),
    trustRoots,
    generation,
  };
}

/** Holds the contexts for an identity source and rebuilds them when it rotates. */
export class MeshTls {
  private ctx: MeshTlsContexts;
  private readonly onRotated = (): void => {
    try {
      this.ctx = build(this.source.current(), this.ctx.generation + 1);
      for (const l of this.listeners) l(this.ctx);
    } catch {
      // Unusable new material: keep serving with the previous contexts.
    }
  };
  private readonly listeners: ((c: MeshTlsContexts) => void)[] = [];

  constructor(readonly source: IdentitySource) {
    this.ctx = build(source.current(), 1);
    source.on('rotated', this.onRotated);
  }

  get current(): MeshTlsContexts {
    return this.ctx;
  }

  /** Calls `fn` after every rotation. */
  onRotate(fn: (c: MeshTlsContexts) => void): void {
    this.listeners.push(fn);
  }

  close(): void {
    this.source.off('rotated', this.onRotated);
  }
}

/** Error raised when a peer's certificate does not carry the SPIFFE ID the endpoint expects. */
export class PeerIdentityError extends Error {
  readonly code = 'ERR_MESH_PEER_IDENTITY';
}

/**
 * A `checkServerIdentity` for tls.connect: the peer must present `expected` as URI SAN (when an
 * expectation is set). Hostname checks do not apply: sidecars are named by SPIFFE ID, not DNS.
 */
export function spiffeChecker(
  expected: string | undefined,
): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    if (expected === undefined) return undefined;
    const got = spiffeIdOf(cert);
    if (got === expected) return undefined;
    return new PeerIdentityError(`peer identity ${got ?? '(none)'} is not the expected ${expected}`);
  };
}
