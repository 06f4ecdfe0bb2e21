/** `meshctl run` on the local platform: a service and a client, each with its sidecar, talking by service name. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/daemon.js';
import { LocalPlatform } from '../../../src/cluster/local/platform.js';
import { runCli } from '../../support/cli.js';
import { eventually } from '../../protocol/harness.js';
import { freePort } from '../../control-plane/local-mesh.js';
import { waitServing } from '../../peers/tools.js';

let home: string;
let cp: RunningControlPlane;
beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'meshctl-run-'));
  cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
});
afterAll(async () => {
  await cp.stop();
});

const cli = (...argv: string[]) =>
  runCli(['--local', ...argv], { env: { MESHCTL_HOME: home, PATH: process.env.PATH } });

/** Listening TCP sockets of this process (`meshctl run` runs in it here) as `address:port`, from /proc. */
async function ownListeners(): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]!);
  }
  const out = new Set<string>();
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue;
      const [hex, port] = f[1]!.split(':') as [string, string];
      const address =
        hex.length === 8
          ? hex
              .match(/../g)!
              .reverse()
              .map((b) => parseInt(b, 16))
              .join('.')
          : hex === '0'.repeat(32)
            ? '::'
            : hex === '00000000000000000000000001000000'
              ? '::1'
              : hex;
      out.add(`${address}:${parseInt(port, 16)}`);
    }
  }
  return out;
}

