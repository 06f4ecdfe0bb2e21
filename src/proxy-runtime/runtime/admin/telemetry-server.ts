/**
 * The telemetry port (15020): `/stats/prometheus` for scrapers and `/healthz/ready` for the
 * kubelet's readiness probe. Bound where scrapers can reach it, unlike the admin port.
 */
import { createServer, type Server } from 'node:http';
import type { AdminView } from './admin-view.js';

/** Starts the telemetry server; resolves with the bound port. */
export function startTelemetryServer(
  view: AdminView,
  address: string,
  port: number,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && (path === '/stats/prometheus' || path === '/metrics')) {
      view.prometheus().then(
        (body) => {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
          res.end(body);
        },
        () => {
          res.writeHead(500).end();
        },
      );
      return;
    }
    if (req.method === 'GET' && path === '/healthz/ready') {
      const r = view.readiness();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(r.state + '\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: use /stats/prometheus or /healthz/ready\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port }, () => {
      server.off('error', reject);
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a ? a.port : port });
    });
  });
}
