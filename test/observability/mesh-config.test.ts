/**
 * The seed's IstioOperator tracing and access-log settings on the local platform: `meshctl install
 * --local -f FILE` (and `--set meshConfig.KEY=VALUE`) reaches the running sidecars over the config
 * stream, without restarting them: spans go to the Zipkin collector at the sampling asked for, and
 * the access log encoding changes; a Telemetry resource (workload selector) overrides it for its workloads.
 */
import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { LocalMeshForTest, eventually, freePort, send, SERVICE_PORT, type Sidecar } from '../e2e/support/local-mesh.js';
import { runCli } from '../support/cli.js';

interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  kind: string;
  localEndpoint: { serviceName: string };
}

const tracingOperator = (zipkin: string) => `# Istio - Enable tracing
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: control-plane
spec:
  meshConfig:
    defaultConfig:
      tracing:
        sampling: 100.0  # 100% sampling
        zipkin:
          address: ${zipkin}
`;

const accessLogOperator = `# Enable access logs
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: control-plane
spec:
  meshConfig:
    accessLogFile: "/dev/stdout"
    accessLogEncoding: JSON
    outboundTrafficPolicy:
      mode: REGISTRY_ONLY
`;

const gatewayConfig = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-via-gateway}
spec:
  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - route:
    - destination: {host: reviews, port: {number: ${SERVICE_PORT}}}