describe('meshctl run', () => {
  it('binds every sidecar listener (inbound, telemetry, admin, outbound) to loopback unless --address says otherwise', async () => {
    const before = await ownListeners();
    const port = await freePort();
    // Runs until the test asks it to stop (GET /stop), so the checks below never race its exit.
    const app = `const s=require('http').createServer((q,r)=>{r.end('ok');if(q.url==='/stop')setTimeout(()=>s.close(),20)});s.listen(Number(process.env.PORT),'127.0.0.1')`;
    const running = cli(
      'run',
      '--name',
      'bound',
      '--service',
      'bound',
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
          .some((v) => v.proxy.workload === 'bound' && v.types['proxy.meshctl.dev/v1/listeners']?.status === 'SYNCED'),
      20_000,
    );
    // Its app listens once it is announced (an endpoint): only then can the test stop it through its port.
    await eventually(
      'the app announced',
      async () =>
        (await new LocalPlatform(home).listWorkloads()).some((x) => x.name === 'bound' && x.serving !== false),
      20_000,
    );
    const w = (await new LocalPlatform(home).listWorkloads()).find((x) => x.name === 'bound')!;
    const listeners = (await (await fetch(`http://127.0.0.1:${w.adminPort}/listeners`)).json()) as {
      name: string;
      address: string;
      direction: string;
    }[];
    expect(listeners.filter((l) => l.direction === 'inbound').map((l) => l.address)).toEqual(['127.0.0.1']);
    const added = [...(await ownListeners())].filter((l) => !before.has(l));
    // inbound, telemetry, admin and the HTTP_PROXY listener: all on 127.0.0.1.
    expect(added.length).toBeGreaterThanOrEqual(4);
    expect(added.filter((l) => !l.startsWith('127.0.0.1:'))).toEqual([]);
    await fetch(`http://127.0.0.1:${port}/stop`);
    expect((await running).code).toBe(0);
  });

  it('with --address binds the inbound listener there and peers reach the workload at it', async () => {
    const port = await freePort();
    // Answers one request, then exits (and its `meshctl run` with it).
    const app = `const s=require('http').createServer((q,r)=>{r.end('served at '+process.env.PORT);setTimeout(()=>s.close(),50)});s.listen(Number(process.env.PORT),'127.0.0.1')`;
    const running = cli(
      'run',
      '--name',
      'wide',
      '--service',
      'wide',
      '--service-port',
      '9080',
      '--address',
      '127.0.0.2',
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
          .some((v) => v.proxy.workload === 'wide' && v.types['proxy.meshctl.dev/v1/listeners']?.status === 'SYNCED'),
      20_000,
    );
    // An endpoint once its app accepts (meshctl run announces it then).
    let w = (await new LocalPlatform(home).listWorkloads()).find((x) => x.name === 'wide')!;
    for (let i = 0; i < 400 && w.serving === false; i++) {
      await new Promise((r) => setTimeout(r, 50));
      w = (await new LocalPlatform(home).listWorkloads()).find((x) => x.name === 'wide')!;
    }
    expect(w.serving).not.toBe(false);
    expect(w.address).toBe('127.0.0.2');
    const listeners = (await (await fetch(`http://127.0.0.1:${w.adminPort}/listeners`)).json()) as {
      address: string;
      direction: string;
    }[];
    expect(listeners.filter((l) => l.direction === 'inbound').map((l) => l.address)).toEqual(['127.0.0.2']);
    const client = await cli(
      'run',
      '--name',
      'caller',
      '--port',
      String(await freePort()),
      '--',
      process.execPath,
      '-e',
      "fetch('http://wide:9080/').then(r=>r.text()).then(t=>console.log(t))",
    );
    expect(client.stdout).toBe(`served at ${port}\n`);
    expect((await running).code).toBe(0);
  });

  it('refuses --address values that are not one address of this host', async () => {
    for (const a of ['0.0.0.0', '::', 'example.com']) {
      const r = await cli('run', '--name', 'x', '--port', '1', '--address', a, '--', 'true');
      expect(r.code).toBe(64);
      expect(r.stderr).toContain(`--address ${a}: not an address of this host`);
    }
  });

  it('runs a service and a client that reaches it by name through their sidecars, then cleans up', async () => {
    const port = await freePort();
    // The service answers one request, then exits (and its `meshctl run` with it).
    const server = `const s=require('http').createServer((q,r)=>{r.end('reviews-v1 answers on '+process.env.PORT);setTimeout(()=>s.close(),50)});s.listen(Number(process.env.PORT),'127.0.0.1',()=>console.log('listening'))`;
    const serving = cli(
      'run',
      '--name',
      'reviews-v1',
      '--service',
      'reviews',
      '--service-port',
      '9080',
      '--labels',
      'version=v1',
      '--port',
      String(port),
      '--',
      process.execPath,
      '-e',
      server,
    );
    const platform = new LocalPlatform(home);
    await eventually(
      'the service registered and its sidecar connected',
      () => cp.server.ads.views().some((v) => v.proxy.workload === 'reviews-v1'),
      20_000,
    );
    await waitServing(home, 'reviews-v1');
    // Announced (an endpoint) only once its app accepts on its port.
    await eventually(
      'the service announced once its app listens',
      async () => (await platform.listWorkloads()).some((w) => w.name === 'reviews-v1' && w.serving !== false),
      20_000,
    );
    // ...and in the pushed snapshot, so the client's sidecar starts with it as an endpoint.
    await eventually(
      'the announcement pushed',
      () => {
        const w = cp.pipeline.snapshot.workload('reviews-v1', 'default');
        return w !== undefined && w.serving !== false;
      },
      20_000,
    );
    // its telemetry port is registered (proxy-status -o json lists it) and serves the metrics
    const reviews = (await platform.listWorkloads()).find((w) => w.name === 'reviews-v1')!;
    const scrape = await fetch(`http://127.0.0.1:${reviews.telemetryPort}/stats/prometheus`);
    expect(await scrape.text()).toContain('meshctl_proxy_config_applies_total');
    // The client gets HTTP_PROXY: Node's fetch honours it with NODE_USE_ENV_PROXY=1, as curl does.
    const client = await cli(
      'run',
      '--name',
      'productpage',
      '--port',
      String(await freePort()),
      '--',
      process.execPath,
      '-e',
      "fetch('http://reviews:9080/').then(r=>r.text()).then(t=>console.log('got: '+t))",
    );
    expect(client.stderr).toMatch(
      /productpage\.default: sidecar ready as spiffe:\/\/cluster\.local\/ns\/default\/sa\/productpage/,
    );
    // the telemetry port is printed like the admin port, and registered (proxy-status -o json lists it)
    expect(client.stderr).toMatch(/admin 127\.0\.0\.1:\d+, telemetry http:\/\/127\.0\.0\.1:\d+\/stats\/prometheus/);
    expect(client.stdout, client.stderr).toBe(`got: reviews-v1 answers on ${port}\n`);
    expect(client.code).toBe(0);

    const served = await serving;
    expect(served.stdout).toBe('listening\n');
    expect(served.stderr).toContain('reviews-v1.default: command exited with 0; stopping the sidecar');
    expect(served.code).toBe(0);
    // Both workloads are gone from the registry, their tokens revoked.
    expect(await platform.listWorkloads()).toEqual([]);
  });

  it('passes the command exit code through', async () => {
    const r = await cli(
      'run',
      '--name',
      'job',
      '--port',
      String(await freePort()),
      '--',
      process.execPath,
      '-e',
      'process.exit(3)',
    );
    expect(r.code).toBe(3);
  });

  it('checks its flags before starting anything', async () => {
    const noPort = await cli('run', '--name', 'x', '--', 'true');
    expect(noPort.code).toBe(64);
    expect(noPort.stderr).toContain('--port is required');
    const badLabels = await cli('run', '--name', 'x', '--port', '1', '--labels', 'version', '--', 'true');
    expect(badLabels.stderr).toContain('"version" is not key=value');
    // Annotations: the one the local platform acts on, with a value Linkerd has; anything else is said, not kept.
    const other = await cli(
      'run',
      '--name',
      'x',
      '--port',
      '1',
      '--annotations',
      'sidecar.istio.io/inject=false',
      '--',
      'true',
    );
    expect(other.code).toBe(64);
    expect(other.stderr).toContain('--annotations: sidecar.istio.io/inject has no effect on the local platform');
    const typo = await cli(
      'run',
      '--name',
      'x',
      '--port',
      '1',
      '--annotations',
      'config.linkerd.io/default-inbound-policy=alll-unauthenticated',
      '--',
      'true',
    );
    expect(typo.code).toBe(64);
    expect(typo.stderr).toContain('alll-unauthenticated: not a Linkerd default inbound policy');
  });

  it('says how to start the control plane when it is not running', async () => {
    const r = await runCli(['--local', 'run', '--name', 'x', '--port', '1', '--', 'true'], {
      env: { MESHCTL_HOME: join(home, 'nowhere') },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("hint: start it with 'meshctl install --local'");
  });
});
