/**
 * `meshctl run --outbound SVC:PORT=LOCALPORT`: a client that ignores HTTP_PROXY reaches a raw TCP
 * echo service and an HTTP service on 127.0.0.1 ports of its sidecar, through the mesh with mTLS
 * between sidecars (the servers' sidecars report it in their metrics). And the flag is checked
 * before anything starts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
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
  home = await mkdtemp(join(tmpdir(), 'meshctl-outbound-'));
  cp = await startControlPlane({ home, streamPort: 0, debugPort: 0, version: 'test', log: () => undefined });
});
afterAll(async () => {
  await cp.stop();
  await rm(home, { recursive: true, force: true });
});

const cli = (...argv: string[]) =>
  runCli(['--local', ...argv], { env: { MESHCTL_HOME: home, PATH: process.env.PATH } });

/** Connects straight to an app port (not through the mesh) and sends `quit`: the test servers exit on it. */
async function quit(port: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.end('quit'));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

async function metrics(platform: LocalPlatform, name: string): Promise<string> {
  const w = (await platform.listWorkloads()).find((x) => x.name === name)!;
  return (await fetch(`http://127.0.0.1:${w.adminPort}/stats/prometheus`)).text();
}

describe('meshctl run --outbound', () => {
  it('reaches a TCP echo service and an HTTP service through explicit sidecar ports, with mTLS between sidecars', async () => {
    const platform = new LocalPlatform(home);
    const [echoPort, webPort, tcpLocal, httpLocal] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    // The echo port is declared TCP (opaque) by its Service's port name, as on Kubernetes.
    await platform.applyConfig(
      [
        {
          file: 'echo.yaml',
          text: `apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: default}\nspec:\n  selector: {app: echo}\n  ports: [{name: tcp-echo, port: 7000, targetPort: ${echoPort}}]\n`,
        },
      ],
      { defaultNamespace: 'default' },
    );
    const echoApp = `const s=require('net').createServer((c)=>c.on('data',(d)=>{if(String(d)==='quit'){c.end();s.close();}else c.write('echo: '+d)}));s.listen(Number(process.env.PORT),'127.0.0.1',()=>console.log('echo listening'))`;
    const webApp = `const h=require('http').createServer((q,r)=>r.end('hello from web, '+q.method+' '+q.url));h.listen(Number(process.env.PORT),'127.0.0.1');require('net').createServer((c)=>c.on('data',()=>{c.end();h.close();h.closeAllConnections();process.exit(0)})).listen(Number(process.env.QUIT_PORT),'127.0.0.1',()=>console.log('web listening'))`;
    const quitPort = await freePort();
    const echo = cli(
      'run',
      '--name',
      'echo',
      '--service',
      'echo',
      '--service-port',
      '7000',
      '--port',
      String(echoPort),
      '--',
      process.execPath,
      '-e',
      echoApp,
    );
    const web = runCli(
      [
        '--local',
        'run',
        '--name',
        'web',
        '--service',
        'web',
        '--service-port',
        '9080',
        '--port',
        String(webPort),
        '--',
        process.execPath,
        '-e',
        webApp,
      ],
      {
        env: { MESHCTL_HOME: home, PATH: process.env.PATH, QUIT_PORT: String(quitPort) },
      },
    );
    await eventually(
      'both servers connected',
      () => ['echo', 'web'].every((n) => cp.server.ads.views().some((v) => v.proxy.workload === n)),
      20_000,
    );
    // Endpoints only once their apps accept (meshctl run announces a workload when it is ready).
    await eventually(
      'both servers announced',
      async () => {
        const ws = await new LocalPlatform(home).listWorkloads();
        return ['echo', 'web'].every((n) => ws.some((w) => w.name === n && w.serving !== false));
      },
      20_000,
    );

    // The client ignores HTTP_PROXY: it dials 127.0.0.1 ports, a raw socket and plain http.request.
    const clientApp = `
      const net=require('net'),http=require('http');
      const s=net.connect(${tcpLocal},'127.0.0.1',()=>s.write('ping'));
      s.once('data',(d)=>{console.log(String(d));s.end();
        http.get({host:'127.0.0.1',port:${httpLocal},path:'/x'},(r)=>{let b='';r.on('data',(c)=>b+=c);r.on('end',()=>console.log(r.statusCode+' '+b))}).on('error',(e)=>{console.log('http error '+e.message);process.exit(2)});
      });
      s.on('error',(e)=>{console.log('tcp error '+e.message);process.exit(2)});`;
    const client = await cli(
      'run',
      '--name',
      'client',
      '--port',
      String(await freePort()),
      '--outbound',
      `echo:7000=${tcpLocal}`,
      '--outbound',
      `web.default:9080=${httpLocal}`,
      '--',
      process.execPath,
      '-e',
      clientApp,
    );
    expect(client.stderr).toContain(`127.0.0.1:${tcpLocal} -> echo:7000, 127.0.0.1:${httpLocal} -> web.default:9080`);
    expect(client.stdout).toBe('echo: ping\n200 hello from web, GET /x\n');
    expect(client.code).toBe(0);

    // The servers' sidecars saw the client's identity over mutual TLS: TCP for echo, HTTP for web.
    const echoMetrics = await metrics(platform, 'echo');
    expect(echoMetrics).toMatch(
      /istio_tcp_connections_opened_total\{[^}]*reporter="destination"[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/default\/sa\/client"[^}]*destination_workload="echo"[^}]*connection_security_policy="mutual_tls"[^}]*\} [1-9]/,
    );
    const webMetrics = await metrics(platform, 'web');
    expect(webMetrics).toMatch(
      /istio_requests_total\{[^}]*reporter="destination"[^}]*source_principal="spiffe:\/\/cluster\.local\/ns\/default\/sa\/client"[^}]*destination_workload="web"[^}]*\} 1/,
    );
    expect(webMetrics).toMatch(
      /istio_requests_total\{[^}]*destination_workload="web"[^}]*connection_security_policy="mutual_tls"[^}]*\} 1/,
    );

    await quit(echoPort);
    await quit(quitPort);
    expect((await echo).code).toBe(0);
    expect((await web).code).toBe(0);
  });

  it('rejects malformed and conflicting --outbound values before starting anything, naming the flag and the fix', async () => {
    const port = String(await freePort());
    const bad = async (value: string, ...more: string[]) => {
      const r = await cli('run', '--name', 'x', '--port', port, '--outbound', value, ...more, '--', 'true');
      expect(r.code).toBe(64);
      return r.stderr;
    };
    expect(await bad('reviews')).toMatch(
      /--outbound reviews: not SERVICE:PORT=LOCALPORT[\s\S]*--outbound reviews:9080=19080/,
    );
    expect(await bad('reviews:http=19080')).toContain(
      '--outbound reviews:http=19080: PORT "http" is not a port (1-65535)',
    );
    expect(await bad('reviews:9080=70000')).toContain('LOCALPORT "70000" is not a port');
    expect(await bad('Reviews_1:9080=19080')).toContain('"Reviews_1" is not a service name (NAME or NAME.NAMESPACE)');
    expect(await bad('reviews:9080=19080', '--outbound', 'ratings:9080=19080')).toMatch(
      /--outbound ratings:9080=19080: local port 19080 is already used by --outbound reviews:9080=19080[\s\S]*its own LOCALPORT/,
    );
    expect(await bad(`reviews:9080=${port}`)).toContain(`local port ${port} is already used by --port`);
    // Nothing was registered.
    expect((await new LocalPlatform(home).listWorkloads()).map((w) => w.name)).not.toContain('x');
  });
});
