/**
 * A real Prometheus scraping a live local mesh (control plane, sidecars found through `proxy-status
 * -o json`, HTTP with 2xx/4xx/5xx answers and TCP traffic): no scrape error or duplicate sample,
 * counters that never reset and a request rate with no gap across two config changes, and every
 * PromQL expression of every shipped Grafana dashboard returning data.
 */
import { createServer as createTcpServer, connect, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeRequiring } from '../support/requirements.js';
import { observabilityBinaries, startPrometheus, type RunningPrometheus } from './backends.js';
import {
  LocalMeshForTest,
  eventually,
  reviewsDestinationRule,
  reviewsSplit,
  send,
  SERVICE_PORT,
  type Sidecar,
} from '../e2e/support/local-mesh.js';
import { runCli } from '../support/cli.js';
import { Proxy } from '../../src/proxy-runtime/proxy.js';
import { ProxyLog } from '../../src/proxy-runtime/ground/log.js';
import { loadDashboards } from '../../src/install/addons.js';

interface Panel {
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

/** Every PromQL expression of a dashboard, with its panel's title. */
function expressions(dashboard: { panels: Panel[] }): { panel: string; expr: string }[] {
  const all = (ps: Panel[]): Panel[] => ps.flatMap((p) => [p, ...all(p.panels ?? [])]);
  return all(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
}

/** A dashboard expression as Grafana sends it: variables set to what this mesh has. */
function resolveVariables(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$service', 'reviews.default.svc.cluster.local')
    .replaceAll('$workload', '.+')
    .replaceAll('$namespace', '.+');
}

describeRequiring([observabilityBinaries], 'Prometheus scraping a live local mesh', () => {
  let mesh: LocalMeshForTest;
  let client: Sidecar;
  let prometheus: RunningPrometheus;
  let tcpProxy: Proxy;
  let tcpEcho: TcpServer;
  let load: { stop(): Promise<{ sent: number; failed: number }> };
  const changes: number[] = [];

  beforeAll(async () => {
    mesh = await LocalMeshForTest.start();
    const handler = (req: { url?: string }, res: { statusCode: number; end(body: string): void }) => {
      res.statusCode = req.url === '/missing' ? 404 : req.url === '/fail' ? 503 : 200;
      res.end('reviews');
    };
    await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews', handler });
    await mesh.run('reviews-v2', { app: 'reviews', version: 'v2' }, { service: 'reviews', handler });
    client = await mesh.run('productpage-v1', { app: 'productpage', version: 'v1' });
    await mesh.settle();

    // TCP traffic: a sidecar with an opaque TCP listener in front of an echo server
    tcpEcho = createTcpServer((s) => s.pipe(s));
    await new Promise<void>((r) => tcpEcho.listen(0, '127.0.0.1', r));
    const echoPort = (tcpEcho.address() as { port: number }).port;
    tcpProxy = await Proxy.start(
      {
        apiVersion: 'proxy.meshctl.dev/v1',
        node: { workload: 'db-client', namespace: 'default', labels: { app: 'db-client', version: 'v1' } },
        listeners: [{ name: 'db', port: 0, direction: 'outbound', chains: [{ protocol: 'tcp', tcpCluster: 'db' }] }],
        clusters: [
          {
            name: 'db',
            service: 'db.default.svc.cluster.local',
            endpoints: [{ address: '127.0.0.1', port: echoPort }],
          },
        ],
      },
      { adminPort: 0, telemetryPort: 0, accessLog: null, log: new ProxyLog('error', () => undefined) },
    );

    // the scrape targets, as a user finds them
    const status = await runCli(['--local', 'proxy-status', '-o', 'json'], { env: { MESHCTL_HOME: mesh.home } });
    const proxies = (JSON.parse(status.stdout) as { proxies: { telemetryAddress: string | null }[] }).proxies;
    const sidecarTargets = proxies.map((p) => p.telemetryAddress).filter((a): a is string => a !== null);
    prometheus = await startPrometheus([
      {
        name: 'meshctl-proxies',
        path: '/stats/prometheus',
        targets: [...sidecarTargets, `127.0.0.1:${tcpProxy.telemetryPort}`],
      },
      { name: 'meshctl-control-plane', path: '/metrics', targets: [mesh.cp.state.apiUrl.replace(/^http:\/\//, '')] },
    ]);
    load = steadyTraffic(client, tcpProxy.listenerPort('db'));
  }, 180_000);

  afterAll(async () => {
    await load?.stop();
    await prometheus?.stop();
    await tcpProxy?.close();
    tcpEcho?.close();
    await mesh?.stop();
  });

  it('scrapes every proxy and the control plane without errors, and counters never reset across config changes', async () => {
    // every proxy's telemetry address came from proxy-status (3 sidecars), plus the TCP one and the control plane
    const targets = async () =>
      (
        await prometheus.api<{ activeTargets: { health: string; lastError: string; scrapeUrl: string }[] }>(
          '/api/v1/targets',
        )
      ).activeTargets;
    const allUp = async () => (await targets()).length === 5 && (await targets()).every((t) => t.health === 'up');
    await eventually('every target scraped', allUp, 60_000).catch(async () =>
      expect(await targets()).toEqual('all 5 up'),
    );
    const rate = 'sum(rate(istio_requests_total{reporter="source"}[30s]))';
    await eventually('a request rate in Prometheus', async () => (await prometheus.query(rate)).length > 0, 60_000);
    const from = Math.ceil(Date.now() / 1000);
    // The window starts before the first change, however fast that change is pushed.
    await new Promise((r) => setTimeout(r, from * 1000 - Date.now() + 50));
    const scrapesNow = async () =>
      Number((await prometheus.query('count_over_time(up{job="meshctl-control-plane"}[10m])'))[0]?.value?.[1] ?? 0);

    for (const doc of [reviewsDestinationRule + '---\n' + reviewsSplit(80, 20), reviewsSplit(20, 80)]) {
      const before = await scrapesNow();
      await mesh.applyAndSync(doc);
      changes.push(Date.now() / 1000);
      await eventually('a few scrapes after the change', async () => (await scrapesNow()) >= before + 4, 60_000);
    }

    for (const t of await targets())
      expect({ url: t.scrapeUrl, health: t.health, lastError: t.lastError }).toEqual({
        url: t.scrapeUrl,
        health: 'up',
        lastError: '',
      });
    // identical label sets in one scrape would count here (Prometheus keeps one sample and counts the others)
    const self = await (await fetch(`${prometheus.url}/metrics`)).text();
    for (const name of [
      'prometheus_target_scrapes_sample_duplicate_timestamp_total',
      'prometheus_target_scrapes_sample_out_of_order_total',
    ]) {
      const line = self.split('\n').find((l) => l.startsWith(name + ' '));
      expect(line, name).toBe(`${name} 0`);
    }
    // no counter went back at any change
    const resets = await prometheus.query(
      'sum(resets(istio_requests_total[10m])) + sum(resets(istio_tcp_connections_opened_total[10m]))',
    );
    expect(resets.map((r) => r.value![1])).toEqual(['0']);
    // the request rate is there at every step from before the first change to after the last
    const now = Date.now() / 1000;
    expect(changes[0]).toBeGreaterThan(from);
    const [series] = await prometheus.queryRange(rate, from, Math.floor(now), 1);
    const steps = Math.floor(now) - from + 1;
    expect(series!.values!.length).toBe(steps);
    expect(series!.values!.every(([, v]) => Number(v) > 0)).toBe(true);
  }, 300_000);

  it('returns data for every PromQL expression of every shipped dashboard', async () => {
    const dashboards = await loadDashboards();
    expect([...dashboards.keys()]).toEqual(['control-plane.json', 'mesh.json', 'service.json', 'workload.json']);
    // rate() over 1m needs two samples of every series (TCP, 4xx, 5xx): a few scrapes of the steady traffic
    await eventually(
      '5xx and TCP rates in Prometheus',
      async () =>
        (
          await prometheus.query(
            'sum(rate(istio_requests_total{response_code="503"}[1m])) * sum(rate(istio_tcp_connections_opened_total[1m]))',
          )
        ).length > 0,
      60_000,
    );
    const empty: string[] = [];
    let checked = 0;
    for (const [file, text] of dashboards) {
      for (const { panel, expr } of expressions(JSON.parse(text) as { panels: Panel[] })) {
        checked++;
        const result = await prometheus.query(resolveVariables(expr));
        if (result.length === 0) empty.push(`${file} "${panel}": ${expr}`);
      }
    }
    expect(empty).toEqual([]);
    expect(checked).toBeGreaterThan(30);
    // the template variables' queries have values too
    const services = await prometheus.api<string[]>(
      `/api/v1/label/destination_service/values?match[]=istio_requests_total`,
    );
    expect(services).toContain('reviews.default.svc.cluster.local');
    const workloads = await prometheus.api<string[]>(
      `/api/v1/label/destination_workload/values?match[]=istio_requests_total`,
    );
    expect(workloads).toEqual(expect.arrayContaining(['reviews-v1', 'reviews-v2']));
  }, 300_000);
});

/** HTTP requests (200, 404, 503) and TCP connections until stopped; counts failures of the 200 path. */
function steadyTraffic(client: Sidecar, tcpPort: number): { stop(): Promise<{ sent: number; failed: number }> } {
  let running = true;
  let sent = 0;
  let failed = 0;
  const http = (async () => {
    const paths = ['/', '/', '/', '/missing', '/fail'];
    for (let i = 0; running; i++) {
      const path = paths[i % paths.length]!;
      const r = await send(client, `http://reviews:${SERVICE_PORT}${path}`).catch(() => ({ status: 0 }));
      sent++;
      if (path === '/' && r.status !== 200) failed++;
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  const tcp = (async () => {
    while (running) {
      await new Promise<void>((resolve) => {
        const s = connect(tcpPort, '127.0.0.1', () => s.end('ping'));
        s.on('data', () => undefined);
        s.on('close', () => resolve());
        s.on('error', () => resolve());
      });
      await new Promise((res) => setTimeout(res, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await Promise.all([http, tcp]);
      return { sent, failed };
    },
  };
}
