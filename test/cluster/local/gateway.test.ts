/**
 * `meshctl gateway run` as a user runs it: the real binary in the foreground, registered with
 * `istio: ingressgateway`, serving the seed Gateway's port 80 on a local port; it shows in
 * proxy-status, routes a request into a `meshctl run` service, and SIGTERM unregisters it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type RunningControlPlane } from '../../../src/control-plane/daemon.js';
import { LocalPlatform } from '../../../src/cluster/local/platform.js';
import { validateGatewayRun } from '../../../src/commands/gateway.js';
import { runCli } from '../../support/cli.js';
import { eventually } from '../../e2e/support/local-mesh.js';
import { freePort } from '../../control-plane/local-mesh.js';

let home: string;
let cp: RunningControlPlane;
beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'meshctl-gateway-'));
  cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
});
afterAll(async () => {
  await cp.stop();
});

const env = (): NodeJS.ProcessEnv => ({ ...process.env, MESHCTL_HOME: home, NO_COLOR: '1' });

describe('meshctl gateway run', () => {
  it('validates its flags: --listen PORT=LOCALPORT, labels default to istio=ingressgateway, loopback by default', () => {
    const f = validateGatewayRun({ name: 'ingressgateway', listen: ['80=8080', '443=8443'] }, 'default');
    expect(f).toMatchObject({
      labels: { istio: 'ingressgateway' },
      ports: { 80: 8080, 443: 8443 },
      address: '127.0.0.1',
    });
    expect(() => validateGatewayRun({ name: 'g', listen: ['80:8080'] }, 'default')).toThrow(/not PORT=LOCALPORT/);
    expect(() => validateGatewayRun({ name: 'g', listen: ['80=8080', '81=8080'] }, 'default')).toThrow(/used twice/);
    expect(() => validateGatewayRun({ name: 'g', address: 'localhost' }, 'default')).toThrow(/not an IP address/);
    expect(() => validateGatewayRun({}, 'default')).toThrow(/--name is required/);
  });

  it(
    'serves the seed Gateway on a local port, shows in proxy-status, and unregisters on SIGTERM',
    { timeout: 90_000 },
    async () => {
      const local80 = await freePort();
      const appPort = await freePort();
      const server = `require('http').createServer((q,r)=>r.end('api answers '+q.url)).listen(Number(process.env.PORT),'127.0.0.1')`;
      const app = spawn(
        process.execPath,
        [
          'bin/meshctl',
          '--local',
          'run',
          '--name',
          'api-v1',
          '--service',
          'api',
          '--service-port',
          '9080',
          '--port',
          String(appPort),
          '--',
          process.execPath,
          '-e',
          server,
        ],
        { env: env() },
      );
      const gw = spawn(
        process.execPath,
        ['bin/meshctl', '--local', 'gateway', 'run', '--name', 'ingressgateway', '--listen', `80=${local80}`],
        { env: env() },
      );
      let gwErr = '';
      gw.stderr.on('data', (d: Buffer) => (gwErr += d.toString()));
      try {
        await eventually('the gateway ready', () => gwErr.includes('gateway ready'), 30_000);
        expect(gwErr).toContain(
          `ingressgateway.default: gateway ready as spiffe://cluster.local/ns/default/sa/ingressgateway, labels istio=ingressgateway, serving 80 on 127.0.0.1:${local80}`,
        );
        await eventually(
          'the app registered',
          () => cp.server.ads.views().some((v) => v.proxy.workload === 'api-v1'),
          30_000,
        );
        const platform = new LocalPlatform(home);
        await platform.applyConfig(
          [
            {
              file: 'gw.yaml',
              text: `apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata: {name: api-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [api.example.com]
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: api}
spec:
  hosts: [api.example.com]
  gateways: [api-gateway]
  http:
  - route:
    - destination: {host: api, port: {number: 9080}}
`,
            },
          ],
          { defaultNamespace: 'default' },
        );
        let last = '';
        const answer = await eventually(
          `the gateway routes api.example.com (last answer: ${last})`,
          async () => {
            const r = spawnSync(
              'curl',
              [
                '-sS',
                '--max-time',
                '5',
                '-w',
                ' %{http_code}',
                '--resolve',
                `api.example.com:${local80}:127.0.0.1`,
                `http://api.example.com:${local80}/hello`,
              ],
              { encoding: 'utf8' },
            );
            last = `${r.stdout}${r.stderr}`;
            return last.endsWith(' 200') ? last : undefined;
          },
          20_000,
        ).catch((e: Error) => `${e.message}: ${last}; gateway said: ${gwErr}`);
        expect(answer).toBe('api answers /hello 200');
        const status = await runCli(['--local', 'proxy-status'], {
          env: { MESHCTL_HOME: home, PATH: process.env.PATH },
        });
        expect(status.stdout).toMatch(/ingressgateway\.default\s/);
        const listeners = await runCli(['--local', 'proxy-config', 'listeners', 'ingressgateway.default'], {
          env: { MESHCTL_HOME: home, PATH: process.env.PATH },
        });
        expect(listeners.stdout).toContain(String(local80));
      } finally {
        gw.kill('SIGTERM');
        app.kill('SIGTERM');
      }
      const code = await new Promise<number | null>((r) => gw.once('exit', (c) => r(c)));
      expect(code).toBe(0);
      await eventually(
        'the gateway unregistered',
        async () => !(await new LocalPlatform(home).listWorkloads()).some((w) => w.name === 'ingressgateway'),
        10_000,
      );
    },
  );
});