`;

/** A plain HTTP request to the gateway's local port. */
function viaGateway(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, headers: { host: 'bookinfo.example.com' }, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('meshConfig from an IstioOperator on the local platform', () => {
  let mesh: LocalMeshForTest;
  let client: Sidecar;
  let collector: Server;
  const spans: ZipkinSpan[] = [];
  let zipkin = '';
  let gatewayPort = 0;

  beforeAll(async () => {
    collector = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url === '/api/v2/spans') spans.push(...(JSON.parse(body) as ZipkinSpan[]));
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    zipkin = `127.0.0.1:${(collector.address() as { port: number }).port}`;
    mesh = await LocalMeshForTest.start();
    await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews' });
    client = await mesh.run('productpage-v1', { app: 'productpage', version: 'v1' });
    gatewayPort = await freePort();
    await mesh.gateway('ingressgateway', { istio: 'ingressgateway', app: 'istio-ingressgateway' }, { 80: gatewayPort });
    await mesh.settle();
    await mesh.applyAndSync(gatewayConfig);
  }, 120_000);

  afterAll(async () => {
    await mesh?.stop();
    collector?.closeAllConnections();
    collector?.close();
  });

  const install = async (...args: string[]) =>
    runCli(['--local', 'install', ...args], { env: { MESHCTL_HOME: mesh.home } });
  const telemetryOf = async (s: Sidecar) => {
    const dump = (await (await fetch(`http://127.0.0.1:${s.proxy.adminPort}/config_dump`)).json()) as {
      config: { telemetry?: Record<string, unknown> };
    };
    return dump.config.telemetry ?? {};
  };

  it("exports one client and one server span per request to the seed's zipkin address, at 100% sampling", async () => {
    // before: no tracing configured, nothing exported
    expect((await send(client, `http://reviews:${SERVICE_PORT}/`)).status).toBe(200);
    const file = join(mesh.home, 'tracing.yaml');
    await writeFile(file, tracingOperator(zipkin));
    const r = await install('-f', file);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('mesh config');
    await eventually(
      'the sidecars run the tracing settings',
      async () => ((await telemetryOf(client)).tracing as { sampling?: number } | undefined)?.sampling === 100,
      30_000,
    );
    await eventually(
      'the server sidecar too',
      async () => (await telemetryOf(mesh.sidecars[0]!)).tracing !== undefined,
      30_000,
    );
    const before = spans.length;
    expect((await send(client, `http://reviews:${SERVICE_PORT}/`)).status).toBe(200);
    await eventually('two spans exported', () => spans.length === before + 2, 30_000);
    const [a, b] = spans.slice(before);
    const clientSpan = [a!, b!].find((s) => s.kind === 'CLIENT')!;
    const serverSpan = [a!, b!].find((s) => s.kind === 'SERVER')!;
    expect(serverSpan.traceId).toBe(clientSpan.traceId);
    expect(serverSpan.parentId).toBe(clientSpan.id);
    expect(clientSpan.localEndpoint.serviceName).toBe('productpage.default');
    expect(serverSpan.localEndpoint.serviceName).toBe('reviews.default');

    // through the ingress gateway: its span is the parent of the sidecar's server span, one trace
    const gw = mesh.sidecars.find((s) => s.name === 'ingressgateway')!;
    await eventually(
      'the gateway runs the tracing settings',
      async () => (await telemetryOf(gw)).tracing !== undefined,
      30_000,
    );
    const beforeGw = spans.length;
    expect(await viaGateway(gatewayPort, '/books')).toBe(200);
    await eventually('gateway and server spans exported', () => spans.length === beforeGw + 2, 30_000);
    const fromGw = spans.slice(beforeGw);
    const gwSpan = fromGw.find((s) => s.localEndpoint.serviceName === 'istio-ingressgateway.default')!;
    const behind = fromGw.find((s) => s.localEndpoint.serviceName === 'reviews.default')!;
    expect(gwSpan.parentId).toBeUndefined();
    expect(behind.traceId).toBe(gwSpan.traceId);
    expect(behind.parentId).toBe(gwSpan.id);
  }, 120_000);

  it('applies accessLogFile/accessLogEncoding and --set meshConfig to running proxies, warning about fields without effect', async () => {
    const file = join(mesh.home, 'access-log.yaml');
    await writeFile(file, accessLogOperator);
    const r = await install('-f', file, '--set', 'meshConfig.accessLogEncoding=TEXT');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('[MESH0002] meshConfig.outboundTrafficPolicy.mode: accepted but has no effect');
    await eventually(
      'TEXT access logs on the sidecars',
      async () => (await telemetryOf(client)).accessLogEncoding === 'TEXT',
      30_000,
    );
    expect(await telemetryOf(client)).toMatchObject({ accessLog: 'stdout', accessLogEncoding: 'TEXT' });
    // tracing is gone with the new meshConfig (it replaces the previous one, as istiod's mesh config does)
    expect((await telemetryOf(client)).tracing).toBeUndefined();
  }, 120_000);

  it('applies a Telemetry resource (telemetry.istio.io v1) to running proxies: workload selector over the mesh config', async () => {
    const file = join(mesh.home, 'telemetry.yaml');
    await writeFile(file, tracingOperator(zipkin));
    expect((await install('-f', file)).code).toBe(0);
    await writeFile(
      file,
      `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata:
  name: productpage-sampling
  namespace: default
spec:
  selector:
    matchLabels:
      app: productpage
  tracing:
  - randomSamplingPercentage: 0
    customTags:
      team:
        literal:
          value: bookinfo
  accessLogging:
  - disabled: true
`,
    );
    const r = await runCli(['--local', 'apply', '-f', file], { env: { MESHCTL_HOME: mesh.home } });
    expect(r.code).toBe(0);
    await eventually(
      'productpage samples nothing now',
      async () => ((await telemetryOf(client)).tracing as { sampling?: number } | undefined)?.sampling === 0,
      30_000,
    );
    expect(await telemetryOf(client)).toMatchObject({
      accessLog: 'off',
      tracing: { customTags: { team: { literal: { value: 'bookinfo' } } } },
    });
    // reviews is not selected: it keeps the mesh config's 100%
    expect(((await telemetryOf(mesh.sidecars[0]!)).tracing as { sampling?: number }).sampling).toBe(100);
    // a request productpage starts is not sampled: no span from either side
    const before = spans.length;
    expect((await send(client, `http://reviews:${SERVICE_PORT}/`)).status).toBe(200);
    for (const s of mesh.sidecars) s.proxy.telemetry.spans.flush();
    await new Promise((r) => setTimeout(r, 300));
    expect(spans.length).toBe(before);
    const del = await runCli(['--local', 'delete', '-f', file], { env: { MESHCTL_HOME: mesh.home } });
    expect(del.code).toBe(0);
    await eventually(
      'back to the mesh config',
      async () => ((await telemetryOf(client)).tracing as { sampling?: number } | undefined)?.sampling === 100,
      30_000,
    );
  }, 120_000);

  it('refuses a bad meshConfig naming the field, and keeps what runs', async () => {
    const r = await install('--set', 'meshConfig.defaultConfig.tracing.sampling=250');
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('meshConfig.defaultConfig.tracing.sampling: expected a percentage from 0 to 100');
    expect(((await telemetryOf(client)).tracing as { sampling?: number }).sampling).toBe(100);
  });
});
