/** `meshctl run` on the local platform: a service and a client, each with its sidecar, talking by service name. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type RunningControlPlane } from '../../src/control-plane/daemon.js';
import { LocalPlatform } from '../../src/cluster/local/platform.js';
import { runCli } from '../support/cli.js';
import { eventually } from '../protocol/harness.js';
import { freePort } from '../control-plane/local-mesh.js';

let home: string;
let cp: RunningControlPlane;
beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'meshctl-run-'));
  cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
});
afterAll(async () => {
  await cp.stop();
});

const cli = (...argv: string[]) => runCli(['--local', ...argv], { env: { MESHCTL_HOME: home, PATH: process.env.PATH } });

describe('meshctl run', () => {
  it('runs a service and a client that reaches it by name through their sidecars, then cleans up', async () => {
    const port = await freePort();
    // The service answers one request, then exits (and its `meshctl run` with it).
    const server = `const s=require('http').createServer((q,r)=>{r.end('reviews-v1 answers on '+process.env.PORT);setTimeout(()=>s.close(),50)});s.listen(Number(process.env.PORT),'127.0.0.1',()=>console.log('listening'))`;
    const serving = cli('run', '--name', 'reviews-v1', '--service', 'reviews', '--service-port', '9080', '--labels', 'version=v1', '--port', String(port), '--', process.execPath, '-e', server);
    const platform = new LocalPlatform(home);
    await eventually('the service registered and its sidecar connected', () => cp.server.ads.views().some((v) => v.proxy.workload === 'reviews-v1'), 20_000);
    // Announced (an endpoint) only once its app accepts on its port.
    await eventually('the service announced once its app listens', async () => (await platform.listWorkloads()).some((w) => w.name === 'reviews-v1' && w.serving !== false), 20_000);
    // its telemetry port is registered (proxy-status -o json lists it) and serves the metrics
    const reviews = (await platform.listWorkloads()).find((w) => w.name === 'reviews-v1')!;
    const scrape = await fetch(`http://127.0.0.1:${reviews.telemetryPort}/stats/prometheus`);
    expect(await scrape.text()).toContain('meshctl_proxy_config_applies_total');
    // The client gets HTTP_PROXY: Node's fetch honours it with NODE_USE_ENV_PROXY=1, as curl does.
    const client = await cli('run', '--name', 'productpage', '--port', String(await freePort()), '--', process.execPath, '-e', "fetch('http://reviews:9080/').then(r=>r.text()).then(t=>console.log('got: '+t))");
    expect(client.stderr).toMatch(/productpage\.default: sidecar ready as spiffe:\/\/cluster\.local\/ns\/default\/sa\/productpage/);
    // the telemetry port is printed like the admin port, and registered (proxy-status -o json lists it)
    expect(client.stderr).toMatch(/admin 127\.0\.0\.1:\d+, telemetry http:\/\/127\.0\.0\.1:\d+\/stats\/prometheus/);
    expect(client.stdout).toBe(`got: reviews-v1 answers on ${port}\n`);
    expect(client.code).toBe(0);

    const served = await serving;
    expect(served.stdout).toBe('listening\n');
    expect(served.stderr).toContain('reviews-v1.default: command exited with 0; stopping the sidecar');
    expect(served.code).toBe(0);
    // Both workloads are gone from the registry, their tokens revoked.
    expect(await platform.listWorkloads()).toEqual([]);
  });

  it('passes the command exit code through', async () => {
    const r = await cli('run', '--name', 'job', '--port', String(await freePort()), '--', process.execPath, '-e', 'process.exit(3)');
    expect(r.code).toBe(3);
  });

  it('checks its flags before starting anything', async () => {
    const noPort = await cli('run', '--name', 'x', '--', 'true');
    expect(noPort.code).toBe(64);
    expect(noPort.stderr).toContain('--port is required');
    const badLabels = await cli('run', '--name', 'x', '--port', '1', '--labels', 'version', '--', 'true');
    expect(badLabels.stderr).toContain('"version" is not key=value');
  });

  it('says how to start the control plane when it is not running', async () => {
    const r = await runCli(['--local', 'run', '--name', 'x', '--port', '1', '--', 'true'], { env: { MESHCTL_HOME: join(home, 'nowhere') } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("hint: start it with 'meshctl install --local'");
  });
});
