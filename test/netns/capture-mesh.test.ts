/**
 * Transparent capture through the real sidecar: two pods (network namespaces) with `meshctl proxy
 * init` rules and `meshctl proxy run --config` as UID 1337, certificates made at test time. An
 * unmodified client in pod A calls pod B's address; A's capture listener 15001 sends it over mTLS
 * to B, whose capture listener 15006 (STRICT) hands it to the app on loopback. A third namespace
 * without a sidecar shows that STRICT refuses plaintext.
 */
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeRequiring } from '../support/requirements.js';
import { makeTestCa, makeTestLeaf } from '../support/tls.js';
import { hasCurl, netnsRequirements } from './support/requirements.js';
import { useNetnsLab, type LabProcess, type NetnsHost, type NetnsLab } from './support/netns.js';
import { fixture, NODE } from './support/fixtures.js';
import { runProxyInit } from '../proxy-init/support/run-proxy-init.js';

const APP = { uid: 1000, gid: 1000 };
const PROXY = { uid: 1337, gid: 1337 };
const APP_PORT = 9080;
const GRPC_PORT = 9090;
const MESHCTL = resolve('bin/meshctl');

/** Where one pod's sidecar finds its identity files. */
interface IdentityFiles {
  certChain: string;
  privateKey: string;
  trustRoots: string;
}

/** Writes a pod's certificate, key (0600, owned by the proxy user) and the trust root into `dir`. */
function writeIdentity(dir: string, name: string, pair: { cert: string; key: string }, caCert: string): IdentityFiles {
  const files = {
    certChain: join(dir, `${name}-cert.pem`),
    privateKey: join(dir, `${name}-key.pem`),
    trustRoots: join(dir, `${name}-root.pem`),
  };
  writeFileSync(files.certChain, pair.cert, { mode: 0o644 });
  writeFileSync(files.trustRoots, caCert, { mode: 0o644 });
  writeFileSync(files.privateKey, pair.key, { mode: 0o600 });
  chmodSync(files.privateKey, 0o600);
  chownSync(files.privateKey, PROXY.uid, PROXY.gid);
  return files;
}

/**
 * A pod's sidecar config: outbound capture (the chain for the peer's address:port goes over mTLS to
 * the peer's sidecar, anything else passes through) and inbound capture (STRICT mTLS to the app).
 */
