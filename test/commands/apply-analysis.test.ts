/**
 * `meshctl apply` asks the analyzers first, over the files and what the platform already holds:
 * a route to a subset no DestinationRule defines (every request would be 503 UH) is refused with
 * analyze's finding and exit 79, nothing applied; --force applies it; the same VirtualService
 * applied after its DestinationRule passes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/daemon.js';
import { runCli } from '../support/cli.js';

let home: string;
let cp: RunningControlPlane;
const cli = (...argv: string[]) =>
  runCli(['--local', ...argv], { env: { MESHCTL_HOME: home, PATH: process.env.PATH } });

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
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
  - {name: v3, labels: {version: v3}}
`;

/** A GAMMA route to a Service nobody runs, with a filter meshctl accepts without acting on it. */
const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: web}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 9080}]
  rules:
  - filters:
    - type: ExtensionRef
      extensionRef: {group: example.io, kind: Filter, name: f}
    backendRefs: [{name: web, port: 9080}]
`;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'meshctl-apply-'));
  cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
  await writeFile(join(home, 'vs.yaml'), VS);
  await writeFile(join(home, 'dr.yaml'), DR);
  await writeFile(join(home, 'route.yaml'), ROUTE);
});
afterAll(async () => {
  await cp.stop();
  await rm(home, { recursive: true, force: true });
});

describe('apply runs the analyzers', () => {
  it('refuses a route to an undefined subset, printing the finding; nothing is applied', async () => {
    const r = await cli('apply', '-f', join(home, 'vs.yaml'));
    expect(r.code).toBe(79);
    expect(r.stderr).toMatch(/Error \[MESH0101\] \(VirtualService reviews\.default\)/);
    expect(r.stderr).toContain('v3');
    expect(r.stderr).toContain('apply anyway with --force');
    expect(await cp.store.list({ kind: 'VirtualService' })).toEqual([]);
  });

  it('applies with --force, and without it once the DestinationRule defining the subset is stored', async () => {
    const forced = await cli('apply', '-f', join(home, 'vs.yaml'), '--force');
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(/MESH0101/);
    expect(cp.store.list({ kind: 'VirtualService' })).toHaveLength(1);
    expect((await cli('apply', '-f', join(home, 'dr.yaml'))).code).toBe(0);
    const again = await cli('apply', '-f', join(home, 'vs.yaml'));
    expect(again.stderr).not.toMatch(/MESH0101/);
    expect(again.code).toBe(0);
  });

  it('an HTTPRoute applies on the local mesh warning MESH0002 for its ExtensionRef filter; analyze with the Services finds its missing parentRef Service (MESH0102)', async () => {
    // The local platform's services come and go with `meshctl run`: apply does not judge references to them.
    const applied = await cli('apply', '-f', join(home, 'route.yaml'));
    expect(applied.code).toBe(0);
    expect(applied.stderr).toMatch(/Warning \[MESH0002\] \(HTTPRoute web\.default\).*ExtensionRef/);
    expect(cp.store.list({ kind: 'HTTPRoute' })).toHaveLength(1);
    await writeFile(
      join(home, 'svc.yaml'),
      'apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec:\n  ports: [{port: 9080}]\n',
    );
    const analyzed = await cli('analyze', '-f', join(home, 'route.yaml'), '-f', join(home, 'svc.yaml'));
    expect(analyzed.code).toBe(79);
    const out = analyzed.stdout + analyzed.stderr;
    expect(out).toMatch(/Warning \[MESH0002\] \(HTTPRoute web\.default\).*ExtensionRef/);
    expect(out).toMatch(
      /Error \[MESH0102\] \(HTTPRoute web\.default\) \S*route\.yaml:5 HTTPRoute parentRef names Service "web"/,
    );
  });
});
