/**
 * The admin API, bound to 127.0.0.1 only (never reachable from outside the pod): readiness,
 * config dump, clusters with endpoint health and outlier state, listeners, routes, certificates,
 * stats, log level, drain and quit. Everything except /stats text answers JSON, since
 * `meshctl proxy-config` and the control plane read it.
 *
 * Loopback is not a boundary on its own: every local process, and every web page in a local
 * browser (a cross-site POST, DNS rebinding), can reach 127.0.0.1. So every request that looks like
 * it came from a browser is refused (an Origin or cross-site Sec-Fetch-Site header, a Host that is
 * not a loopback name), a POST body must be JSON, and the endpoints that change the proxy (config,
 * log level, drain, quit) need the proxy's admin token as `Authorization: Bearer <token>`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { isLogLevel } from '../../ground/log.js';
import { redactPrivateKeys } from '../../../protocol/proxy-config/redact.js';
import type { AdminView } from './admin-view.js';

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function text(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new Error(`body larger than ${limit} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The paths the admin API serves, for its index page. */
export const ADMIN_PATHS = [
  'GET /ready',
  'GET /config_dump',
  'GET /clusters',
  'GET /listeners',
  'GET /routes',
  'GET /certs',
  'GET /stats',
  'GET /stats/prometheus',
  'GET /logging',
  'GET /config_hash',
  'POST /logging?level=<off|error|warn|info|debug>',
  'POST /config (body: a proxy config in JSON; answers the ACK/NACK)',
  'POST /drain',
  'POST /quitquitquit',
];

/** How the mutating endpoints are authorised. */
export interface AdminAuth {
  /** the token callers present as `Authorization: Bearer <token>` */
  readonly token: string;
  /** where a caller finds it (named in the 401 answer; undefined: only in this process) */
  readonly file: string | undefined;
}

const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d{1,5})?$/i;

/** Why a request is refused before it is served, or undefined. */
export function refusal(req: IncomingMessage, auth: AdminAuth): { status: number; error: string } | undefined {
  const h = req.headers;
  if (h.origin !== undefined)
    return { status: 403, error: 'requests from web pages are refused (Origin header present)' };
  const site = h['sec-fetch-site'];
  if (site !== undefined && site !== 'none' && site !== 'same-origin')
    return { status: 403, error: `requests from web pages are refused (Sec-Fetch-Site: ${site})` };
  if (h.host === undefined || !LOOPBACK_HOST.test(h.host))
    return { status: 403, error: 'the Host must be a loopback address (127.0.0.1, localhost or [::1])' };
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') return undefined;
  if (method !== 'POST')
    return { status: 405, error: `${method} is not served: use GET, or POST with the admin token` };
  const ct = h['content-type'];
  if (ct !== undefined && !/^application\/json\s*(;|$)/i.test(ct))
    return { status: 415, error: `Content-Type ${ct} is refused: send application/json (or no body)` };
  if (!tokenMatches(h.authorization, auth.token)) {
    return {
      status: 401,
      error: `this endpoint changes the proxy and needs its admin token: Authorization: Bearer <token>${auth.file ? ` (the token is in ${auth.file}, readable by the proxy's user)` : ''}`,
    };
  }
  return undefined;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7).trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Starts the admin server on 127.0.0.1:`port`; resolves with the bound port. */
export function startAdminServer(
  view: AdminView,
  port: number,
  auth: AdminAuth,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const no = refusal(req, auth);
    if (no) {
      req.resume();
      return json(res, no.status, { error: no.error });
    }
    void handle(view, req, res).catch((err: unknown) => json(res, 500, { error: (err as Error).message }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => {
      server.off('error', reject);
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a ? a.port : port });
    });
  });
}

async function handle(view: AdminView, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const method = req.method ?? 'GET';
  const path = url.pathname;
  if (method === 'GET') {
    switch (path) {
      case '/':
        return json(res, 200, { paths: ADMIN_PATHS });
      case '/ready': {
        const r = view.readiness();
        return text(res, r.ready ? 200 : 503, r.state + '\n');
      }
      case '/config_dump':
        return json(res, 200, redactPrivateKeys(view.configDump()));
      case '/clusters':
        return json(res, 200, view.clusters());
      case '/listeners':
        return json(res, 200, view.listeners());
      case '/routes':
        return json(res, 200, view.routes());
      case '/certs':
        return json(res, 200, view.certs());
      case '/stats':
        if (url.searchParams.get('format') === 'json') return json(res, 200, await view.statsJson());
        return text(res, 200, await view.prometheus());
      case '/stats/prometheus':
        return text(res, 200, await view.prometheus(), 'text/plain; version=0.0.4; charset=utf-8');
      case '/logging':
        return json(res, 200, { level: view.log.level });
      case '/config_hash':
        return json(res, 200, view.configHash());
    }
    return json(res, 404, { error: `no admin path ${path}`, paths: ADMIN_PATHS });
  }
  if (method === 'POST') {
    switch (path) {
      case '/logging': {
        const level = url.searchParams.get('level') ?? '';
        if (!isLogLevel(level))
          return json(res, 400, { error: `unknown level "${level}": use off, error, warn, info or debug` });
        view.log.level = level;
        return json(res, 200, { level });
      }
      case '/config': {
        let body: unknown;
        try {
          body = JSON.parse(await readBody(req, 16 << 20));
        } catch (err) {
          return json(res, 400, { ok: false, error: `body is not JSON: ${(err as Error).message}` });
        }
        const result = await view.applyConfig(body);
        return json(res, result.ok ? 200 : 400, result);
      }
      case '/drain':
      case '/drain_listeners':
        view.startDrain();
        return json(res, 200, { draining: true });
      case '/quitquitquit':
        json(res, 200, { quitting: true });
        view.quit();
        return;
    }
  }
  json(res, 404, { error: `no admin path ${method} ${path}`, paths: ADMIN_PATHS });
}