function sidecarConfig(
  workload: string,
  identity: IdentityFiles,
  peer: { workload: string; address: string; ipv6: string; spiffeId: string },
): object {
  const peerEndpoint = (address: string, port: number) => [
    { address, port, identity: peer.spiffeId, labels: { app: peer.workload, version: 'v1', namespace: 'default' } },
  ];
  const service = `${peer.workload}.default.svc.cluster.local`;
  return {
    apiVersion: 'proxy.meshctl.dev/v1',
    version: `${workload}-1`,
    node: { workload, namespace: 'default', serviceAccount: workload, labels: { app: workload, version: 'v1' } },
    identity,
    telemetry: { accessLog: 'stdout' },
    listeners: [
      {
        name: 'virtualOutbound',
        // Dual stack: the ip6tables REDIRECT sends IPv6 connections to [::1] / the v6 address.
        address: '::',
        port: 15001,
        direction: 'outbound',
        mode: 'capture',
        chains: [
          { match: { destinationAddress: peer.address, destinationPort: APP_PORT }, routeConfig: 'to-peer' },
          { match: { destinationAddress: peer.ipv6, destinationPort: APP_PORT }, routeConfig: 'to-peer-v6' },
          {
            match: { destinationAddress: peer.address, destinationPort: GRPC_PORT },
            protocol: 'http2',
            routeConfig: 'to-peer-grpc',
          },
          { protocol: 'tcp', tcpCluster: 'passthrough' },
        ],
      },
      {
        name: 'virtualInbound',
        // Dual stack: the ip6tables REDIRECT sends IPv6 connections to [::1] / the v6 address.
        address: '::',
        port: 15006,
        direction: 'inbound',
        mode: 'capture',
        chains: [
          { match: { destinationPort: APP_PORT }, tls: 'strict', routeConfig: 'inbound-app' },
          { match: { destinationPort: GRPC_PORT }, tls: 'strict', protocol: 'http2', routeConfig: 'inbound-grpc' },
        ],
      },
    ],
    routes: [
      {
        name: 'to-peer',
        virtualHosts: [{ name: peer.workload, domains: ['*'], routes: [{ route: [{ cluster: peer.workload }] }] }],
      },
      {
        name: 'inbound-app',
        virtualHosts: [{ name: 'app', domains: ['*'], routes: [{ route: [{ cluster: 'inbound-app' }] }] }],
      },
      {
        name: 'to-peer-v6',
        virtualHosts: [
          { name: `${peer.workload}-v6`, domains: ['*'], routes: [{ route: [{ cluster: `${peer.workload}-v6` }] }] },
        ],
      },
      {
        name: 'to-peer-grpc',
        virtualHosts: [
          {
            name: `${peer.workload}-grpc`,
            domains: ['*'],
            routes: [{ route: [{ cluster: `${peer.workload}-grpc` }] }],
          },
        ],
      },
      {
        name: 'inbound-grpc',
        virtualHosts: [{ name: 'grpc', domains: ['*'], routes: [{ route: [{ cluster: 'inbound-grpc' }] }] }],
      },
    ],
    clusters: [
      { name: peer.workload, service, tls: 'mutual', endpoints: peerEndpoint(peer.address, APP_PORT) },
      { name: `${peer.workload}-v6`, service, tls: 'mutual', endpoints: peerEndpoint(peer.ipv6, APP_PORT) },
      {
        name: `${peer.workload}-grpc`,
        service,
        tls: 'mutual',
        protocol: 'http2',
        endpoints: peerEndpoint(peer.address, GRPC_PORT),
      },
      {
        name: 'inbound-grpc',
        service: `${workload}.default.svc.cluster.local`,
        protocol: 'http2',
        endpoints: [{ address: '127.0.0.1', port: GRPC_PORT }],
      },
      {
        name: 'inbound-app',
        service: `${workload}.default.svc.cluster.local`,
        endpoints: [{ address: '127.0.0.1', port: APP_PORT }],
      },
      { name: 'passthrough', type: 'originalDst', loadBalancer: { simple: 'PASSTHROUGH' } },
    ],
  };
}

