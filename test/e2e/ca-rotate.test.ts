/**
 * `meshctl ca rotate` loses no request: two `meshctl run` workloads serve `reviews` (real CLI, real
 * sidecars, mTLS between them and the client's sidecar); steady traffic runs through the whole
 * rotation, failures are counted and must be 0. Afterwards every proxy's certificate is issued by
 * the new root, and the old root is gone from the bundle (control plane, trust file, proxies).
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalMeshForTest, SERVICE_PORT, eventually, freePort, steadyLoad } from './support/local-mesh.js';
import type { Sidecar } from './support/local-mesh.js';
import { startMeshctl, stopMeshctl, type MeshctlProcess } from '../netns/support/meshctl-run.js';

let mesh: LocalMeshForTest;
let client: Sidecar;
const runs = new Map<string, MeshctlProcess>();

const APP = "require('http').createServer((q,r)=>r.end(process.env.NAME)).listen(Number(process.env.PORT),'127.0.0.1')";

/** The serials of the ROOTCA rows `meshctl proxy-config secrets NAME` shows: the roots that proxy trusts. */
async function rootRows(name: string): Promise<string[]> {
  const p = startMeshctl(mesh.home, ['proxy-config', 'secrets', name, '-o', 'json']);
  expect(await p.exited(30_000)).toBe(0);
  const rows = JSON.parse(p.stdout()) as { resourceName: string; serialNumber: string }[];
  return rows.filter((r) => r.resourceName === 'ROOTCA').map((r) => r.serialNumber);
}

async function start(name: string): Promise<void> {
  const port = String(await freePort());
  const argv = ['run', '--name', name, '--service', 'reviews', '--service-port', String(SERVICE_PORT)];
  argv.push('--labels', 'version=v1');
  const p = startMeshctl(mesh.home, [...argv, '--port', port, '--', process.execPath, '-e', APP], { NAME: name });
  runs.set(name, p);
  await p.waitFor(/now an endpoint of reviews/);
}

interface Certs {
  identity: { issuer: string; spiffeId: string };
  trustRoots: string[];
}

beforeAll(async () => {
  mesh = await LocalMeshForTest.start();
  client = await mesh.run('productpage', { app: 'productpage', version: 'v1' });
  await Promise.all([start('reviews-a'), start('reviews-b')]);
}, 120_000);
afterAll(async () => {
  await Promise.all([...runs.values()].map((p) => stopMeshctl(p)));
  await mesh?.stop();
});

describe('meshctl ca rotate', () => {
  it('rotates the root with zero failed requests, then only the new root is trusted', async () => {
    const oldRoot = mesh.cp.authority.rootPem;
    const oldSubject = new X509Certificate(oldRoot).subject.replace(/\n/g, ', ');
    await eventually(
      'the client reaching both endpoints',
      async () => {
        const load = steadyLoad(client, 2);
        await new Promise((r) => setTimeout(r, 300));
        const r = await load.stop();
        return r.bodies['reviews-a'] && r.bodies['reviews-b'];
      },
      30_000,
    );
    const before = await mesh.platform.proxyAdminGet<Certs>({ name: 'reviews-a', namespace: 'default' }, '/certs');
    expect(before.identity.issuer).toBe(oldSubject);
    expect(await rootRows('reviews-a')).toEqual([new X509Certificate(oldRoot).serialNumber]);

    const load = steadyLoad(client, 4);
    const rotate = startMeshctl(mesh.home, ['ca', 'rotate', '--yes']);
    expect(await rotate.exited(90_000)).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    const { ok, failed, bodies } = await load.stop();

    const out = rotate.stdout();
    const steps = [
      '1/3 new root added',
      'delivered to every proxy',
      '2/3 the CA signs with the new root',
      'every proxy holds a certificate from the new root',
      '3/3 old root removed',
    ];
    for (const step of steps) {
      expect(out).toContain(step);
    }
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(100);
    expect(Object.keys(bodies).sort()).toEqual(['reviews-a', 'reviews-b']);

    // The control plane: a new root, alone in the bundle, and in the public trust file.
    const newRoot = mesh.cp.authority.rootPem;
    expect(newRoot).not.toBe(oldRoot);
    expect(mesh.cp.authority.trustBundlePem).toBe(newRoot);
    const trustFile = await readFile(join(mesh.home, 'ca-root.pem'), 'utf8');
    expect(trustFile).toContain(newRoot.trim());
    expect(trustFile).not.toContain(oldRoot.trim());
    const newSubject = new X509Certificate(newRoot).subject.replace(/\n/g, ', ');

    // Every proxy: its leaf chains to the new root; the old root is no longer trusted.
    const clientLeaf = new X509Certificate(client.identity.current().certChain);
    expect(clientLeaf.verify(new X509Certificate(newRoot).publicKey)).toBe(true);
    await eventually(
      'every proxy trusting only the new root',
      async () => {
        for (const name of ['reviews-a', 'reviews-b']) {
          const certs = await mesh.platform.proxyAdminGet<Certs>({ name, namespace: 'default' }, '/certs');
          if (certs.identity.issuer !== newSubject || certs.trustRoots.join('|') !== newSubject) return false;
        }
        return client.identity.current().trustRoots === newRoot;
      },
      15_000,
    );

    // What the user sees: the proxy's ROOTCA row is the new root, and only it.
    expect(await rootRows('reviews-b')).toEqual([new X509Certificate(newRoot).serialNumber]);

    // Traffic goes on after the rotation, on the new root alone.
    const after = steadyLoad(client, 2);
    await new Promise((r) => setTimeout(r, 300));
    expect((await after.stop()).failed).toEqual([]);
  }, 180_000);

  it('a second run while one is in progress follows it to the end (the first command was killed)', async () => {
    const before = mesh.cp.authority.rootPem;
    const load = steadyLoad(client, 4);
    // Both start together, so the second asks while the first's rotation runs; then the first is killed.
    const first = startMeshctl(mesh.home, ['ca', 'rotate', '--yes']);
    const second = startMeshctl(mesh.home, ['ca', 'rotate', '--yes', '-o', 'json']);
    await first.waitFor(/1\/3 new root added/, 30_000);
    const newRoot = mesh.cp.authority.trustBundlePem.replace(before, '');
    expect(newRoot).toContain('BEGIN CERTIFICATE');
    first.proc.kill('SIGKILL');
    await first.exited(10_000);
    expect(await second.exited(90_000)).toBe(0);
    const { failed, ok } = await load.stop();
    const report = JSON.parse(second.stdout()) as { ok: boolean; phase: string; steps: string[]; bundleSize: number };
    expect(report).toMatchObject({ ok: true, phase: 'idle', bundleSize: 1 });
    // One rotation, not two: its steps are listed once.
    expect(report.steps.filter((l) => l.startsWith('1/3')).length).toBe(1);
    expect(report.steps.at(-1)).toMatch(/3\/3 old root removed/);
    // The rotation the first command started, not a second one.
    expect(mesh.cp.authority.rootPem).toBe(newRoot);
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(50);
  }, 180_000);
});
