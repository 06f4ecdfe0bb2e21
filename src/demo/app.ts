/**
 * The demo application's service: an HTTP server that answers with who it is (service, version,
 * pod) and, like bookinfo's productpage and reviews, calls the services it depends on and includes
 * their answers. It propagates the request id, trace and `end-user` headers, so header-based routes
 * and traces work through it. Outbound calls honour HTTP_PROXY (absolute-form requests to the
 * local sidecar), which is how workloads reach the mesh on the local platform.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { hostname } from 'node:os';

/** How a demo service is configured. */
export interface DemoAppOptions {
  service: string;
  version: string;
  port: number;
  host?: string;
  /** Upstreams to call on every request: `ratings` (port 9080), `ratings:9080` or `http://ratings:9080/path`. */
  calls: string[];
  /** Answer with this status instead of 200 (to demonstrate retries and outlier detection). */
  failStatus?: number;
  /** The `HTTP_PROXY` to send outbound calls through, if any. */
  httpProxy?: string;
  podName?: string;
}

/** What a demo service answers. */
export interface DemoAnswer {
  service: string;
  version: string;
  pod: string;
  path: string;
  calls: { target: string; status: number; answer?: DemoAnswer; error?: string }[];
}

/** The port the demo's services listen on in their Services (bookinfo's 9080): calls without a port go there. */
const SERVICE_PORT = 9080;
const PROPAGATED = [
  'x-request-id',
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'end-user',
  'user-agent',
];
const CALL_TIMEOUT_MS = 5_000;

function targetUrl(spec: string, defaultPort: number): URL {
  if (/^https?:\/\//.test(spec)) return new URL(spec);
  return new URL(`http://${spec.includes(':') ? spec : `${spec}:${defaultPort}`}/`);
}

function call(target: URL, headers: IncomingHttpHeaders, proxy: URL | undefined): Promise<DemoAnswer['calls'][number]> {
  const forwarded: Record<string, string> = {};
  for (const h of PROPAGATED) {
    const v = headers[h];
    if (typeof v === 'string') forwarded[h] = v;
  }
  const via = proxy ?? target;
  return new Promise((resolve) => {
    const req = request(
      {
        host: via.hostname,
        port: via.port || 80,
        method: 'GET',
        // Through a proxy, the request line carries the absolute URL (RFC 9112 absolute-form).
        path: proxy ? target.href : target.pathname + target.search,
        headers: { ...forwarded, host: target.host },
        timeout: CALL_TIMEOUT_MS,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          let answer: DemoAnswer | undefined;
          try {
            answer = JSON.parse(body) as DemoAnswer;
          } catch {
            /* not a demo service: keep the status only */
          }
          resolve({ target: target.host, status: res.statusCode ?? 0, ...(answer ? { answer } : {}) });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)));
    req.on('error', (err) => resolve({ target: target.host, status: 0, error: err.message }));
    req.end();
  });
}

/** Starts a demo service; resolves once it listens. */
export async function startDemoApp(o: DemoAppOptions): Promise<Server> {
  const pod = o.podName ?? hostname();
  const proxy = o.httpProxy ? new URL(o.httpProxy) : undefined;
  // Not the app's own port: on the local platform each instance listens on a port of its own, while
  // the service it calls is reached on its service port.
  const targets = o.calls.map((c) => targetUrl(c, SERVICE_PORT));
  const server = createServer(async (req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    const calls = await Promise.all(targets.map((t) => call(t, req.headers, proxy)));
    const answer: DemoAnswer = { service: o.service, version: o.version, pod, path: req.url ?? '/', calls };
    const failed = calls.some((c) => c.status === 0 || c.status >= 500);
    res.writeHead(o.failStatus ?? (failed ? 502 : 200), {
      'content-type': 'application/json',
      'x-demo-version': o.version,
    });
    res.end(JSON.stringify(answer) + '\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '0.0.0.0', () => resolve());
  });
  return server;
}
