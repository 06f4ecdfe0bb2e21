/**
 * `meshctl proxy-config log`: reads and changes the log level of a real `meshctl run` sidecar through
 * its admin API with the 0600 admin token, which never appears in meshctl's output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/daemon.js';
import { LocalPlatform } from '../../src/cluster/local/platform.js';
import { localLayout, proxyAdminTokenFile } from '../../src/cluster/local-layout.js';
import type { WorkloadInfo } from '../../src/cluster/index.js';
import { runCli, type CliResult } from '../support/cli.js';
import { eventually } from '../protocol/harness.js';
import { freePort } from '../control-plane/local-mesh.js';

let home: string;
let cp: RunningControlPlane;
let running: Promise<CliResult>;
let appPort: number;
let w: WorkloadInfo;
let tokenFile: string;

const cli = (...argv: string[]) =>
  runCli(['--local', ...argv], { env: { MESHCTL_HOME: home, PATH: process.env.PATH } });

/** Sends a request the sidecar refuses as malformed (`Host: a, b`), which it logs at debug level only. */
async function malformed(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: a, b\r\n\r\n'));
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

/** Asks the app to exit; it may still be starting (the sidecar syncs before the app listens). */
async function stopApp(port: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (
      await fetch(`http://127.0.0.1:${port}/stop`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the app on port ${port} never answered`);
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'meshctl-plog-'));
  cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
  appPort = await freePort();
  // Runs until the test asks it to stop (GET /stop).
  const app = `const s=require('http').createServer((q,r)=>{r.end('ok');if(q.url==='/stop')setTimeout(()=>s.close(),20)});s.listen(Number(process.env.PORT),'127.0.0.1')`;
  running = cli(
    'run',
    '--name',
    'logged',
    '--service',
    'logged',
    '--service-port',
    '9080',
    '--port',
    String(appPort),
    '--',
    process.execPath,
    '-e',
    app,
  );
  await eventually(
    'the sidecar got its config',
    () =>
      cp.server.ads
        .views()
        .some((v) => v.proxy.workload === 'logged' && v.types['proxy.meshctl.dev/v1/listeners']?.status === 'SYNCED'),
    20_000,
  );
  w = (await new LocalPlatform(home).listWorkloads()).find((x) => x.name === 'logged')!;
  tokenFile = proxyAdminTokenFile(localLayout(home), 'logged', 'default');
});

afterAll(async () => {
  await cp.stop();
  await rm(home, { recursive: true, force: true });
});

describe('meshctl proxy-config log', () => {
  it('shows the level, sets it with the admin token, and the proxy logs at the new level', async () => {
    const token = (await readFile(tokenFile, 'utf8')).trim();
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    const shown = await cli('proxy-config', 'log', 'logged');
    expect(shown.code).toBe(0);
    expect(
      shown.stdout
        .trimEnd()
        .split('\n')
        .map((l) => l.split(/\s{3,}/)),
    ).toEqual([
      ['PROXY', 'LEVEL'],
      ['logged.default', 'warn'],
    ]);

    // At warn, a refused request leaves no line; at debug it does (read from meshctl run's stderr at the end).
    expect(await malformed(w.outboundPort!)).toMatch(/^HTTP\/1\.1 400/);
    const set = await cli('proxy-config', 'log', 'logged.default', '--level', 'debug', '-o', 'json');
    expect(set.code).toBe(0);
    expect(JSON.parse(set.stdout)).toEqual({ proxy: 'logged.default', level: 'debug', previous: 'warn' });
    expect(await (await fetch(`http://127.0.0.1:${w.adminPort}/logging`)).json()).toEqual({ level: 'debug' });
    expect(await malformed(w.outboundPort!)).toMatch(/^HTTP\/1\.1 400/);

    // Envoy's `warning` means warn; the table form notes the change on stderr.
    const back = await cli('proxy-config', 'log', 'logged', '--level', 'warning');
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(/^logged\.default\s{3,}warn$/m);
    expect(back.stderr).toContain('logged.default log level debug -> warn');
    for (const r of [shown, set, back]) expect(r.stdout + r.stderr).not.toContain(token);

    await stopApp(appPort);
    const done = await running;
    expect(done.code).toBe(0);
    expect(done.stderr.match(/refused malformed request/g)?.length).toBe(1);
    expect(done.stdout + done.stderr).not.toContain(token);
  });

  it('refuses a bad level or an Envoy logger before any I/O, naming the fix', async () => {
    const bad = await cli('proxy-config', 'log', 'logged', '--level', 'verbose');
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('--level verbose: not a log level');
    expect(bad.stderr).toContain('off, error, warn, info, debug');
    const logger = await cli('proxy-config', 'log', 'logged', '--level', 'http:debug');
    expect(logger.code).toBe(64);
    expect(logger.stderr).toContain("meshctl proxies have one logger, not Envoy's per-component loggers");
    const misplaced = await cli('proxy-config', 'clusters', 'logged', '--level', 'debug');
    expect(misplaced.code).toBe(64);
    expect(misplaced.stderr).toContain('--level applies to proxy-config log, not clusters');
  });
});

describe('meshctl proxy-config --help', () => {
  it('names the log type, the --level flag and an example', async () => {
    const h = await cli('proxy-config', '--help');
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('or log (show or set the log level)');
    expect(h.stdout).toContain('--level <level>');
    expect(h.stdout).toContain('meshctl proxy-config log reviews-v1.default --level debug');
  });
});

describe('meshctl proxy-config log against a proxy it cannot authenticate to', () => {
  it('says the token is stale, and the proxy keeps its level', async () => {
    const port = await freePort();
    const app = `const s=require('http').createServer((q,r)=>{r.end('ok');if(q.url==='/stop')setTimeout(()=>s.close(),20)});s.listen(Number(process.env.PORT),'127.0.0.1')`;
    const run2 = cli(
      'run',
      '--name',
      'stale',
      '--service',
      'stale',
      '--service-port',
      '9080',
      '--port',
      String(port),
      '--',
      process.execPath,
      '-e',
      app,
    );
    await eventually(
      'the sidecar got its config',
      () =>
        cp.server.ads
          .views()
          .some((v) => v.proxy.workload === 'stale' && v.types['proxy.meshctl.dev/v1/listeners']?.status === 'SYNCED'),
      20_000,
    );
    const s = (await new LocalPlatform(home).listWorkloads()).find((x) => x.name === 'stale')!;
    await writeFile(proxyAdminTokenFile(localLayout(home), 'stale', 'default'), 'not-the-token\n', { mode: 0o600 });
    const r = await cli('proxy-config', 'log', 'stale', '--level', 'debug');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      'answered 401 for POST /logging?level=debug: this endpoint changes the proxy and needs its admin token',
    );
    expect(r.stderr).toContain('restart the workload with meshctl run');
    expect(await (await fetch(`http://127.0.0.1:${s.adminPort}/logging`)).json()).toEqual({ level: 'warn' });
    const gone = await cli('proxy-config', 'log', 'nobody', '--level', 'debug');
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('workload nobody.default');
    await stopApp(port);
    expect((await run2).code).toBe(0);
  });
});
