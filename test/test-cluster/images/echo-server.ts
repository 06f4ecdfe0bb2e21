/**
 * Test image `meshctl-test/echo`: an HTTP server that answers every request with its pod name and the
 * request it got, as JSON. Health endpoints can be flipped by the test to drive probes:
 *   GET  /healthz, /readyz               200 unless flipped
 *   POST /control/{unhealthy,healthy,unready,ready}
 *   POST /control/exit?code=N            exits the process with code N
 * An AdmissionReview POSTed to it is answered as a validating webhook would: allowed, unless the object
 * carries the label deny=true (then denied with a message naming this pod).
 * Serves HTTPS when TLS_CERT_FILE and TLS_KEY_FILE are set (webhooks need it).
 * Listens on $PORT (default 8080). With START_MARKER_FILE and START_MARKER set, appends the marker line to
 * that file at start-up, so tests can see in which order a pod's containers started. Self-contained: runs with plain `node` (type stripping), no imports
 * outside node:*.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { appendFileSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';

const port = Number(process.env.PORT ?? 8080);
const podName = process.env.POD_NAME || hostname();
let healthy = true;
let ready = true;

if (process.env.START_MARKER_FILE && process.env.START_MARKER)
  appendFileSync(process.env.START_MARKER_FILE, `${process.env.START_MARKER}\n`);

interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: { uid: string; object?: { metadata?: { labels?: Record<string, string> } } };
}

function admissionResponse(review: AdmissionReview): unknown {
  const deny = review.request?.object?.metadata?.labels?.deny === 'true';
  return {
    apiVersion: review.apiVersion ?? 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: {
      uid: review.request?.uid ?? '',
      allowed: !deny,
      ...(deny ? { status: { code: 403, message: `denied by ${podName}: the object has the label deny=true` } } : {}),
    },
  };
}

const handler = (req: IncomingMessage, res: ServerResponse): void => {
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
      res.writeHead(status, {
        'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
        'x-pod-name': podName,
      });
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
    const body = Buffer.concat(chunks).toString('utf8');
    if (req.method === 'POST' && body.includes('"AdmissionReview"')) {
      try {
        return reply(200, admissionResponse(JSON.parse(body) as AdmissionReview));
      } catch {
        return reply(400, 'bad AdmissionReview');
      }
    }
    reply(200, {
      pod: podName,
      namespace: process.env.POD_NAMESPACE ?? '',
      message: process.env.ECHO_MESSAGE ?? '',
      method: req.method,
      path: req.url,
      headers: req.headers,
      body,
      remoteAddress: req.socket.remoteAddress?.replace(/^::ffff:/, ''),
    });
  });
};

const tls =
  process.env.TLS_CERT_FILE && process.env.TLS_KEY_FILE
    ? { cert: readFileSync(process.env.TLS_CERT_FILE), key: readFileSync(process.env.TLS_KEY_FILE) }
    : undefined;
const server = tls ? createHttpsServer(tls, handler) : createHttpServer(handler);
server.listen(port, () => process.stdout.write(`echo server ${podName} listening on ${port}\n`));
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    process.stdout.write(`echo server ${podName}: ${sig}, shutting down\n`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
