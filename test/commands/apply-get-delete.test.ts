/**
 * `meshctl apply | get | delete` against a real local control plane (a daemon in a temporary
 * MESHCTL_HOME), driven through bin/meshctl as a user would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMeshctlProcess } from '../support/cli.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let home = '';
let dir = '';
function meshctl(...args: string[]): { code: number; stdout: string; stderr: string } {
  return runMeshctlProcess([...args, '--local'], { MESHCTL_HOME: home });
}

const CANARY = `apiVersion: v1
kind: Service
metadata:
  name: reviews
spec:
  selector:
    app: reviews
  ports:
  - name: http
    port: 9080
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: 10
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'meshctl-home-'));
  dir = await mkdtemp(join(tmpdir(), 'meshctl-cfg-'));
  await writeFile(join(dir, 'canary.yaml'), CANARY);
  await writeFile(join(dir, 'bad.yaml'), CANARY.replace('weight: 90', 'weight: ninety'));
  const r = meshctl('install');
  expect(r.code, r.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  meshctl('uninstall', '--purge', '-y');
  await rm(dir, { recursive: true, force: true });
  await rm(home, { recursive: true, force: true });
});

describe('meshctl apply / get / delete on the local platform', () => {
  it('applies, reports created then unchanged, and lists what is stored', () => {
    const first = meshctl('apply', '-f', join(dir, 'canary.yaml'));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe(
      'service/reviews created\nvirtualservice.networking.istio.io/reviews created\ndestinationrule.networking.istio.io/reviews created\n',
    );
    expect(meshctl('apply', '-f', join(dir, 'canary.yaml')).stdout).toContain(
      'virtualservice.networking.istio.io/reviews unchanged',
    );
    expect(meshctl('get', 'vs').stdout).toBe('NAME      APIVERSION\nreviews   networking.istio.io/v1\n');
    const dr = JSON.parse(meshctl('get', 'destinationrules', 'reviews', '-o', 'json').stdout);
    expect(dr.spec.subsets.map((s: { name: string }) => s.name)).toEqual(['v1', 'v2']);
  });

  it('stores config whose fields have no effect, and says so on stderr (MESH0002, with file, line and field)', async () => {
    const statPrefix = CANARY.split('---')[1]!.replace(
      '  - route:\n',
      '  - match:\n    - statPrefix: reviews-canary\n    route:\n',
    );
    await writeFile(join(dir, 'stat-prefix.yaml'), statPrefix);
    const r = meshctl('apply', '-f', join(dir, 'stat-prefix.yaml'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('virtualservice.networking.istio.io/reviews configured\n');
    expect(r.stderr).toContain('Warning [MESH0002] (VirtualService reviews.default) ');
    expect(r.stderr).toMatch(
      /stat-prefix\.yaml:\d+ spec\.http\[0\]\.match\[0\]\.statPrefix: accepted but not implemented by the mesh: /,
    );
    expect(meshctl('apply', '-f', join(dir, 'canary.yaml')).stderr).not.toContain('MESH0002');
  });

  it('rejects invalid config naming file, line and field, and stores nothing of it', () => {
    const r = meshctl('apply', '-f', join(dir, 'bad.yaml'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bad.yaml:21:15: spec.http[0].route[0].weight: must be an integer >= 0 (got "ninety")');
    expect(r.stderr).toContain('nothing was applied');
    const vs = JSON.parse(meshctl('get', 'vs', 'reviews', '-o', 'json').stdout);
    expect(vs.spec.http[0].route[0].weight).toBe(90);
  });

  it('warns (MESH0002, on stderr) about what the mesh accepts but does not enforce, and stores it', async () => {
    const custom =
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: ext\nspec:\n  action: CUSTOM\n  provider: {name: opa}\n  rules: [{}]\n';
    await writeFile(join(dir, 'custom.yaml'), custom);
    const r = meshctl('apply', '-f', join(dir, 'custom.yaml'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('authorizationpolicy.security.istio.io/ext created\n');
    expect(r.stderr).toMatch(
      /^Warning \[MESH0002\] \(AuthorizationPolicy ext\.default\) .*custom\.yaml:6 spec\.action: CUSTOM is accepted but not implemented by the mesh: .+\n/m,
    );
    expect(r.stderr).toMatch(
      /Warning \[MESH0002\] \(AuthorizationPolicy ext\.default\) .*custom\.yaml:7 spec\.provider: accepted but not implemented by the mesh: .+\n/,
    );
    // Enforced kinds stay quiet: a canary; an AuthorizationPolicy that denies everything (spec: {}) is enforced.
    expect(meshctl('apply', '-f', join(dir, 'canary.yaml')).stderr).toBe('');
    await writeFile(
      join(dir, 'authz.yaml'),
      'apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: deny-all\nspec: {}\n',
    );
    // Enforced, so no MESH0002; analyze's MESH0303 says what `spec: {}` does.
    const denyAll = meshctl('apply', '-f', join(dir, 'authz.yaml')).stderr;
    expect(denyAll).not.toContain('MESH0002');
    expect(denyAll).toContain('Warning [MESH0303] (AuthorizationPolicy deny-all.default)');
    expect(meshctl('delete', '-f', join(dir, 'authz.yaml')).code).toBe(0);
    expect(meshctl('delete', '-f', join(dir, 'custom.yaml')).code).toBe(0);
  });

  it('deletes by kind and name; a second delete is not found (exit 1) unless --ignore-not-found', () => {
    expect(meshctl('delete', 'vs', 'reviews').stdout).toBe('virtualservice.networking.istio.io/reviews deleted\n');
    const again = meshctl('delete', 'vs', 'reviews');
    expect(again.code).toBe(1);
    expect(again.stdout).toContain('not found');
    expect(meshctl('delete', 'vs', 'reviews', '--ignore-not-found').code).toBe(0);
    expect(meshctl('get', 'vs', 'reviews').code).toBe(1);
  });

  it('deletes by file, and rejects unknown kinds and bad flag combinations with exit 64', () => {
    expect(meshctl('delete', '-f', join(dir, 'canary.yaml'), '--ignore-not-found').code).toBe(0);
    expect(meshctl('get', 'dr').stderr).toContain('No DestinationRule found');
    const unknown = meshctl('get', 'frobs');
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain('unknown kind "frobs"');
    expect(meshctl('delete', 'vs', 'x', '-f', join(dir, 'canary.yaml')).code).toBe(64);
  });
});
