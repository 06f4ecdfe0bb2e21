/**
 * Test image `meshctl-test/client`: sends HTTP requests on command, from inside its pod.
 *   POST /request {"url", "count"?, "method"?, "headers"?, "body"?, "timeoutMs"?}
 *        -> {"results": [{"status", "headers", "body", "error"?}]}
 *   GET  /get?url=...   one GET, same result shape
 *   GET  /healthz       200
 * Listens on $PORT (default 8080). Self-contained: runs with plain `node`, no imports outside node:*.
 */
import { createServer } from 'node:http';

interface RequestOrder {
  url: string;
  count?: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

interface RequestResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  error?: string;
}

const port = Number(process.env.PORT ?? 8080);

async function send(order: RequestOrder): Promise<RequestResult[]> {
  const results: RequestResult[] = [];
  for (let i = 0; i < Math.min(order.count ?? 1, 1000); i++) {
    try {
      const res = await fetch(order.url, {
        method: order.method ?? 'GET',
        headers: order.headers ?? {},
        ...(order.body !== undefined ? { body: order.body } : {}),
        signal: AbortSignal.timeout(order.timeoutMs ?? 5000),
      });
      results.push({ status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() });
    } catch (e) {
      const err = e as Error & { cause?: Error };
      results.push({ status: 0, headers: {}, body: '', error: err.cause?.message ?? err.message });
    }
  }
  return results;
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let order: RequestOrder;
    if (url.pathname === '/healthz') return reply(200, 'ok');
    if (req.method === 'GET' && url.pathname === '/get') order = { url: url.searchParams.get('url') ?? '' };
    else if (req.method === 'POST' && url.pathname === '/request') {
      try {
        order = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RequestOrder;
      } catch {
        return reply(400, { error: 'body must be JSON: {"url": ...}' });
      }
    } else return reply(404, { error: 'use POST /request or GET /get?url=' });
    if (!order.url) return reply(400, { error: 'url is required' });
    send(order).then(
      (results) => reply(200, { results }),
      (e: Error) => reply(500, { error: e.message }),
    );
  });
});

server.listen(port, () => process.stdout.write(`client listening on ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
