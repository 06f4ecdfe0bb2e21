/**
 * Root CA rotation in three phases, persisted so a crash or a second `meshctl ca rotate` resumes
 * where the last one stopped, and so nothing is lost on failure (the old root stays trusted until
 * the last phase):
 *
 *   1. `added`   a new root is generated and stored next to the old one; the trust bundle is
 *                old + new and is pushed to every proxy; the CA still signs with the old root.
 *   2. `signing` the CA signs with the new root; every proxy is asked to renew its certificate.
 *   3. done      once no connected proxy holds a leaf from the old root, the new root replaces the
 *                stored CA, the rotation record is removed and the bundle is the new root alone.
 *
 * The rotation record (`rotation.json`: it holds the new root's key) lives where the CA does: a 0600
 * file in the CA directory (local), or a key of the CA Secret (Kubernetes, SecretCaStorage), behind
 * RotationRecordStore. This module only changes the CA's state; the control plane pushes the bundle
 * and tracks proxies.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CaMaterialInvalidError } from '../../errors.js';
import { writeFileAtomic } from '../atomic-file.js';
import type { CertificateAuthority } from './authority.js';
import { createRootCa, signingCaFromPem, type SigningCa } from './root.js';
import type { CaMaterialPem, CaStorage } from './storage.js';
import { splitPemCertificates } from '../../protocol/pki/x509.js';

/** Where a rotation stands; `idle` when none is in progress. */
export type RotationPhase = 'idle' | 'added' | 'signing';

/** What is kept on disk while a rotation is in progress. */
interface RotationRecord {
  readonly phase: Exclude<RotationPhase, 'idle'>;
  readonly startedAt: string;
  /** The new root (PEM cert and PKCS#8 key). */
  readonly next: CaMaterialPem;
  /** The root being retired (PEM), kept in the bundle until the rotation completes. */
  readonly oldRootPem: string;
}

/** The rotation status the control plane reports (`/debug/ca`, `meshctl ca rotate -o json`). */
export interface RotationStatus {
  readonly phase: RotationPhase;
  readonly startedAt?: string;
  /** PEM roots in the trust bundle, in order (old first during a rotation). */
  readonly bundle: readonly string[];
  /** PEM of the root the CA signs with. */
  readonly signingRootPem: string;
}

/** The rotation record's file name inside the CA directory. */
export const ROTATION_FILE = 'rotation.json';

/**
 * Where the rotation record is kept, next to the CA material so both move together. `finish` stores
 * the new CA and removes the record: one write where the backend allows it (a Secret), else CA first
 * so a crash in between is recognised by open() (the stored root is already the new one).
 */
export interface RotationRecordStore {
  /** Where the record is, for messages (a file path, or `secret mesh-system/meshctl-ca`). */
  describe(): string;
  /** The stored record's text; undefined when no rotation is in progress. */
  loadRecord(): Promise<string | undefined>;
  saveRecord(text: string): Promise<void>;
  /** Makes `material` the stored CA and removes the record. */
  finish(material: CaMaterialPem): Promise<void>;
  /** Removes the record (a crash left it behind after the new root was stored). */
  dropRecord(): Promise<void>;
}

/** The local platform's record: `<caDir>/rotation.json`, 0600, written atomically. */
export class FileRotationStore implements RotationRecordStore {
  readonly file: string;

  constructor(
    caDir: string,
    private readonly storage: CaStorage,
  ) {
    this.file = join(caDir, ROTATION_FILE);
  }

  describe(): string {
    return this.file;
  }

