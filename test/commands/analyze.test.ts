/** `meshctl analyze` as users run it: output lines, exit codes, JSON, thresholds, suppressions, stdin. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v3}
`;
const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v3, labels: {version: v3}}
`;
const WEIGHTS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: prod}
spec:
  hosts: [ratings]
  http:
  - route:
    - {destination: {host: ratings}, weight: 60}
    - {destination: {host: ratings}, weight: 30}
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshctl-analyze-'));
  await writeFile(join(dir, 'vs.yaml'), VS);
  await writeFile(join(dir, 'dr.yaml'), DR);
  await writeFile(join(dir, 'weights.yaml'), WEIGHTS);
});

describe('meshctl analyze', () => {
  it('prints findings in the istioctl shape and exits 79', async () => {
    const r = await runCli(['analyze', '-f', 'vs.yaml'], { cwd: dir });
    expect(r.stdout).toBe(
      'Error [MESH0101] (VirtualService reviews.default) vs.yaml:9 Referenced subset "v3" is not defined in any DestinationRule for host "reviews"; define it or fix the route.\n',
    );
    expect(r.stderr).toBe('Error: analysis found 1 issue(s) at or above the failure threshold\n');
    expect(r.code).toBe(79);
  });

  it('with a kubeconfig whose cluster is down: names the API server and offers --offline, which analyzes the files alone', async () => {
    // Outside `dir`: other tests analyze the whole folder.
    const kubeconfig = join(await mkdtemp(join(tmpdir(), 'meshctl-kubeconfig-')), 'config');
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    await writeFile(
      kubeconfig,
      'apiVersion: v1\nkind: Config\nclusters: [{name: dead, cluster: {server: "https://127.0.0.1:1"}}]\ncontexts: [{name: dead, context: {cluster: dead, user: u}}]\ncurrent-context: dead\nusers: [{name: u, user: {token: t}}]\n',
    );
    const down = await runCli(['analyze', '-f', 'vs.yaml'], { cwd: dir, env: { KUBECONFIG: kubeconfig } });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('cannot reach the Kubernetes API server https://127.0.0.1:1 (context "dead")');
    expect(down.stderr).toContain('or analyze the files alone: add --offline');
    const offline = await runCli(['analyze', '-f', 'vs.yaml', '--offline'], {
      cwd: dir,
      env: { KUBECONFIG: kubeconfig },
    });
    expect(offline.stdout).toContain('Error [MESH0101] (VirtualService reviews.default) vs.yaml:9');
    expect(offline.code).toBe(79);
  });

  it('a clean run prints ✔ No validation issues found and exits 0', async () => {
    const r = await runCli(['analyze', '-f', 'vs.yaml', '-f', 'dr.yaml'], { cwd: dir });
    expect(r.stdout).toBe('✔ No validation issues found\n');
    expect(r.code).toBe(0);
  });

  it('reads stdin with -f -, and namespaces objects with -n', async () => {
    const r = await runCli(['analyze', '-f', '-', '-n', 'shop'], { stdin: VS });
    expect(r.stdout).toContain('(VirtualService reviews.shop) <stdin>:9 Referenced subset "v3"');
    expect(r.code).toBe(79);
  });

  it('-o json gives an array with code, level, resource, origin and field', async () => {
    const r = await runCli(['analyze', '-f', dir, '-o', 'json']);
    const out = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(out).toEqual([
      {
        code: 'MESH0103',
        level: 'Warning',
        name: 'RouteWeightsNotSumTo100',
        message:
          'Route weights 60 + 30 sum to 90, not 100; traffic is split in proportion to them, so set them to add up to 100.',
        resource: { kind: 'VirtualService', name: 'ratings', namespace: 'prod', apiVersion: 'networking.istio.io/v1' },
        origin: { file: join(dir, 'weights.yaml'), line: 8, column: 5 },
        field: 'spec.http[0].route',
      },
    ]);
    expect(r.code).toBe(0);
  });

  it('--failure-threshold Warning fails on a warning; --output-threshold Error hides it', async () => {
    const strict = await runCli(['analyze', '-f', 'weights.yaml', '--failure-threshold', 'warning'], { cwd: dir });
    expect(strict.stdout).toMatch(/^Warning \[MESH0103\] \(VirtualService ratings\.prod\) weights\.yaml:8 /);
    expect(strict.code).toBe(79);
    const quiet = await runCli(['analyze', '-f', 'weights.yaml', '--output-threshold', 'Error'], { cwd: dir });
    expect(quiet.stdout).toBe('✔ No validation issues found\n');
    expect(quiet.code).toBe(0);
  });

  it('--suppress CODE=Kind/name.namespace hides a finding, with globs', async () => {
    const exact = await runCli(['analyze', '-f', 'vs.yaml', '--suppress', 'MESH0101=VirtualService/reviews.default'], {
      cwd: dir,
    });
    expect(exact.stdout).toBe('✔ No validation issues found\n');
    expect(exact.code).toBe(0);
    const other = await runCli(['analyze', '-f', 'vs.yaml', '--suppress', 'MESH0101=VirtualService/*.prod'], {
      cwd: dir,
    });
    expect(other.code).toBe(79);
    const glob = await runCli(['analyze', '-f', 'vs.yaml', '--suppress', 'MESH01*=VirtualService/*'], { cwd: dir });
    expect(glob.code).toBe(0);
  });

  it('-n reports only the findings of that namespace', async () => {
    const prod = await runCli(['analyze', '-f', dir, '-n', 'prod']);
    expect(prod.stdout).toMatch(/^Warning \[MESH0103\] \(VirtualService ratings\.prod\)/);
    const other = await runCli(['analyze', '-f', dir, '-n', 'default']);
    expect(other.stdout).toBe('✔ No validation issues found\n');
  });

  it('reports a file that is not YAML as a finding with its position, without a stack trace', async () => {
    const r = await runCli(['analyze', '-f', '-'], { stdin: 'kind: VirtualService\nmetadata: {name: [x\n' });
    expect(r.stdout).toMatch(/^Error \[MESH0009\] <stdin>:\d+ invalid YAML: .*; fix the syntax there\n$/);
    expect(r.code).toBe(79);
  });

  it('--list prints the catalogue', async () => {
    const r = await runCli(['analyze', '--list']);
    expect(r.stdout.split('\n')[0]).toMatch(/^CODE\s+LEVEL\s+NAME\s+DESCRIPTION$/);
    expect(r.stdout).toMatch(/^MESH0101\s+Error\s+ReferencedSubsetNotFound\s+/m);
    expect(r.stdout.match(/^MESH\d{4}/gm)).toHaveLength(40);
    expect(r.code).toBe(0);
  });

  it('usage errors exit 64 before reading anything', async () => {
    const none = await runCli(['analyze']);
    expect(none.code).toBe(64);
    expect(none.stderr).toMatch(/^Error: nothing to analyze: pass -f/);
    expect((await runCli(['analyze', '-f', 'x.yaml', '--suppress', 'MESH0101'])).stderr).toMatch(
      /--suppress MESH0101: expected CODE=Kind\/name.namespace/,
    );
    expect((await runCli(['analyze', '-f', 'x.yaml', '--failure-threshold', 'fatal'])).code).toBe(64);
    expect((await runCli(['analyze', '-f', 'x.yaml', '-o', 'yaml'])).code).toBe(64);
  });

  it('a missing file is a clear error, exit 1', async () => {
    const r = await runCli(['analyze', '-f', 'nope.yaml'], { cwd: dir });
    expect(r.stderr).toBe('Error: nope.yaml: no such file or directory\n  hint: check the path given to -f\n');
    expect(r.code).toBe(1);
  });
});
