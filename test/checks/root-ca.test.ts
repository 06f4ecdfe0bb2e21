/**
 * The root CA checkers against a real local control plane whose root (supplied, as with
 * `install --ca-cert/--ca-key`) expires in 10 days: valid (✔), and a warning naming the expiry date.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rootCaCheckers } from '../../src/checks/root-ca.js';
import { LocalPlatform } from '../../src/cluster/local/platform.js';
import { createRootCa } from '../../src/control-plane/ca/index.js';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/daemon.js';

let dir: string;
let cp: RunningControlPlane;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshctl-rootca-'));
  const { pem } = await createRootCa({ validityDays: 10 });
  await writeFile(join(dir, 'ca.pem'), pem.certChainPem, { mode: 0o600 });
  await writeFile(join(dir, 'ca-key.pem'), pem.keyPem, { mode: 0o600 });
  cp = await startControlPlane({
    home: join(dir, 'home'),
    streamPort: 0,
    debugPort: 0,
    version: 'test',
    log: () => undefined,
    caCertFile: join(dir, 'ca.pem'),
    caKeyFile: join(dir, 'ca-key.pem'),
  });
}, 60_000);
afterAll(async () => {
  await cp?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('root CA checks', () => {
  it('passes validity and warns when the root expires within 30 days', async () => {
    const ctx = { platform: new LocalPlatform(join(dir, 'home')), now: () => new Date() };
    const [valid, expiring] = rootCaCheckers<typeof ctx>({ invalid: 'reinstall', expiring: 'meshctl ca rotate' });
    expect(await valid!.run(ctx, new AbortController().signal)).toMatch(/^supplied, valid until \d{4}-\d\d-\d\d$/);
    expect(expiring!.warning).toBe(true);
    await expect(expiring!.run(ctx, new AbortController().signal)).rejects.toThrow(
      /the root CA expires in (9|10) days/,
    );
    // 40 days earlier nothing is close to expiry.
    const early = { ...ctx, now: () => new Date(Date.now() - 40 * 86_400_000) };
    await expect(expiring!.run(early, new AbortController().signal)).resolves.toBeUndefined();
  });
});