  async loadRecord(): Promise<string | undefined> {
    try {
      return await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async saveRecord(text: string): Promise<void> {
    await writeFileAtomic(this.file, text, 0o600);
  }

  async finish(material: CaMaterialPem): Promise<void> {
    // CA files first: if we crash before the record is removed, open() sees the new root stored and finishes.
    await this.storage.save(material);
    await this.dropRecord();
  }

  async dropRecord(): Promise<void> {
    await rm(this.file, { force: true });
  }
}

/** Drives a root rotation for one CertificateAuthority and its storage. */
export class RootRotation {
  private record: RotationRecord | undefined;
  private next: SigningCa | undefined;
  /** The stored CA as follow() last imported it. */
  private followed: { certChainPem: string; ca: SigningCa } | undefined;

  private constructor(
    private readonly authority: CertificateAuthority,
    private readonly storage: CaStorage,
    private readonly store: RotationRecordStore,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Loads any rotation in progress (from `<caDir>/rotation.json`, or from `where` when it is a
   * store) and applies it to `authority` (bundle and signing root as of its phase), so a restarted
   * control plane resumes with the same new root.
   */
  static async open(
    authority: CertificateAuthority,
    storage: CaStorage,
    where: string | RotationRecordStore,
    log: (l: string) => void = () => undefined,
  ): Promise<RootRotation> {
    const store = typeof where === 'string' ? new FileRotationStore(where, storage) : where;
    const rotation = new RootRotation(authority, storage, store, log);
    const text = await store.loadRecord();
    if (text !== undefined) {
      const record = parseRecord(text, store.describe());
      const next = await signingCaFromPem(record.next, `${store.describe()} (new root)`, 'created');
      if (next.rootPem === authority.rootPem) {
        // Crashed after the new root was stored as the CA but before the record was removed.
        await store.dropRecord();
      } else {
        rotation.record = record;
        rotation.next = next;
        rotation.apply();
      }
    }
    return rotation;
  }

  /** The current phase and bundle. */
  status(): RotationStatus {
    return {
      phase: this.record?.phase ?? 'idle',
      ...(this.record ? { startedAt: this.record.startedAt } : {}),
      bundle: splitPemCertificates(this.authority.trustBundlePem),
      signingRootPem: this.authority.rootPem,
    };
  }

  /**
   * Re-reads the stored state and applies it, for a replica that shares the CA with the one driving
   * the rotation (Kubernetes: every control-plane replica reads the same Secret). Never writes: a
   * record left behind after the new root was stored is the driver's to remove. True when the phase,
   * the bundle or the signing root changed.
   */
  async follow(): Promise<boolean> {
    const before = JSON.stringify(this.status());
    const text = await this.store.loadRecord();
    const record = text === undefined ? undefined : parseRecord(text, this.store.describe());
    const next =
      record && record.next.certChainPem === this.record?.next.certChainPem
        ? this.next
        : record && (await signingCaFromPem(record.next, `${this.store.describe()} (new root)`, 'created'));
    const material = await this.storage.load();
    // Keys are imported only when the stored CA changed: follow() runs on a timer in every replica.
    if (material && material.certChainPem !== this.followed?.certChainPem) {
      const ca = await signingCaFromPem(material, this.storage.describe(), 'stored');
      this.followed = { certChainPem: material.certChainPem, ca };
    }
    const stored = material && this.followed?.ca;
    if (record && next && stored?.rootPem !== next.rootPem) {
      if (record.phase === 'added' && stored && stored.rootPem === record.oldRootPem) {
        this.authority.useRoots(stored, [record.oldRootPem, next.rootPem]);
      }
      this.record = record;
      this.next = next;
      this.apply();
    } else if (stored) {
      // Completed (or the record was removed to abandon it): the stored root alone.
      this.record = undefined;
      this.next = undefined;
      if (stored.rootPem !== this.authority.rootPem || this.authority.trustBundlePem !== stored.rootPem) {
        this.authority.useRoots(stored, [stored.rootPem]);
      }
    }
    const changed = JSON.stringify(this.status()) !== before;
    if (changed) this.log(`CA rotation: now at phase ${this.status().phase} (followed ${this.store.describe()})`);
    return changed;
  }

  /** Phase 1: creates the new root and adds it to the bundle (no-op when a rotation is in progress). */
  async addNewRoot(now = new Date()): Promise<RotationStatus> {
    if (this.record) return this.status();
    // Its own CN, so certificates and /certs tell the new root from the old one.
    const created = await createRootCa({ now, commonName: `meshctl root CA ${now.toISOString().slice(0, 19)}Z` });
    const record: RotationRecord = {
      phase: 'added',
      startedAt: now.toISOString(),
      next: created.pem,
      oldRootPem: this.authority.rootPem,
    };
    await this.persist(record);
    this.next = created.ca;
    this.apply();
    this.log(
      `CA rotation: new root "${created.ca.certificate.subject}" added to the trust bundle ` + '(old root still signs)',
    );
    return this.status();
  }

  /** Phase 2: the CA signs with the new root (idempotent). */
  async signWithNewRoot(): Promise<RotationStatus> {
    const record = this.requireRecord('sign with the new root');
    if (record.phase !== 'signing') {
      await this.persist({ ...record, phase: 'signing' });
      this.apply();
      this.log('CA rotation: signing with the new root');
    }
    return this.status();
  }

  /**
   * Phase 3: the new root becomes the stored CA and the old root leaves the bundle. The caller
   * must first have seen every connected proxy holding a leaf from the new root.
   */
  async complete(): Promise<RotationStatus> {
    const record = this.requireRecord('remove the old root');
    if (record.phase !== 'signing') {
      throw new Error('the old root cannot be removed before the CA signs with the new root');
    }
    await this.store.finish(record.next);
    const next = this.next!;
    this.record = undefined;
    this.next = undefined;
    this.authority.useRoots(next, [next.rootPem]);
    this.log('CA rotation: old root removed from the trust bundle; rotation complete');
    return this.status();
  }

  /** PEM of the root certificates a leaf must chain to once the rotation completes (for progress checks). */
  get newRootPem(): string | undefined {
    return this.next?.rootPem;
  }

  private requireRecord(what: string): RotationRecord {
    if (!this.record) throw new Error(`no root rotation in progress: cannot ${what}`);
    return this.record;
  }

  private async persist(record: RotationRecord): Promise<void> {
    await this.store.saveRecord(JSON.stringify(record));
    this.record = record;
  }

  /** Sets the authority's bundle (old + new) and signing root as of the current phase. */
  private apply(): void {
    const record = this.record!;
    const next = this.next!;
    const bundle = [record.oldRootPem, next.rootPem];
    if (record.phase === 'signing') {
      this.authority.useRoots(next, bundle);
    } else {
      const old = this.authority.rootPem === record.oldRootPem ? this.authority.ca : undefined;
      if (!old) throw new Error('the stored CA is not the root this rotation started from');
      this.authority.useRoots(old, bundle);
    }
  }
}

const ABANDON_HINT = 'restore it, or remove it to abandon the rotation (the old root stays stored and trusted)';

function parseRecord(text: string, file: string): RotationRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CaMaterialInvalidError(file, 'the rotation record is not JSON', ABANDON_HINT);
  }
  const r = value as Partial<RotationRecord>;
  const ok =
    (r.phase === 'added' || r.phase === 'signing') &&
    typeof r.startedAt === 'string' &&
    typeof r.oldRootPem === 'string' &&
    typeof r.next?.certChainPem === 'string' &&
    typeof r.next?.keyPem === 'string';
  if (!ok) throw new CaMaterialInvalidError(file, 'not a rotation record', ABANDON_HINT);
  return r as RotationRecord;
}
