/**
 * Root rotation on the CA side, with real keys and certificates: the bundle holds old + new until
 * the last phase, leaves chain to the new root from phase 2, a restart resumes the same rotation,
 * and the old root is only dropped by the last phase.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CertificateAuthority, FileCaStorage, loadOrCreateCa } from '../../../src/control-plane/ca/index.js';
import { ROTATION_FILE, RootRotation } from '../../../src/control-plane/ca/rotation.js';
import { splitPemCertificates } from '../../../src/protocol/pki/x509.js';
import { EC_P256, generateP256, loadX509 } from '../../../src/protocol/pki/x509.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshctl-rotation-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function openCa(): Promise<{ authority: CertificateAuthority; rotation: RootRotation; storage: FileCaStorage }> {
  const storage = new FileCaStorage(dir);
  const authority = new CertificateAuthority(await loadOrCreateCa({ storage }));
  const rotation = await RootRotation.open(authority, storage, dir);
  return { authority, rotation, storage };
}

async function csr(): Promise<string> {
  const x509 = await loadX509();
  const keys = await generateP256(true);
  const req = await x509.Pkcs10CertificateRequestGenerator.create({ keys: keys as never, signingAlgorithm: EC_P256 });
  return req.toString('pem');
}

/** Signs a CSR and returns the root PEM (from `bundle`) the leaf verifies against. */
async function leafRoot(authority: CertificateAuthority, bundle: readonly string[]): Promise<string | undefined> {
  const issued = await authority.sign(await csr(), { namespace: 'default', serviceAccount: 'web' });
  const leaf = new X509Certificate(issued.certChain[0]!);
  return bundle.find((root) => leaf.verify(new X509Certificate(root).publicKey));
}

describe('RootRotation', () => {
  it('adds the new root, then signs with it, then drops the old root', async () => {
    const { authority, rotation } = await openCa();
    const oldRoot = authority.rootPem;
    expect(rotation.status().phase).toBe('idle');
    expect(splitPemCertificates(authority.trustBundlePem)).toEqual([oldRoot]);

    const added = await rotation.addNewRoot();
    const newRoot = rotation.newRootPem!;
    expect(newRoot).not.toBe(oldRoot);
    expect(added.phase).toBe('added');
    expect(added.bundle).toEqual([oldRoot, newRoot]);
    // Phase 1: still signed by the old root, so proxies that do not have the new bundle yet accept it.
    expect(await leafRoot(authority, [oldRoot, newRoot])).toBe(oldRoot);

    const signing = await rotation.signWithNewRoot();
    expect(signing.phase).toBe('signing');
    expect(signing.bundle).toEqual([oldRoot, newRoot]);
    expect(await leafRoot(authority, [oldRoot, newRoot])).toBe(newRoot);

    const done = await rotation.complete();
    expect(done.phase).toBe('idle');
    expect(done.bundle).toEqual([newRoot]);
    expect(await leafRoot(authority, [oldRoot, newRoot])).toBe(newRoot);
    // The new root is now the stored CA: a restart keeps it.
    const again = await openCa();
    expect(again.authority.rootPem).toBe(newRoot);
    expect(again.rotation.status().phase).toBe('idle');
  });

  it('resumes the same rotation after a restart, and a second start does not make another root', async () => {
    const first = await openCa();
    const oldRoot = first.authority.rootPem;
    await first.rotation.addNewRoot();
    const newRoot = first.rotation.newRootPem!;
    expect((await stat(join(dir, ROTATION_FILE))).mode & 0o777).toBe(0o600);

    const second = await openCa();
    expect(second.rotation.status().phase).toBe('added');
    expect(second.rotation.status().bundle).toEqual([oldRoot, newRoot]);
    expect(second.authority.rootPem).toBe(oldRoot);
    // A second `ca rotate` resumes: the same new root, no third one.
    expect((await second.rotation.addNewRoot()).bundle).toEqual([oldRoot, newRoot]);

    await second.rotation.signWithNewRoot();
    const third = await openCa();
    expect(third.rotation.status().phase).toBe('signing');
    expect(third.authority.rootPem).toBe(newRoot);
    expect(await leafRoot(third.authority, [oldRoot, newRoot])).toBe(newRoot);
  });

  it('keeps the old root until the last phase', async () => {
    const { rotation, authority } = await openCa();
    const oldRoot = authority.rootPem;
    await expect(rotation.complete()).rejects.toThrow(/no root rotation in progress/);
    await rotation.addNewRoot();
    await expect(rotation.complete()).rejects.toThrow(/before the CA signs with the new root/);
    expect(rotation.status().bundle).toContain(oldRoot);
    expect(await readFile(join(dir, 'ca-cert.pem'), 'utf8')).toBe(oldRoot);
  });

  it('finishes a rotation that crashed between storing the new root and removing the record', async () => {
    const first = await openCa();
    await first.rotation.addNewRoot();
    await first.rotation.signWithNewRoot();
    const record = await readFile(join(dir, ROTATION_FILE), 'utf8');
    await first.rotation.complete();
    await writeFile(join(dir, ROTATION_FILE), record, { mode: 0o600 });

    const again = await openCa();
    expect(again.rotation.status().phase).toBe('idle');
    expect(again.rotation.status().bundle).toEqual([again.authority.rootPem]);
    await expect(stat(join(dir, ROTATION_FILE))).rejects.toThrow(/ENOENT/);
  });

  it('a second replica sharing the CA storage follows every phase', async () => {
    const driver = await openCa();
    const replica = await openCa();
    const oldRoot = driver.authority.rootPem;
    expect(await replica.rotation.follow()).toBe(false);

    await driver.rotation.addNewRoot();
    const newRoot = driver.rotation.newRootPem!;
    expect(await replica.rotation.follow()).toBe(true);
    expect(replica.rotation.status()).toMatchObject({ phase: 'added', bundle: [oldRoot, newRoot] });
    expect(await leafRoot(replica.authority, [oldRoot, newRoot])).toBe(oldRoot);
    expect(await replica.rotation.follow()).toBe(false);

    await driver.rotation.signWithNewRoot();
    expect(await replica.rotation.follow()).toBe(true);
    expect(replica.rotation.status()).toMatchObject({ phase: 'signing', bundle: [oldRoot, newRoot] });
    expect(await leafRoot(replica.authority, [oldRoot, newRoot])).toBe(newRoot);

    await driver.rotation.complete();
    expect(await replica.rotation.follow()).toBe(true);
    expect(replica.rotation.status()).toMatchObject({ phase: 'idle', bundle: [newRoot], signingRootPem: newRoot });
    expect(await leafRoot(replica.authority, [newRoot])).toBe(newRoot);
  });

  it('names the file and the fix when the record is damaged', async () => {
    await openCa();
    await writeFile(join(dir, ROTATION_FILE), '{"phase":"added"', { mode: 0o600 });
    await expect(openCa()).rejects.toThrow(/rotation\.json: the rotation record is not JSON/);
  });
});
