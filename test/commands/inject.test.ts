import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createServer } from 'node:https';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import { runCli } from '../support/cli.js';
import { makeTestCa, makeTestLeaf } from '../support/tls.js';

const POD = 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: app\n    image: x\n';

describe('meshctl inject: flags and inputs', () => {
  it('needs -f', async () => {
    const r = await runCli(['inject']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('inject needs at least one -f');
  });

  it('rejects an unknown --set key, naming the settable keys', async () => {
    const r = await runCli(['inject', '-f', '-', '--set', 'proxy.color=blue'], { stdin: POD });
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--set proxy.color: unknown setting');
    expect(r.stderr).toContain('proxy.resources.requests.cpu');
    expect(r.stdout).toBe('');
  });

  it('rejects a bad quantity and a bad --native-sidecar value', async () => {
    const a = await runCli(['inject', '-f', '-', '--set', 'proxy.resources.requests.memory=lots'], { stdin: POD });
    expect(a.code).toBe(64);
    expect(a.stderr).toContain('not a Kubernetes quantity');
    const b = await runCli(['inject', '-f', '-', '--native-sidecar=maybe'], { stdin: POD });
    expect(b.code).toBe(64);
    expect(b.stderr).toContain('--native-sidecar=maybe: expected true or false');
  });

  it("inject -f x | uninject -f - prints x byte for byte (Istio's bookinfo: separators, comments, blank lines)", async () => {
    const file = join(import.meta.dirname, '../fixtures/upstream/istio-samples/bookinfo/platform/kube/bookinfo.yaml');
    const text = await readFile(file, 'utf8');
    const injected = await runCli(['inject', '-f', file]);
    expect(injected.code).toBe(0);
    expect(injected.stderr).toContain('deployment "productpage-v1" injected');
    expect(injected.stdout).toContain('mesh-proxy');
    const back = await runCli(['uninject', '-f', '-'], { stdin: injected.stdout });
    expect(back.code).toBe(0);
    expect(back.stdout).toBe(text);
  });

  it('names a missing file and writes nothing', async () => {
    const r = await runCli(['inject', '-f', 'no-such.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('Error: no-such.yaml: no such file or directory\n  hint: check the path given to -f\n');
    expect(r.stdout).toBe('');
  });

  it('refuses plain http URLs', async () => {
    const r = await runCli(['inject', '-f', 'http://127.0.0.1:1/app.yaml']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('only https:// URLs are accepted');
  });

  it('writes nothing to stdout when one object of many is refused', async () => {
    const text = POD + '---\n' + POD.replace('name: p', 'name: q').replace('spec:\n', 'spec:\n  hostNetwork: true\n');
    const r = await runCli(['inject', '-f', '-'], { stdin: text });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('pod "q" (<stdin>:10) cannot be injected: it uses hostNetwork: true');
  });

  it('refuses a container named like the proxy', async () => {
    const r = await runCli(['inject', '-f', '-'], { stdin: POD.replace('name: app', 'name: mesh-proxy') });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('a name the mesh reserves');
  });

  it('reads an https URL (a real TLS server, trusted through NODE_EXTRA_CA_CERTS)', async () => {
    const ca = await makeTestCa();
    const leaf = await makeTestLeaf(ca, { dns: ['localhost'], ip: ['127.0.0.1'] });
    const dir = await mkdtemp(join(tmpdir(), 'meshctl-https-'));
    await writeFile(join(dir, 'ca.pem'), ca.cert);
    const server = createServer({ cert: leaf.cert, key: leaf.key }, (req, res) => {
      if (req.url === '/app.yaml') res.end(POD);
      else res.writeHead(404).end('not found');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    try {
      const env = { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'), NO_COLOR: '1' };
      const run = promisify(execFile);
      const ok = await run(process.execPath, ['bin/meshctl', 'inject', '-f', `https://localhost:${port}/app.yaml`], {
        env,
      });
      expect(ok.stdout).toContain('name: mesh-proxy');
      expect(ok.stderr).toBe('pod "p" injected\n');
      const missing = await run(
        process.execPath,
        ['bin/meshctl', 'inject', '-f', `https://localhost:${port}/nope.yaml`],
        { env },
      ).catch((e) => e);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('server answered 404');
    } finally {
      server.close();
    }
  });
});

describe('meshctl inject: an application running as the sidecar UID 1337 (Istio IST0144)', () => {
  const APP = `apiVersion: apps/v1
kind: Deployment
metadata: {name: legacy, namespace: shop}
spec:
  selector: {matchLabels: {app: legacy}}
  template:
    metadata: {labels: {app: legacy}}
    spec:
      securityContext: {runAsUser: 1337}
      initContainers:
      - {name: migrate, image: example/migrate:1, securityContext: {runAsUser: 1337}}
      containers:
      - {name: web, image: example/web:1}
      - {name: worker, image: example/worker:1, securityContext: {runAsUser: 1000}}
      - name: metrics
        image: example/metrics:1
        securityContext: {runAsUser: 1337}
`;
  const warning = (field: string, line: number, container: string) =>
    `  warning: MESH0502 ${field} (<stdin>:${line}): container "${container}" runs as UID 1337, the sidecar's own UID: the capture rules let that traffic bypass the sidecar (no mTLS, no authorization policy, no telemetry); fix: set runAsUser to another UID\n`;

  it('injects, and warns with the code, each field that makes a container run as 1337 (with its line), and the fix', async () => {
    const r = await runCli(['inject', '-f', '-'], { stdin: APP });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('name: mesh-proxy');
    // The init container is not named: running one as 1337 is how it reaches the network before the sidecar.
    expect(r.stderr).toBe(
      'deployment "legacy" injected\n' +
        warning('spec.template.spec.securityContext.runAsUser', 9, 'web') +
        warning('spec.template.spec.containers[2].securityContext.runAsUser', 17, 'metrics'),
    );
  });

  it('names the field inside a List, and does not flag the sidecar a classic-mode injection added', async () => {
    const list = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: p}
  spec:
    containers:
    - name: app
      image: x
      securityContext: {runAsUser: 1337}
`;
    const first = await runCli(['inject', '-f', '-', '--native-sidecar=false'], { stdin: list });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toBe(
      'pod "p" injected\n' + warning('spec.containers[0].securityContext.runAsUser', 11, 'app'),
    );
    // Injected again: the mesh-proxy container (UID 1337 by design) is not reported, the app still is, at its new index.
    const again = await runCli(['inject', '-f', '-', '--native-sidecar=false'], { stdin: first.stdout });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(
      /^pod "p" injected.*\n  warning: MESH0502 spec\.containers\[0\]\.securityContext\.runAsUser \(<stdin>:\d+\): container "app" runs as UID 1337/,
    );
    expect(again.stderr.match(/MESH0502/g)).toHaveLength(1);
  });

  it('an object whose kind is named like an Object.prototype member passes through instead of crashing inject', async () => {
    const r = await runCli(['inject', '-f', '-'], {
      stdin: 'apiVersion: v1\nkind: toString\nmetadata: {name: x}\nspec: {}\n',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('kind: toString');
  });
});
