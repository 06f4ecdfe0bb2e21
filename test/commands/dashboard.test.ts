/**
 * `meshctl dashboard` against a real Prometheus scraping a live local mesh (sidecars found through
 * `proxy-status -o json`, HTTP 2xx/4xx/5xx and TCP traffic, the control plane): every variable of
 * every shipped dashboard has values and every query of every panel, sent through the dashboard
 * server as its page sends it, returns data; the server is loopback-only, refuses other Hosts and
 * proxies nothing but Prometheus's query_range and label values.
 *
 * With MESHCTL_DASHBOARD_SCREENSHOTS=DIR (and Debian's chromium), it also opens each dashboard in
 * chromium through playwright-core, checks every panel drew data, and writes DIR/dashboard-NAME.png
 * (how docs/dashboard-*.png are made).
 */
import { createServer as createTcpServer, connect, type Server as TcpServer } from 'node:net';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRequiring } from '../support/requirements.js';
import { observabilityBinaries, startPrometheus, type RunningPrometheus } from '../observability/backends.js';
import { LocalMeshForTest, eventually, send, SERVICE_PORT, type Sidecar } from '../e2e/support/local-mesh.js';
import { runCli } from '../support/cli.js';
import { Proxy } from '../../src/proxy-runtime/proxy.js';
import { ProxyLog } from '../../src/proxy-runtime/ground/log.js';
import { startDashboardServer, type DashboardServer } from '../../src/dashboard/server.js';
import { validate } from '../../src/commands/dashboard.js';
import type { DashboardVariable, PanelView } from '../../src/dashboard/panels.js';

describe('meshctl dashboard flags', () => {
  it('takes a Prometheus URL and a port, refusing anything else with the fix', async () => {
    expect(validate({})).toEqual({ prometheus: 'http://127.0.0.1:9090/', port: 15680 });
    expect(validate({ prometheus: 'http://prom.monitoring:9090', port: '0' })).toEqual({
      prometheus: 'http://prom.monitoring:9090/',
      port: 0,
    });
    const bad = await runCli(['dashboard', '--prometheus', 'file:///etc/passwd']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('--prometheus file:///etc/passwd: only http:// or https://');
    const port = await runCli(['dashboard', '--port', '99999']);
    expect(port.code).toBe(64);
    expect(port.stderr).toContain('--port 99999: not a port');
  });
});

/** HTTP requests (200, 404, 503) and TCP connections until stopped. */
function steadyTraffic(client: Sidecar, tcpPort: number): { stop(): Promise<void> } {
  let running = true;
  const http = (async () => {
    const paths = ['/', '/', '/', '/missing', '/fail'];
    for (let i = 0; running; i++) {
      await send(client, `http://reviews:${SERVICE_PORT}${paths[i % paths.length]!}`).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 20));
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
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await Promise.all([http, tcp]);
    },
  };
}

