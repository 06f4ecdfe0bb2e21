/**
 * Where the root CA lives. The local platform keeps it in two `0600` files under the mesh home; the
 * Kubernetes backend (a later addition) implements the same interface with a Secret.
 */
import { chmod, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { CA_FILES } from '../../protocol/well-known.js';

/** The CA's PEM material: the signing certificate (plus any chain up to the root) and its PKCS#8 key. */
export interface CaMaterialPem {
  readonly certChainPem: string;
  readonly keyPem: string;
}

/** A place to keep the CA between restarts. */
export interface CaStorage {
  /** Where it is, for messages (a directory, or `secret mesh-system/meshctl-ca`). */
  describe(): string;
  load(): Promise<CaMaterialPem | undefined>;
  save(material: CaMaterialPem): Promise<void>;
}

/** File names inside the CA directory (the same keys as in the Kubernetes CA Secret). */
export { CA_FILES };

/** CA material in `<dir>/ca-cert.pem` and `<dir>/ca-key.pem`, both `0600`, directory `0700`. */
export class FileCaStorage implements CaStorage {
  constructor(readonly dir: string) {}

  describe(): string {
    return this.dir;
  }

  get certPath(): string {
    return join(this.dir, CA_FILES.cert);
  }

  get keyPath(): string {
    return join(this.dir, CA_FILES.key);
  }

  async load(): Promise<CaMaterialPem | undefined> {
    let certChainPem: string;
    let keyPem: string;
    try {
      certChainPem = await readFile(this.certPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    keyPem = await readFile(this.keyPath, 'utf8');
    // Files restored from a backup or copied by hand may have lost their mode: tighten it again.
    await chmod(this.keyPath, 0o600);
    return { certChainPem, keyPem };
  }

  async save(material: CaMaterialPem): Promise<void> {
    // Key first: a cert without its key would be unusable on the next start, the reverse is just regenerated.
    await writeFileAtomic(this.keyPath, material.keyPem, 0o600);
    await writeFileAtomic(this.certPath, material.certChainPem, 0o600);
  }
}
