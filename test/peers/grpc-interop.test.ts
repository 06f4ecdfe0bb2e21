/**
 * grpc-go's interop client against grpc-go's interop server (google.golang.org/grpc v1.84.0),
 * through one proxy and through two sidecars with mTLS: every case that needs no cloud
 * credentials must pass, as it does directly.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeTestCa, makeTestLeaf } from '../support/tls.js';
import { describeRequiring } from '../support/requirements.js';
import { freePort, startProxy } from '../proxy-runtime/support.js';
import { peerTool, peerTools, waitServing } from './tools.js';
import { startControlPlane } from '../../src/control-plane/daemon.js';
import { runCli } from '../support/cli.js';
import { LocalPlatform } from '../../src/cluster/local/platform.js';
import { eventually } from '../protocol/harness.js';

/** The interop cases that need no Google credentials, nor a client resolving several servers. */
const CASES = [
  'empty_unary',
  'large_unary',
  'client_streaming',
  'server_streaming',
  'ping_pong',
  'empty_stream',
  'timeout_on_sleeping_server',
  'cancel_after_begin',
  'cancel_after_first_response',
  'status_code_and_message',
  'special_status_message',
  'custom_metadata',
  'unimplemented_method',
  'unimplemented_service',
];
// Left out: the *_creds / oauth2 / google_default cases (need Google credentials), pick_first_unary (a
// client resolving several servers), orca_per_rpc / orca_oob (fail against this server directly too:
// it reports no ORCA load unless built for the xDS interop setup).

/** Runs every case against `port`; resolves with the ones that failed and why. */
async function runCases(port: number): Promise<string[]> {
  const failed: string[] = [];
  for (const c of CASES) {
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      execFile(
        peerTool('grpc-interop-client'),
        ['--server_host=127.0.0.1', `--server_port=${port}`, `--test_case=${c}`],
        { timeout: 60_000 },
        (e, _out, err) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, err: String(err) }),
      );
    });
    if (r.code !== 0) failed.push(`${c}: ${r.err.trim().split('\n').at(-1)}`);
  }
  return failed;
}

const routeAll = [
  { name: 'r', virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ route: [{ cluster: 'app' }] }] }] },
];

