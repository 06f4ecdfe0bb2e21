/**
 * ISTIO_MUTUAL with real clients: a Gateway server in `tls.mode: ISTIO_MUTUAL` serves curl holding a
 * mesh certificate (a workload's, issued by the mesh CA) and refuses curl without one or with a
 * certificate of another CA; openssl s_client sees the gateway's own SPIFFE certificate, verified
 * by the mesh root. A DestinationRule `tls.mode: ISTIO_MUTUAL` towards a meshed service under
 * STRICT PeerAuthentication: requests pass; DISABLE in the same rule makes the client's sidecar send
 * plaintext, which the server refuses; back to ISTIO_MUTUAL they pass again. The server's sidecar
 * answers curl with a mesh certificate and refuses curl without one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalMeshForTest, SERVICE_PORT, freePort, send, versionsSeen, type Sidecar } from './support/local-mesh.js';
import { makeTestCa, makeTestLeaf } from '../support/tls.js';

let mesh: LocalMeshForTest;
let api: Sidecar;
let client: Sidecar;
let gatewayPort = 0;
let dir: string;
const files = { cert: '', key: '', root: '', foreignCert: '', foreignKey: '' };

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshctl-istio-mutual-'));
  mesh = await LocalMeshForTest.start();
  api = await mesh.run('api-v1', { app: 'api', version: 'v1' }, { service: 'api' });
  client = await mesh.run('shop', { app: 'shop', version: 'v1' });
  gatewayPort = await freePort();
  await mesh.gateway('mesh-gateway', { istio: 'ingressgateway' }, { 443: gatewayPort });
  await mesh.settle();
  // A mesh certificate as a workload holds it (the shop workload's, from the mesh CA), and one from elsewhere.
  const mine = client.identity.current();
  Object.assign(files, {
    cert: join(dir, 'mesh.crt'),
    key: join(dir, 'mesh.key'),
    root: join(dir, 'mesh-root.crt'),
    foreignCert: join(dir, 'foreign.crt'),
    foreignKey: join(dir, 'foreign.key'),
  });
  await writeFile(files.cert, mine.certChain, { mode: 0o600 });
  await writeFile(files.key, mine.privateKey, { mode: 0o600 });
  await writeFile(files.root, mine.trustRoots);
  const foreignCa = await makeTestCa('not the mesh');
  const foreign = await makeTestLeaf(foreignCa, { uri: ['spiffe://cluster.local/ns/default/sa/shop'] });
  await writeFile(files.foreignCert, foreign.cert, { mode: 0o600 });
  await writeFile(files.foreignKey, foreign.key, { mode: 0o600 });
  await mesh.applyAndSync(
    `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mesh-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-mesh, protocol: HTTPS}
    hosts: [api.mesh.example]
    tls: {mode: ISTIO_MUTUAL}
`,
    `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api-edge}
spec:
  hosts: [api.mesh.example]
  gateways: [mesh-gateway]
  http:
  - route:
    - destination: {host: api, port: {number: ${SERVICE_PORT}}}
`,
  );
}, 120_000);
afterAll(async () => {
  await mesh?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** curl to `url` (HTTPS, the server's SPIFFE certificate not checked by name) with extra arguments. */
function curl(url: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('curl', ['-sS', '-k', '--max-time', '10', ...args, url]);
}

describe('Gateway server tls.mode ISTIO_MUTUAL', () => {
  const url = (): string => `https://api.mesh.example:${gatewayPort}/`;
  const resolve = (): string[] => ['--resolve', `api.mesh.example:${gatewayPort}:127.0.0.1`];

  it('serves a client holding a mesh certificate, into the meshed service', async () => {
    const r = await curl(url(), ...resolve(), '--cert', files.cert, '--key', files.key);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('api-v1 v1');
  });

  it('refuses a client without a certificate, and one whose certificate another CA signed', async () => {
    const before = api.received.length;
    const none = await curl(url(), ...resolve());
    expect(none.code).not.toBe(0);
    expect(none.stdout).toBe('');
    const foreign = await curl(url(), ...resolve(), '--cert', files.foreignCert, '--key', files.foreignKey);
    expect(foreign.code).not.toBe(0);
    expect(foreign.stdout).toBe('');
    // Nothing reached the service.
    expect(api.received.length).toBe(before);
  });

  it("presents the gateway's own SPIFFE certificate, verified by the mesh root (openssl s_client)", async () => {
    const r = await run(
      'openssl',
      [
        's_client',
        '-connect',
        `127.0.0.1:${gatewayPort}`,
        '-servername',
        'api.mesh.example',
        '-CAfile',
        files.root,
        '-cert',
        files.cert,
        '-key',
        files.key,
        '-verify_return_error',
      ],
      'Q\n',
    );
    expect(r.stdout).toContain('Verify return code: 0 (ok)');
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
    expect(new X509Certificate(pem!).subjectAltName).toContain('URI:spiffe://cluster.local/ns/default/sa/mesh-gateway');
  });
});

describe('DestinationRule tls.mode ISTIO_MUTUAL towards a meshed service', () => {
  const strict = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: api-strict}
spec:
  selector: {matchLabels: {app: api}}
  mtls: {mode: STRICT}
`;
  const rule = (mode: string): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api}
spec:
  host: api
  trafficPolicy:
    tls: {mode: ${mode}}
`;
  const apiUrl = `http://api:${SERVICE_PORT}/`;

  it('ISTIO_MUTUAL passes STRICT; DISABLE in the same rule sends plaintext, which STRICT refuses; back to ISTIO_MUTUAL it passes', async () => {
    await mesh.applyAndSync(strict, rule('ISTIO_MUTUAL'));
    expect(await versionsSeen(client, 10, apiUrl)).toEqual({ 'api-v1 v1': 10 });
    await mesh.applyAndSync(rule('DISABLE'));
    const plain = await send(client, apiUrl);
    expect(plain.status).toBe(503);
    await mesh.applyAndSync(rule('ISTIO_MUTUAL'));
    expect(await versionsSeen(client, 10, apiUrl)).toEqual({ 'api-v1 v1': 10 });
  });

  it("the service's sidecar answers curl with a mesh certificate and refuses curl without one", async () => {
    const inbound = `https://127.0.0.1:${api.proxyPort}/`;
    const meshClient = await curl(inbound, '--http1.1', '--cert', files.cert, '--key', files.key);
    expect(meshClient.stdout).toBe('api-v1 v1');
    const noCert = await curl(inbound, '--http1.1');
    expect(noCert.code).not.toBe(0);
    const plaintext = await run('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${api.proxyPort}/`]);
    expect(plaintext.code).not.toBe(0);
    expect(plaintext.stdout).toBe('');
  });
});
