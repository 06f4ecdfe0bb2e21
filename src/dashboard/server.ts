/**
 * The HTTP server of `meshctl dashboard`, as linkerd's `viz dashboard` serves its own UI: on
 * loopback only, it serves a page that draws the shipped Grafana dashboards' panels with uPlot (the
 * chart library Grafana itself uses, sent to the browser from the npm package), the dashboards'
 * variables and panels with their PromQL expanded, and a read-only window on Prometheus: its
 * query_range and label values APIs, nothing else (no open proxy). Requests naming another Host than
 * the loopback address it listens on are refused, so a web page cannot reach it by DNS rebinding.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { loadDashboards } from '../install/addons.js';
import {
  dashboardPanels,
  dashboardRangeSeconds,
  dashboardVariables,
  relativeSeconds,
  type RawDashboard,
} from './panels.js';
import { dashboardPage, dashboardScript } from './page.js';

/** A running dashboard server. */
export interface DashboardServer {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  close(): Promise<void>;
}

/** How many points a panel's query asks for: Grafana's default resolution for a panel's width. */
const POINTS = 240;
const MAX_QUERY = 16_384;

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'",
  });
  res.end(body);
}

const json = (res: ServerResponse, status: number, value: unknown) =>
  send(res, status, 'application/json', JSON.stringify(value));

/** Starts the server on 127.0.0.1:`port` (0: a free one) in front of the Prometheus at `prometheus`. */
export async function startDashboardServer(o: { prometheus: string; port: number }): Promise<DashboardServer> {
  const dashboards = await loadDashboards();
  const parsed = new Map([...dashboards].map(([f, text]) => [f, JSON.parse(text) as RawDashboard]));
  const require = createRequire(import.meta.url);
  // uPlot's browser build, read once on first use: the CLI never loads it otherwise.
  let assets: { js: Buffer; css: Buffer } | undefined;
  const uplot = async () =>
    (assets ??= {
      js: await readFile(require.resolve('uplot/dist/uPlot.iife.min.js')),
      css: await readFile(require.resolve('uplot/dist/uPlot.min.css')),
    });
  const prometheus = o.prometheus.replace(/\/+$/, '');
  let hostOk = (_host: string | undefined) => false;

  const fromPrometheus = async (res: ServerResponse, path: string): Promise<void> => {
    try {
      const r = await fetch(`${prometheus}${path}`, { signal: AbortSignal.timeout(30_000) });
      send(res, r.status, 'application/json', Buffer.from(await r.arrayBuffer()));
    } catch (err) {
      json(res, 502, {
        status: 'error',
        error: `Prometheus at ${prometheus} did not answer: ${(err as Error).message}`,
      });
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!hostOk(req.headers.host)) return json(res, 403, { error: 'not a loopback Host' });
    if (req.method !== 'GET') return json(res, 405, { error: 'GET only' });
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const q = url.searchParams;
    switch (url.pathname) {
      case '/':
        return send(res, 200, 'text/html; charset=utf-8', dashboardPage());
      case '/app.js':
        return send(res, 200, 'text/javascript', dashboardScript());
      case '/uplot.js':
        return send(res, 200, 'text/javascript', (await uplot()).js);
      case '/uplot.css':
        return send(res, 200, 'text/css', (await uplot()).css);
      case '/api/dashboards':
        return json(
          res,
          200,
          [...parsed].map(([file, d]) => ({ file, title: d.title ?? file, variables: dashboardVariables(d) })),
        );
      case '/api/panels': {
        const d = parsed.get(q.get('dashboard') ?? '');
        if (!d) return json(res, 404, { error: `no dashboard ${q.get('dashboard')}; see /api/dashboards` });
        // `from=now-5m` as in a Grafana URL; else the dashboard's own time range
        const range = relativeSeconds(q.get('from') ?? undefined) ?? dashboardRangeSeconds(d);
        const step = Math.max(1, Math.round(range / POINTS));
        const values: Record<string, string> = {};
        for (const v of dashboardVariables(d)) values[v.name] = q.get(`var-${v.name}`) ?? '.*';
        return json(res, 200, { title: d.title, range, step, panels: dashboardPanels(d, values, step) });
      }
      case '/api/query_range': {
        const query = q.get('query') ?? '';
        if (!query || query.length > MAX_QUERY) return json(res, 400, { error: 'query: 1 to 16384 characters' });
        const p = new URLSearchParams({
          query,
          start: q.get('start') ?? '',
          end: q.get('end') ?? '',
          step: q.get('step') ?? '',
        });
        return fromPrometheus(res, `/api/v1/query_range?${p}`);
      }
      case '/api/label_values': {
        const label = q.get('label') ?? '';
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(label)) return json(res, 400, { error: 'label: a Prometheus label name' });
        const match = q.get('match') ?? '';
        if (match.length > MAX_QUERY) return json(res, 400, { error: 'match: at most 16384 characters' });
        return fromPrometheus(
          res,
          `/api/v1/label/${label}/values${match ? `?${new URLSearchParams({ 'match[]': match })}` : ''}`,
        );
      }
      default:
        return json(res, 404, { error: `no ${url.pathname}` });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) json(res, 500, { error: err.message });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const allowed = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  hostOk = (host) => host !== undefined && allowed.has(host);
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