/** A GET with a chosen Host header (fetch does not let one set it). */
function getWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describeRequiring([observabilityBinaries], 'meshctl dashboard on a real Prometheus scraping a live local mesh', () => {
  let mesh: LocalMeshForTest;
  let prometheus: RunningPrometheus;
  let tcpProxy: Proxy;
  let tcpEcho: TcpServer;
  let traffic: { stop(): Promise<void> };
  let dashboard: DashboardServer;
  const api = async <T>(path: string): Promise<T> => {
    const r = await fetch(new URL(path, dashboard.url));
    expect(r.status, path).toBe(200);
    return (await r.json()) as T;
  };

  beforeAll(async () => {
    mesh = await LocalMeshForTest.start();
    const handler = (req: { url?: string }, res: { statusCode: number; end(body: string): void }) => {
      res.statusCode = req.url === '/missing' ? 404 : req.url === '/fail' ? 503 : 200;
      res.end('reviews');
    };
    await mesh.run('reviews-v1', { app: 'reviews', version: 'v1' }, { service: 'reviews', handler });
    const client = await mesh.run('productpage-v1', { app: 'productpage', version: 'v1' });
    await mesh.settle();
    tcpEcho = createTcpServer((s) => s.pipe(s));
    await new Promise<void>((r) => tcpEcho.listen(0, '127.0.0.1', r));
    tcpProxy = await Proxy.start(
      {
        apiVersion: 'proxy.meshctl.dev/v1',
        node: { workload: 'db-client', namespace: 'default', labels: { app: 'db-client', version: 'v1' } },
        listeners: [{ name: 'db', port: 0, direction: 'outbound', chains: [{ protocol: 'tcp', tcpCluster: 'db' }] }],
        clusters: [
          {
            name: 'db',
            service: 'db.default.svc.cluster.local',
            endpoints: [{ address: '127.0.0.1', port: (tcpEcho.address() as { port: number }).port }],
          },
        ],
      },
      { adminPort: 0, telemetryPort: 0, accessLog: null, log: new ProxyLog('error', () => undefined) },
    );
    const status = await runCli(['--local', 'proxy-status', '-o', 'json'], { env: { MESHCTL_HOME: mesh.home } });
    const proxies = (JSON.parse(status.stdout) as { proxies: { telemetryAddress: string | null }[] }).proxies;
    prometheus = await startPrometheus([
      {
        name: 'meshctl-proxies',
        path: '/stats/prometheus',
        targets: [
          ...proxies.map((p) => p.telemetryAddress).filter((a): a is string => a !== null),
          `127.0.0.1:${tcpProxy.telemetryPort}`,
        ],
      },
      { name: 'meshctl-control-plane', path: '/metrics', targets: [mesh.cp.state.apiUrl.replace(/^http:\/\//, '')] },
    ]);
    traffic = steadyTraffic(client, tcpProxy.listenerPort('db'));
    dashboard = await startDashboardServer({ prometheus: prometheus.url, port: 0 });
  }, 180_000);

  afterAll(async () => {
    await dashboard?.close();
    await traffic?.stop();
    await prometheus?.stop();
    await tcpProxy?.close();
    tcpEcho?.close();
    await mesh?.stop();
  });

  it('serves the page and uPlot on loopback, refuses another Host, and proxies nothing but queries', async () => {
    expect(dashboard.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(dashboard.url);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain("meshctl's renderer of the shipped Grafana dashboard JSON (not Grafana)");
    expect((await (await fetch(new URL('/uplot.js', dashboard.url))).text()).length).toBeGreaterThan(20_000);
    expect(await getWithHost(dashboard.url, 'attacker.example:80')).toBe(403);
    expect((await fetch(new URL('/api/v1/targets', dashboard.url))).status).toBe(404);
    expect((await fetch(new URL('/api/label_values?label=a/../../admin', dashboard.url))).status).toBe(400);
  });

  it("returns data for every panel's query of every shipped dashboard, sent as the page sends it", async () => {
    // rate() over 1m needs two samples of every series (TCP, 4xx, 5xx)
    await eventually(
      '5xx and TCP rates in Prometheus',
      async () =>
        (
          await prometheus.query(
            'sum(rate(istio_requests_total{response_code="503"}[1m])) * sum(rate(istio_tcp_connections_opened_total[1m]))',
          )
        ).length > 0,
      90_000,
    );
    const dashboards = await api<{ file: string; variables: DashboardVariable[] }[]>('/api/dashboards');
    expect(dashboards.map((d) => d.file)).toEqual(['control-plane.json', 'mesh.json', 'service.json', 'workload.json']);
    /** Every panel query's answer, through the dashboard server: the ones with no data. */
    const emptyPanels = async (): Promise<{ empty: string[]; queries: number }> => {
      const empty: string[] = [];
      let queries = 0;
      for (const d of dashboards) {
        const params = new URLSearchParams({ dashboard: d.file });
        const chosen: Record<string, string> = {};
        for (const v of d.variables) {
          let selector = v.selector;
          for (const [k, val] of Object.entries(chosen)) selector = selector.split('$' + k).join(val);
          const values = (
            await api<{ data: string[] }>(
              `/api/label_values?${new URLSearchParams({ label: v.labelName, match: selector })}`,
            )
          ).data;
          expect(values.length, `${d.file} $${v.name}`).toBeGreaterThan(0);
          // the service with errors; All workloads (no single one here both serves and calls out, over HTTP and TCP)
          chosen[v.name] = values.includes('reviews.default.svc.cluster.local')
            ? 'reviews.default.svc.cluster.local'
            : v.name === 'workload'
              ? '.*'
              : values[0]!;
          params.set(`var-${v.name}`, chosen[v.name]!);
        }
        const { panels, range, step } = await api<{ panels: PanelView[]; range: number; step: number }>(
          `/api/panels?${params}`,
        );
        const end = Math.floor(Date.now() / 1000);
        for (const p of panels.filter((x) => x.type !== 'row')) {
          expect(p.queries.length, `${d.file} "${p.title}" has queries`).toBeGreaterThan(0);
          for (const q of p.queries) {
            queries++;
            expect(q.expr).not.toContain('$');
            const r = await api<{ status: string; data: { result: unknown[] } }>(
              `/api/query_range?${new URLSearchParams({ query: q.expr, start: String(end - range), end: String(end), step: String(step) })}`,
            );
            expect(r.status).toBe('success');
            if (r.data.result.length === 0) empty.push(`${d.file} "${p.title}": ${q.expr}`);
          }
        }
      }
      return { empty, queries };
    };
    // every target scraped twice within the rate window: wait for the answers, not for a time
    let result = { empty: ['(not asked yet)'], queries: 0 };
    await eventually(
      'data in every panel',
      async () => (result = await emptyPanels()).empty.length === 0,
      90_000,
    ).catch(() => undefined);
    const { empty, queries } = result;
    expect(empty).toEqual([]);
    expect(queries).toBeGreaterThan(30);
  }, 240_000);

  // A documentation step, registered only when asked for (CI checks the data above, not a browser).
  const dir = process.env.MESHCTL_DASHBOARD_SCREENSHOTS;
  if (dir)
    it('draws every panel in chromium, and writes the screenshots', { timeout: 420_000 }, async () => {
      // a few minutes of traffic, drawn over the last 5 (the dashboards' own range is 30 min)
      await eventually(
        'two minutes of scrapes',
        async () =>
          Number(
            (await prometheus.query('count_over_time(up{job="meshctl-control-plane"}[5m])'))[0]?.value?.[1] ?? 0,
          ) >= 120,
        240_000,
      );
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
      try {
        const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, deviceScaleFactor: 1 });
        for (const [name, query] of [
          ['mesh', 'dashboard=mesh.json'],
          ['service', 'dashboard=service.json&var-service=reviews.default.svc.cluster.local'],
          ['workload', 'dashboard=workload.json&var-namespace=default&var-workload=.*'],
          ['control-plane', 'dashboard=control-plane.json'],
        ] as const) {
          await page.goto(`${dashboard.url}?${query}&from=now-5m`);
          await page.waitForSelector('body[data-ready]', { timeout: 60_000 });
          const statuses = await page.$$eval('.panel:not(.row)', (els) =>
            els.map((e) => `${e.getAttribute('data-panel')}: ${e.getAttribute('data-status')}`),
          );
          expect(statuses.filter((s) => !s.endsWith(': data'))).toEqual([]);
          await page.screenshot({ path: `${dir}/dashboard-${name}.png`, fullPage: true });
        }
      } finally {
        await browser.close();
      }
    });
});
