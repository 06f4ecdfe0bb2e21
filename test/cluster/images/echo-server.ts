/**
 * Test image `meshctl-test/echo`: an HTTP server that answers every request with its pod name and the
 * request it got, as JSON. Health endpoints can be flipped by the test to drive probes:
 *   GET  /healthz, /readyz               200 unless flipped
 *   POST /control/{unhealthy,healthy,unready,ready}
 *   POST /control/exit?code=N            exits the process with code N
 * Listens on $PORT (default 8080). With START_MARKER_FILE and START_MARKER set, appends the marker line to
 * that file at start-up, so tests can see in which order a pod's containers started. Self-contained: runs with plain `node` (type stripping), no imports
 * outside node:*.
 */
import { createServer } from 'node:http';
import { appendFileSync } from 'node:fs';
import { hostname } from 'node:os';

const port = Number(process.env.PORT ?? 8080);
const podName = process.env.POD_NAME || hostname();
let healthy = true;
let ready = true;

if (process.env.START_MARKER_FILE && process.env.START_MARKER) appendFileSync(process.env.START_MARKER_FILE, `${process.env.START_MARKER}\n`);

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= 65536) chunks.push(c);
  });
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = (status: number, body: unknown): void => {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', 'x-pod-name': podName });
      res.end(text);
    };
    if (url.pathname === '/healthz') return reply(healthy ? 200 : 500, healthy ? 'ok' : 'unhealthy');
    if (url.pathname === '/readyz') return reply(ready ? 200 : 503, ready ? 'ready' : 'not ready');
    if (req.method === 'POST' && url.pathname.startsWith('/control/')) {
      const what = url.pathname.slice('/control/'.length);
      if (what === 'unhealthy') healthy = false;
      else if (what === 'healthy') healthy = true;
      else if (what === 'unready') ready = false;
      else if (what === 'ready') ready = true;
      else if (what === 'exit') {
        const code = Number(url.searchParams.get('code') ?? 1);
        reply(200, `exiting with ${code}`);
        setTimeout(() => process.exit(code), 50);
        return;
      } else return reply(404, `unknown control ${what}`);
      return reply(200, { healthy, ready });
    }
    reply(200, {
      pod: podName,
      namespace: process.env.POD_NAMESPACE ?? '',
      message: process.env.ECHO_MESSAGE ?? '',
      method: req.method,
      path: req.url,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      remoteAddress: req.socket.remoteAddress?.replace(/^::ffff:/, ''),
    });
  });
});

server.listen(port, () => process.stdout.write(`echo server ${podName} listening on ${port}\n`));
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    process.stdout.write(`echo server ${podName}: ${sig}, shutting down\n`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