/** Polls the sidecar's admin /ready from inside its namespace until it answers LIVE. */
async function waitReady(lab: NetnsLab, host: NetnsHost, sidecar: LabProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (sidecar.proc.exitCode !== null)
      throw new Error(`sidecar in ${host.label} exited (${String(sidecar.proc.exitCode)}):\n${sidecar.output()}`);
    const r = await lab.exec(host, 'curl', ['-sS', '--max-time', '2', 'http://127.0.0.1:15000/ready'], {
      timeoutMs: 3_000,
    });
    if (r.exitCode === 0 && r.stdout.includes('LIVE')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sidecar in ${host.label} never became ready:\n${sidecar.output()}`);
}

/** The `istio_requests_total` lines of a sidecar's telemetry /stats/prometheus. */
async function requestCounters(lab: NetnsLab, host: NetnsHost): Promise<string[]> {
  const r = await lab.exec(host, 'curl', ['-sS', '--max-time', '5', 'http://127.0.0.1:15020/stats/prometheus']);
  expect(r.exitCode).toBe(0);
  return r.stdout.split('\n').filter((l) => l.startsWith('istio_requests_total{'));
}

/** The sum of counter lines' values. */
function total(lines: string[]): number {
  return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describeRequiring([...netnsRequirements, hasCurl], 'transparent capture through real sidecars with mTLS', () => {
  const lab = useNetnsLab(['a', 'b', 'plain']);
  let a: NetnsHost, b: NetnsHost, plain: NetnsHost;
  let sidecarA: LabProcess, sidecarB: LabProcess;
  let dir: string | undefined;
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts two pods: proxy init, `meshctl proxy run` as UID 1337 with test-time certificates, the app as UID 1000', async () => {
    expect(existsSync(resolve('dist/cli.js')), 'dist/cli.js missing: npm test builds it (npm run build)').toBe(true);
    [a, b, plain] = ['a', 'b', 'plain'].map((l) => lab().host(l)) as [NetnsHost, NetnsHost, NetnsHost];
    for (const host of [a, b]) {
      const r = await runProxyInit(['--netns', host.ns]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('IPv4: capture applied');
      expect(r.stdout).toContain('IPv6: capture applied');
    }
    dir = mkdtempSync(join(tmpdir(), 'mcap-mesh-'));
    chmodSync(dir, 0o755);
    const ca = await makeTestCa();
    const idA = 'spiffe://cluster.local/ns/default/sa/a';
    const idB = 'spiffe://cluster.local/ns/default/sa/b';
    const filesA = writeIdentity(dir, 'a', await makeTestLeaf(ca, { uri: [idA] }), ca.cert);
    const filesB = writeIdentity(dir, 'b', await makeTestLeaf(ca, { uri: [idB] }), ca.cert);
    const configA = join(dir, 'a.json');
    const configB = join(dir, 'b.json');
    writeFileSync(
      configA,
      JSON.stringify(sidecarConfig('a', filesA, { workload: 'b', address: b.ipv4, ipv6: b.ipv6, spiffeId: idB })),
      { mode: 0o644 },
    );
    writeFileSync(
      configB,
      JSON.stringify(sidecarConfig('b', filesB, { workload: 'a', address: a.ipv4, ipv6: a.ipv6, spiffeId: idA })),
      { mode: 0o644 },
    );
    sidecarA = lab().start(a, MESHCTL, ['proxy', 'run', '--config', configA], PROXY);
    sidecarB = lab().start(b, MESHCTL, ['proxy', 'run', '--config', configB], PROXY);
    const app = lab().start(b, NODE, [await fixture('http-app.ts'), String(APP_PORT)], APP);
    expect((await app.waitFor(/READY uid=(\d+)/))[1]).toBe('1000');
    const grpcApp = lab().start(b, NODE, [await fixture('grpc-app.ts'), String(GRPC_PORT)], APP);
    expect((await grpcApp.waitFor(/READY uid=(\d+)/))[1]).toBe('1000');
    await waitReady(lab(), a, sidecarA);
    await waitReady(lab(), b, sidecarB);
  });

  it('curl in A, as an ordinary user, reaches the app in B through both sidecars (the app sees loopback)', async () => {
    const r = await lab().exec(a, 'curl', ['-sS', '--max-time', '8', `http://${b.ipv4}:${APP_PORT}/curl`], APP);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ app: 'http-app', port: APP_PORT, peer: '::ffff:127.0.0.1', path: '/curl' });
  });

  it('a Node http client in A reaches the app in B the same way', async () => {
    const r = await lab().exec(a, NODE, [await fixture('http-get.ts'), `http://${b.ipv4}:${APP_PORT}/node`], APP);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      `200 ${JSON.stringify({ app: 'http-app', port: APP_PORT, peer: '::ffff:127.0.0.1', path: '/node' })}\n`,
    );
  });

  it('both sidecars count the requests: mutual_tls at B (destination), the verified peer identity at A (source)', async () => {
    const source = (await requestCounters(lab(), a)).filter(
      (l) => l.includes('reporter="source"') && l.includes('response_code="200"'),
    );
    const destination = (await requestCounters(lab(), b)).filter(
      (l) => l.includes('reporter="destination"') && l.includes('response_code="200"'),
    );
    for (const [lines, side] of [
      [source, 'A'],
      [destination, 'B'],
    ] as const) {
      expect(lines, `no 200 request counter in ${side}`).not.toHaveLength(0);
      const total = lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      expect(total).toBeGreaterThanOrEqual(2);
    }
    // The server side knows the connection's policy and the client's verified SPIFFE ID.
    for (const l of destination) {
      expect(l).toContain('connection_security_policy="mutual_tls"');
      expect(l).toContain('source_principal="spiffe://cluster.local/ns/default/sa/a"');
    }
    // As in Istio, the client reporter leaves the policy "unknown"; the mTLS shows as the peer's
    // principal, which the proxy only reports after checking the server certificate's URI SAN.
    for (const l of source) {
      expect(l).toContain('connection_security_policy="unknown"');
      expect(l).toContain('destination_principal="spiffe://cluster.local/ns/default/sa/b"');
    }
  });

  it('a gRPC client in A (unary and a bidirectional stream) reaches the gRPC app in B through both sidecars with mTLS', async () => {
    const before = (await requestCounters(lab(), b)).filter(
      (l) => l.includes('reporter="destination"') && l.includes('request_protocol="grpc"'),
    );
    const r = await lab().exec(a, NODE, [await fixture('grpc-client.ts'), `${b.ipv4}:${GRPC_PORT}`], APP);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ unary: 'echo:hello', stream: ['re:one', 're:two', 're:three'] });
    const destination = (await requestCounters(lab(), b)).filter(
      (l) => l.includes('reporter="destination"') && l.includes('request_protocol="grpc"'),
    );
    expect(total(destination) - total(before)).toBe(2);
    for (const l of destination) {
      expect(l).toContain('connection_security_policy="mutual_tls"');
      expect(l).toContain('source_principal="spiffe://cluster.local/ns/default/sa/a"');
    }
    const source = (await requestCounters(lab(), a)).filter(
      (l) => l.includes('reporter="source"') && l.includes('request_protocol="grpc"'),
    );
    expect(total(source)).toBeGreaterThanOrEqual(2);
    for (const l of source) expect(l).toContain('destination_principal="spiffe://cluster.local/ns/default/sa/b"');
  });

  it('curl in A over IPv6 (ip6tables capture, IPv6 original destination) reaches B through both sidecars with mTLS', async () => {
    const counted = async (host: NetnsHost, reporter: string) =>
      total(
        (await requestCounters(lab(), host)).filter(
          (l) => l.includes(`reporter="${reporter}"`) && l.includes('response_code="200"'),
        ),
      );
    const [srcBefore, dstBefore] = [await counted(a, 'source'), await counted(b, 'destination')];
    const r = await lab().exec(a, 'curl', ['-sS', '--max-time', '8', `http://[${b.ipv6}]:${APP_PORT}/v6`], APP);
    expect(r.stderr).toBe('');
    // The app sees the sidecar on IPv4 loopback: the request crossed B's inbound listener, not the wire.
    expect(JSON.parse(r.stdout)).toEqual({ app: 'http-app', port: APP_PORT, peer: '::ffff:127.0.0.1', path: '/v6' });
    expect(await counted(a, 'source')).toBe(srcBefore + 1);
    expect(await counted(b, 'destination')).toBe(dstBefore + 1);
    for (const l of (await requestCounters(lab(), b)).filter((x) => x.includes('reporter="destination"')))
      expect(l).toContain('connection_security_policy="mutual_tls"');
  });

  it('a plaintext connection from a sidecar-less peer into B is refused by STRICT', async () => {
    const r = await lab().exec(plain, 'curl', ['-sS', '--max-time', '5', `http://${b.ipv4}:${APP_PORT}/plain`], APP);
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).toBe('');
    // The same port still serves meshed traffic: the refusal is the policy, not a dead app.
    const ok = await lab().exec(a, 'curl', ['-sS', '--max-time', '8', `http://${b.ipv4}:${APP_PORT}/after`], APP);
    expect(JSON.parse(ok.stdout)).toMatchObject({ path: '/after', peer: '::ffff:127.0.0.1' });
  });
});
