/**
 * Gateways end to end on the local platform, with real clients: the seed's Gateway (`api-gateway`,
 * `selector: {istio: ingressgateway}`, httpsRedirect on 80, SIMPLE TLS on 443 with credentialName
 * `api-tls-cert`) and a VirtualService bound to it route curl's HTTPS requests into a meshed
 * service; MUTUAL TLS needs a client certificate; openssl s_client sees the certificate chosen by
 * SNI; TLS PASSTHROUGH routes by SNI to a TLS server; TCP; a changed Secret rotates the
 * certificate under steady load with zero failed requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createServer as createTlsServer, connect as tlsConnect, type Server as TlsServer } from 'node:tls';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalMeshForTest, eventually, freePort, type Sidecar } from './support/local-mesh.js';
import { makeTestCa, makeTestLeaf, type PemPair } from '../support/tls.js';

type Ca = Awaited<ReturnType<typeof makeTestCa>>;

function run(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({
        code: err
          ? typeof (err as NodeJS.ErrnoException).code === 'number'
            ? (err as unknown as { code: number }).code
            : 1
          : 0,
        stdout,
        stderr,
      });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The YAML of a kubernetes.io/tls Secret (with ca.crt when given), as `kubectl create secret tls` writes it. */
function tlsSecret(name: string, pair: PemPair, ca?: string): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return `apiVersion: v1
kind: Secret
metadata: {name: ${name}}
type: kubernetes.io/tls
data:
  tls.crt: ${b64(pair.cert)}
  tls.key: ${b64(pair.key)}
${ca ? `  ca.crt: ${b64(ca)}\n` : ''}`;
}

/** The seed's Gateway, as written in the seed document. */
const seedGateway = `apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: api-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - api.example.com
    tls:
      httpsRedirect: true
  - port:
      number: 443
      name: https
      protocol: HTTPS
    hosts:
    - api.example.com
    tls:
      mode: SIMPLE
      credentialName: api-tls-cert
`;

const apiRoute = `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api.example.com]
  gateways: [api-gateway]
  http:
  - route:
    - destination: {host: api, port: {number: 9080}}
    corsPolicy:
      allowOrigins: [{exact: 'https://shop.example.com'}, {regex: 'https://.*[.]partner[.]example'}]
      allowMethods: [GET, POST]
      allowHeaders: [authorization, content-type]
      exposeHeaders: [x-request-id]
      maxAge: 1h
      allowCredentials: true
`;