describeRequiring([peerTools], 'grpc-go interop through the proxy', () => {
  let server: ChildProcess;
  let serverPort = 0;
  let files: Record<string, string>;
  beforeAll(async () => {
    serverPort = await freePort();
    server = spawn(peerTool('grpc-interop-server'), [`--port=${serverPort}`], { stdio: 'ignore' });
    const dir = mkdtempSync(join(tmpdir(), 'interop-mtls-'));
    const ca = await makeTestCa();
    const c = await makeTestLeaf(ca, { uri: ['spiffe://cluster.local/ns/default/sa/client'] });
    const s = await makeTestLeaf(ca, { uri: ['spiffe://cluster.local/ns/default/sa/interop'] });
    const w = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text, { mode: 0o600 });
      return join(dir, name);
    };
    files = {
      ca: w('ca.pem', ca.cert),
      cc: w('c.pem', c.cert),
      ck: w('c.key', c.key),
      sc: w('s.pem', s.cert),
      sk: w('s.key', s.key),
    };
    // The server is up once a direct empty_unary passes.
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((r) =>
        execFile(
          peerTool('grpc-interop-client'),
          ['--server_host=127.0.0.1', `--server_port=${serverPort}`, '--test_case=empty_unary'],
          (e) => r(!e),
        ),
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 60_000);
  afterAll(() => {
    server?.kill();
  });

  it('every case passes directly (the baseline)', async () => {
    expect(await runCases(serverPort)).toEqual([]);
  }, 300_000);

  it('every case passes through one proxy', async () => {
    const { proxy } = await startProxy({
      apiVersion: 'proxy.meshctl.dev/v1',
      listeners: [{ name: 'out', port: 0, direction: 'outbound', chains: [{ routeConfig: 'r' }] }],
      routes: routeAll,
      clusters: [{ name: 'app', protocol: 'http2', endpoints: [{ address: '127.0.0.1', port: serverPort }] }],
    });
    expect(await runCases(proxy.listenerPort('out'))).toEqual([]);
  }, 300_000);

  it('every case passes through two sidecars with mTLS', async () => {
    const inbound = await startProxy({
      apiVersion: 'proxy.meshctl.dev/v1',
      identity: { certChain: files.sc, privateKey: files.sk, trustRoots: files.ca },
      listeners: [
        {
          name: 'in',
          address: '127.0.0.1',
          port: 0,
          direction: 'inbound',
          chains: [{ routeConfig: 'r', tls: 'strict' }],
        },
      ],
      routes: routeAll,
      clusters: [{ name: 'app', protocol: 'http2', endpoints: [{ address: '127.0.0.1', port: serverPort }] }],
    });
    const outbound = await startProxy({
      apiVersion: 'proxy.meshctl.dev/v1',
      identity: { certChain: files.cc, privateKey: files.ck, trustRoots: files.ca },
      listeners: [{ name: 'out', port: 0, direction: 'outbound', chains: [{ routeConfig: 'r' }] }],
      routes: routeAll,
      clusters: [
        {
          name: 'app',
          protocol: 'http2',
          tls: 'mutual',
          endpoints: [
            {
              address: '127.0.0.1',
              port: inbound.proxy.listenerPort('in'),
              identity: 'spiffe://cluster.local/ns/default/sa/interop',
            },
          ],
        },
      ],
    });
    expect(await runCases(outbound.proxy.listenerPort('out'))).toEqual([]);
  }, 300_000);

  it('every case passes through the local mesh: two meshctl run workloads, their sidecars, mTLS from the control plane', async () => {
    const home = await mkdtemp(join(tmpdir(), 'meshctl-interop-'));
    const cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
    const cli = (...argv: string[]) =>
      runCli(['--local', ...argv], { env: { MESHCTL_HOME: home, PATH: process.env.PATH } });
    const stop = join(home, 'stop');
    try {
      const [appPort, localPort] = [await freePort(), await freePort()];
      // The server runs until the test says stop (a file), then the workload ends and unregisters.
      const serving = cli(
        'run',
        '--name',
        'interop',
        '--service',
        'interop',
        '--service-port',
        '9080',
        '--port',
        String(appPort),
        '--',
        'sh',
        '-c',
        `"${peerTool('grpc-interop-server')}" --port=$PORT & pid=$!; while [ ! -e "${stop}" ]; do sleep 0.2; done; kill $pid`,
      );
      await eventually(
        'the interop server in the mesh',
        () => cp.server.ads.views().some((v) => v.proxy.workload === 'interop'),
        30_000,
      );
      await waitServing(home, 'interop');
      const client = peerTool('grpc-interop-client');
      const script = CASES.map(
        (c) =>
          `"${client}" --server_host=127.0.0.1 --server_port=${localPort} --test_case=${c} >/dev/null 2>&1 || echo "FAILED ${c}"`,
      ).join('; ');
      const r = await cli(
        'run',
        '--name',
        'interop-client',
        '--port',
        String(await freePort()),
        '--outbound',
        `interop:9080=${localPort}`,
        '--',
        'sh',
        '-c',
        script,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('');
      // The calls arrived at the server's sidecar over mutual TLS, as gRPC.
      const w = (await new LocalPlatform(home).listWorkloads()).find((x) => x.name === 'interop')!;
      const metrics = await (await fetch(`http://127.0.0.1:${w.telemetryPort}/stats/prometheus`)).text();
      expect(metrics).toMatch(
        /istio_requests_total\{[^}]*reporter="destination"[^}]*request_protocol="grpc"[^}]*connection_security_policy="mutual_tls"|istio_requests_total\{[^}]*connection_security_policy="mutual_tls"[^}]*request_protocol="grpc"/,
      );
      writeFileSync(stop, '');
      expect((await serving).code).toBe(0);
    } finally {
      if (!existsSync(stop)) writeFileSync(stop, '');
      await cp.stop();
    }
  }, 300_000);
});
