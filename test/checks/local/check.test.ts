/** `meshctl check` on the local platform, against a real control plane daemon in a temporary home. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMeshctlProcess } from '../../support/cli.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let home = '';
function meshctl(...args: string[]) {
  return runMeshctlProcess([...args, '--local'], { MESHCTL_HOME: home });
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'meshctl-check-'));
});
afterAll(async () => {
  meshctl('uninstall', '--purge', '-y');
  await rm(home, { recursive: true, force: true });
});

describe('meshctl check (local platform)', () => {
  it('fails with a hint when the control plane is not running, skipping what depends on it', () => {
    const r = meshctl('check');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('✖ the control plane is running and ready');
    expect(r.stdout).toContain("hint: start it with 'meshctl install --local'");
    expect(r.stdout).toContain('- the root CA certificate is valid');
    expect(r.stdout.trimEnd().endsWith('Status check results are ✖')).toBe(true);
  });

  it('passes the prerequisites of install', () => {
    const r = meshctl('check', '--pre');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('✔ the mesh home is writable');
  });

  it('is all green on a running mesh, as a table and as JSON', () => {
    expect(meshctl('install').code).toBe(0);
    const table = meshctl('check', '--proxy');
    expect(table.code, table.stdout).toBe(0);
    expect(table.stdout).toContain('✔ the root CA certificate is valid (created, valid until');
    expect(table.stdout.trimEnd().endsWith('Status check results are ✔')).toBe(true);
    const json = JSON.parse(meshctl('check', '-o', 'json').stdout);
    expect(json.success).toBe(true);
    expect(json.categories.map((c: { categoryName: string }) => c.categoryName)).toEqual([
      'control-plane',
      'identity',
      'config',
      'workloads',
    ]);
    expect(json.categories[2].checks[0]).toMatchObject({
      description: 'the config store is readable and every stored object is valid',
      result: 'success',
    });
  });

  it('names a stored object that is no longer valid (the store was edited by hand)', async () => {
    const { mkdir, writeFile } = await import('node:fs/promises');
    const dir = join(home, 'store', 'networking.istio.io', 'VirtualService', 'default');
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, 'broken.yaml'),
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: broken\n  namespace: default\nspec:\n  hosts: [web]\n  http:\n  - route:\n    - destination: {host: web}\n      weight: -5\n',
    );
    // The daemon reads its store at start: restart it so it meets the hand-edited file.
    meshctl('uninstall');
    expect(meshctl('install').code).toBe(0);
    const r = meshctl('check');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('✖ the config store is readable and every stored object is valid');
    expect(r.stdout).toMatch(
      /broken\.yaml:\d+: spec\.http\[0\]\.route\[0\]\.weight: must be an integer >= 0 \(got -5\)/,
    );
    // The control plane itself left it out of what it serves.
    expect(meshctl('get', 'vs', 'broken').code).toBe(1);
  });

  it('rejects --pre with --proxy and a bad --wait before doing anything', () => {
    expect(meshctl('check', '--pre', '--proxy').code).toBe(64);
    expect(meshctl('check', '--wait', 'later').stderr).toContain('--wait later: not a duration');
  });
});
