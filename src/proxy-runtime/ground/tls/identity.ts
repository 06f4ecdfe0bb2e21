/**
 * Where the proxy's mTLS material comes from. The proxy only sees this interface: the static
 * implementation here reads PEM files named in the config (and re-reads them when they change);
 * the control-plane helper provides a CA-backed one that makes a key, sends a CSR and rotates.
 * On 'rotated', the proxy builds new SecureContexts for NEW connections; connections already open
 * keep their certificate until they close, so rotation never drops an in-flight request.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { IdentityConfig } from '../../../protocol/proxy-config/index.js';

/** The current workload identity: PEM cert chain (leaf first), PEM key, PEM trust roots. */
export interface IdentityMaterial {
  readonly certChain: string;
  readonly privateKey: string;
  readonly trustRoots: string;
}

/** A source of workload certificates; emits 'rotated' after `current()` changed. */
export interface IdentitySource extends EventEmitter {
  current(): IdentityMaterial;
  close(): void;
}

/** Facts about the current leaf certificate, for /certs and the expiry gauge. */
export interface CertificateSummary {
  spiffeId: string | undefined;
  serialNumber: string;
  validFrom: string;
  validTo: string;
  expiresAtSeconds: number;
  /** The issuer's name (a rotated mesh root has its own CN, so this tells old root from new). */
  issuer: string;
}

/** The SPIFFE ID (first `spiffe://` URI SAN) of a certificate, if it has one. */
export function spiffeIdOf(cert: { subjectaltname?: string | undefined } | X509Certificate): string | undefined {
  const san = cert instanceof X509Certificate ? cert.subjectAltName : cert.subjectaltname;
  if (!san) return undefined;
  for (const part of san.split(/,\s*/)) {
    if (part.startsWith('URI:spiffe://')) return part.slice(4);
  }
  return undefined;
}

/** Summarises the leaf of a PEM chain. */
export function summarizeLeaf(certChainPem: string): CertificateSummary {
  const cert = new X509Certificate(certChainPem);
  return {
    spiffeId: spiffeIdOf(cert),
    serialNumber: cert.serialNumber,
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
    expiresAtSeconds: Math.floor(new Date(cert.validTo).getTime() / 1000),
    issuer: cert.issuer.replace(/\n/g, ', '),
  };
}

/** Reads the PEM files of the config; `reload()` (or a change of the files) re-reads and emits 'rotated'. */
export class StaticIdentitySource extends EventEmitter implements IdentitySource {
  private material: IdentityMaterial;
  private watchers: FSWatcher[] = [];
  private reloadTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly files: IdentityConfig,
    opts: { watch?: boolean } = {},
  ) {
    super();
    this.material = this.read();
    if (opts.watch) {
      for (const f of [files.certChain, files.privateKey, files.trustRoots]) {
        try {
          const w = watch(f, () => this.scheduleReload());
          w.unref();
          this.watchers.push(w);
        } catch {
          // A file that cannot be watched is still re-read on reload().
        }
      }
    }
  }

  current(): IdentityMaterial {
    return this.material;
  }

  /** Re-reads the files; keeps the old material (and says why) when the new files are unusable. */
  reload(): void {
    const next = this.read();
    if (
      next.certChain === this.material.certChain &&
      next.privateKey === this.material.privateKey &&
      next.trustRoots === this.material.trustRoots
    )
      return;
    this.material = next;
    this.emit('rotated');
  }

  close(): void {
    for (const w of this.watchers) w.close();
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
  }

  private scheduleReload(): void {
    // Writers replace the three files one after another: wait for them to settle.
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      try {
        this.reload();
      } catch (err) {
        this.emit('error', err);
      }
    }, 200);
    this.reloadTimer.unref();
  }

  private read(): IdentityMaterial {
    const get = (path: string, what: string): string => {
      try {
        return readFileSync(path, 'utf8');
      } catch (err) {
        throw new Error(
          `identity.${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        );
      }
    };
    return {
      certChain: get(this.files.certChain, 'certChain'),
      privateKey: get(this.files.privateKey, 'privateKey'),
      trustRoots: get(this.files.trustRoots, 'trustRoots'),
    };
  }
}