describe('gateway (local platform)', () => {
  let mesh: LocalMeshForTest;
  let gw: Sidecar;
  let dir: string;
  let ca: Ca;
  let ca2: Ca;
  let clientCa: Ca;
  let caFile: string;
  let ca2File: string;
  const ports: Record<number, number> = {};
  let passthroughServer: TlsServer;
  let tcpServer: NetServer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshctl-gw-'));
    ca = await makeTestCa('gateway test CA one');
    ca2 = await makeTestCa('gateway test CA two');
    clientCa = await makeTestCa('gateway client CA');
    caFile = join(dir, 'ca.pem');
    ca2File = join(dir, 'ca2.pem');
    await writeFile(caFile, ca.cert);
    await writeFile(ca2File, ca2.cert);
    for (const p of [80, 443, 8443, 9443, 9000, 7443]) ports[p] = await freePort();

    // A TLS server outside the mesh for PASSTHROUGH (it shows its own certificate) and a TCP echo.
    const secure = await makeTestLeaf(ca2, { dns: ['secure.example.com'] });
    passthroughServer = createTlsServer({ cert: secure.cert, key: secure.key }, (s) => s.end('passthrough ok\n'));
    await new Promise<void>((r) => passthroughServer.listen(0, '127.0.0.1', r));
    tcpServer = createNetServer((s) => s.once('data', (d) => s.end(`echo ${d.toString().trim()}\n`)));
    await new Promise<void>((r) => tcpServer.listen(0, '127.0.0.1', r));

    mesh = await LocalMeshForTest.start();
    await mesh.run('api-v1', { app: 'api', version: 'v1' }, { service: 'api' });
    gw = await mesh.gateway('ingressgateway', { istio: 'ingressgateway' }, ports);
    await mesh.settle();
    const serving = await makeTestLeaf(ca, { dns: ['api.example.com'] });
    const mtlsLeaf = await makeTestLeaf(ca, { dns: ['mtls.example.com'] });
    const other = await makeTestLeaf(ca2, { dns: ['other.example.com'] });
    await mesh.applyAndSync(
      tlsSecret('api-tls-cert', serving),
      tlsSecret('mtls-cert', mtlsLeaf, clientCa.cert),
      tlsSecret('other-cert', other),
      seedGateway,
      apiRoute,
      `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 8443, name: https-mtls, protocol: HTTPS}
    hosts: [mtls.example.com]
    tls: {mode: MUTUAL, credentialName: mtls-cert, minProtocolVersion: TLSV1_2}
  - port: {number: 7443, name: https-a, protocol: HTTPS}
    hosts: [api.example.com]
    tls: {mode: SIMPLE, credentialName: api-tls-cert}
  - port: {number: 7443, name: https-b, protocol: HTTPS}
    hosts: [other.example.com]
    tls: {mode: SIMPLE, credentialName: other-cert}
  - port: {number: 9443, name: tls, protocol: TLS}
    hosts: [secure.example.com]
    tls: {mode: PASSTHROUGH}
  - port: {number: 9000, name: tcp, protocol: TCP}
    hosts: ['*']
`,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge-http}
spec:
  hosts: [mtls.example.com, other.example.com]
  gateways: [edge]
  http:
  - route:
    - destination: {host: api, port: {number: 9080}}
`,
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: secure}
spec:
  hosts: [secure.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tls: ${(passthroughServer.address() as AddressInfo).port}}}]
`,
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo}
spec:
  hosts: [echo.internal]
  ports: [{number: 9000, name: tcp, protocol: TCP}]
  location: MESH_EXTERNAL
  resolution: STATIC
  endpoints: [{address: 127.0.0.1, ports: {tcp: ${(tcpServer.address() as AddressInfo).port}}}]
`,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge-l4}
spec:
  hosts: [secure.example.com, echo.internal]
  gateways: [edge]
  tls:
  - match: [{sniHosts: [secure.example.com], port: 9443}]
    route: [{destination: {host: secure.example.com, port: {number: 443}}}]
  tcp:
  - match: [{port: 9000}]
    route: [{destination: {host: echo.internal, port: {number: 9000}}}]
`,
    );
  }, 120_000);

  afterAll(async () => {
    await mesh?.stop();
    passthroughServer?.close();
    tcpServer?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const curl = (args: string[]) => run('curl', ['-sS', '--max-time', '10', ...args]);

  it('routes HTTPS from curl through the seed Gateway (SIMPLE, credentialName api-tls-cert) into the meshed service', async () => {
    const r = await curl([
      '--resolve',
      `api.example.com:${ports[443]}:127.0.0.1`,
      '--cacert',
      caFile,
      '-w',
      '\n%{http_code}',
      `https://api.example.com:${ports[443]}/products`,
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('api-v1 v1\n200');
    const seen = mesh.sidecars.find((s) => s.name === 'api-v1')!.received.at(-1)!;
    expect(seen.url).toBe('/products');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
  });

  it('corsPolicy: the gateway answers preflights from allowed origins itself and decorates their responses', async () => {
    const base = [
      '--resolve',
      `api.example.com:${ports[443]}:127.0.0.1`,
      '--cacert',
      caFile,
      '-D',
      '-',
      '-o',
      '/dev/null',
    ];
    const url = `https://api.example.com:${ports[443]}/cart`;
    const app = mesh.sidecars.find((s) => s.name === 'api-v1')!;
    const before = app.received.length;
    const pre = await curl([
      ...base,
      '-X',
      'OPTIONS',
      '-H',
      'Origin: https://shop.example.com',
      '-H',
      'Access-Control-Request-Method: POST',
      url,
    ]);
    expect(pre.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(pre.stdout).toMatch(/access-control-allow-origin: https:\/\/shop\.example\.com\r\n/);
    expect(pre.stdout).toMatch(/access-control-allow-methods: GET,POST\r\n/);
    expect(pre.stdout).toMatch(/access-control-allow-headers: authorization,content-type\r\n/);
    expect(pre.stdout).toMatch(/access-control-max-age: 3600\r\n/);
    expect(pre.stdout).toMatch(/access-control-allow-credentials: true\r\n/);
    expect(app.received.length).toBe(before);
    const actual = await curl([...base, '-H', 'Origin: https://api.partner.example', url]);
    expect(actual.stdout).toMatch(/access-control-allow-origin: https:\/\/api\.partner\.example\r\n/);
    expect(actual.stdout).toMatch(/access-control-expose-headers: x-request-id\r\n/);
    expect(app.received.length).toBe(before + 1);
    const stranger = await curl([...base, '-H', 'Origin: https://evil.example', url]);
    expect(stranger.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(stranger.stdout).not.toMatch(/access-control-allow-origin/i);
  });

  it('answers plain HTTP on the redirect server with 301 to https', async () => {
    const r = await curl([
      '--resolve',
      `api.example.com:${ports[80]}:127.0.0.1`,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{redirect_url}',
      `http://api.example.com:${ports[80]}/products?id=1`,
    ]);
    // As Envoy: the scheme becomes https; a non-default port stays (on Kubernetes the client came on 80).
    expect(r.stdout).toBe(`301 https://api.example.com:${ports[80]}/products?id=1`);
  });

  it('refuses hosts the Gateway does not expose', async () => {
    const r = await curl([
      '--resolve',
      `nope.example.com:${ports[443]}:127.0.0.1`,
      '--cacert',
      caFile,
      '-k',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `https://nope.example.com:${ports[443]}/`,
    ]);
    expect(r.stdout).toBe('404');
  });

  it('MUTUAL: refuses a client without a certificate, serves one whose certificate the Secret ca.crt signed', async () => {
    const url = `https://mtls.example.com:${ports[8443]}/`;
    const resolve = ['--resolve', `mtls.example.com:${ports[8443]}:127.0.0.1`, '--cacert', caFile];
    const without = await curl([...resolve, url]);
    expect(without.code).not.toBe(0);
    const client = await makeTestLeaf(clientCa, { dns: ['client.example.com'] });
    const wrong = await makeTestLeaf(ca2, { dns: ['client.example.com'] });
    await writeFile(join(dir, 'client.pem'), client.cert);
    await writeFile(join(dir, 'client.key'), client.key);
    await writeFile(join(dir, 'wrong.pem'), wrong.cert);
    await writeFile(join(dir, 'wrong.key'), wrong.key);
    const withWrong = await curl([...resolve, '--cert', join(dir, 'wrong.pem'), '--key', join(dir, 'wrong.key'), url]);
    expect(withWrong.code).not.toBe(0);
    const ok = await curl([...resolve, '--cert', join(dir, 'client.pem'), '--key', join(dir, 'client.key'), url]);
    expect(ok.stdout).toBe('api-v1 v1');
  });

  it('chooses the certificate by SNI (openssl s_client)', async () => {
    const issuer = async (name: string): Promise<string> => {
      const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${ports[7443]}`, '-servername', name], '');
      return /issuer=\s*(.*)/.exec(r.stdout)?.[1] ?? r.stdout + r.stderr;
    };
    expect(await issuer('api.example.com')).toContain('gateway test CA one');
    expect(await issuer('other.example.com')).toContain('gateway test CA two');
  });

  it('PASSTHROUGH: routes by SNI to a TLS server, whose own certificate the client sees', async () => {
    const r = await curl([
      '--resolve',
      `secure.example.com:${ports[9443]}:127.0.0.1`,
      '--cacert',
      ca2File,
      '-o',
      '/dev/null',
      '-w',
      '%{ssl_verify_result}',
      `https://secure.example.com:${ports[9443]}/`,
    ]);
    // The server answers raw bytes, not HTTP: what matters is that the TLS session reached it and verified.
    expect(r.stdout).toBe('0');
    const text = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect(
        { host: '127.0.0.1', port: ports[9443]!, servername: 'secure.example.com', ca: ca2.cert },
        () => undefined,
      );
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString()));
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
    expect(text).toBe('passthrough ok\n');
  });

  it('TCP: forwards opaque bytes to the routed destination', async () => {
    const r = await run('curl', ['-sS', '--max-time', '5', `telnet://127.0.0.1:${ports[9000]}`], 'hello\n');
    expect(r.stdout).toBe('echo hello\n');
  });

  it('rotates the certificate when the Secret changes, under steady load, with zero failed requests', async () => {
    const rotated = await makeTestLeaf(ca2, { dns: ['api.example.com'] });
    let running = true;
    let ok = 0;
    const failures: string[] = [];
    const issuers = new Set<string>();
    const once = (): Promise<void> =>
      new Promise((resolve) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port: ports[443],
            servername: 'api.example.com',
            path: '/',
            headers: { host: 'api.example.com' },
            ca: [ca.cert, ca2.cert],
            agent: false,
          },
          (res) => {
            const issuer = String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().issuer?.CN ?? '');
            let body = '';
            res.on('data', (d: Buffer) => (body += d));
            res.on('end', () => {
              if (res.statusCode === 200 && body === 'api-v1 v1') {
                ok++;
                issuers.add(issuer);
              } else failures.push(`${res.statusCode} ${body}`);
              resolve();
            });
          },
        );
        req.on('error', (e) => {
          failures.push(e.message);
          resolve();
        });
        req.end();
      });
    const loops = Array.from({ length: 4 }, async () => {
      while (running) await once();
    });
    await eventually('some requests before the rotation', () => ok > 20, 30_000);
    await mesh.applyAndSync(tlsSecret('api-tls-cert', rotated));
    const before = ok;
    await eventually(
      'requests answered with the rotated certificate',
      () => issuers.has('gateway test CA two') && ok > before + 20,
      30_000,
    );
    running = false;
    await Promise.all(loops);
    expect(failures).toEqual([]);
    expect([...issuers].sort()).toEqual(['gateway test CA one', 'gateway test CA two']);
  });

  it('shows its listeners in proxy-config with private keys redacted', async () => {
    const dump = JSON.stringify(await (await fetch(`http://127.0.0.1:${gw.proxy.adminPort}/config_dump`)).json());
    expect(dump).toContain('gateway|443');
    expect(dump).not.toContain('PRIVATE KEY');
    expect(dump).toContain('[redacted]');
  });
});
