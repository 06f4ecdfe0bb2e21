/**
 * grpc-go's interop client against grpc-go's interop server (google.golang.org/grpc v1.84.0),
 * through one proxy and through two sidecars with mTLS: every case that needs no cloud
 * credentials must pass, as it does directly.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeTestCa, makeTestLeaf } from '../support/tls.js';
import { describeRequiring } from '../support/requirements.js';
import { freePort, startProxy } from '../proxy-runtime/support.js';
import { peerTool, peerTools } from './tools.js';

/** The interop cases that need no Google credentials, nor a client resolving several servers. */
const CASES = [
  'empty_unary', 'large_unary', 'client_streaming', 'server_streaming', 'ping_pong', 'empty_stream', 'timeout_on_sleeping_server',
  'cancel_after_begin', 'cancel_after_first_response', 'status_code_and_message', 'special_status_message', 'custom_metadata',
  'unimplemented_method', 'unimplemented_service',
];
// Left out: the *_creds / oauth2 / google_default cases (need Google credentials), pick_first_unary (a
// client resolving several servers), orca_per_rpc / orca_oob (fail against this server directly too:
// it reports no ORCA load unless built for the xDS interop setup).

/** Runs every case against `port`; resolves with the ones that failed and why. */
async function runCases(port: number): Promise<string[]> {
  const failed: string[] = [];
  for (const c of CASES) {
    const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
      execFile(peerTool('grpc-interop-client'), ['--server_host=127.0.0.1', `--server_port=${port}`, `--test_case=${c}`], { timeout: 60_000 }, (e, _out, err) =>
        resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, err: String(err) }),
      );
    });
    if (r.code !== 0) failed.push(`${c}: ${r.err.trim().split('\n').at(-1)}`);
  }
  return failed;
}

const routeAll = [{ name: 'r', virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ route: [{ cluster: 'app' }] }] }] }];

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
    files = { ca: w('ca.pem', ca.cert), cc: w('c.pem', c.cert), ck: w('c.key', c.key), sc: w('s.pem', s.cert), sk: w('s.key', s.key) };
    // The server is up once a direct empty_unary passes.
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((r) => execFile(peerTool('grpc-interop-client'), ['--server_host=127.0.0.1', `--server_port=${serverPort}`, '--test_case=empty_unary'], (e) => r(!e)));
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
      listeners: [{ name: 'in', address: '127.0.0.1', port: 0, direction: 'inbound', chains: [{ routeConfig: 'r', tls: 'strict' }] }],
      routes: routeAll,
      clusters: [{ name: 'app', protocol: 'http2', endpoints: [{ address: '127.0.0.1', port: serverPort }] }],
    });
    const outbound = await startProxy({
      apiVersion: 'proxy.meshctl.dev/v1',
      identity: { certChain: files.cc, privateKey: files.ck, trustRoots: files.ca },
      listeners: [{ name: 'out', port: 0, direction: 'outbound', chains: [{ routeConfig: 'r' }] }],
      routes: routeAll,
      clusters: [{ name: 'app', protocol: 'http2', tls: 'mutual', endpoints: [{ address: '127.0.0.1', port: inbound.proxy.listenerPort('in'), identity: 'spiffe://cluster.local/ns/default/sa/interop' }] }],
    });
    expect(await runCases(outbound.proxy.listenerPort('out'))).toEqual([]);
  }, 300_000);
});
