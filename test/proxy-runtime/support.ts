/** Helpers of the proxy tests: real upstream servers on loopback, a real proxy, a real HTTP client. */
import { createServer as createNetServer } from 'node:net';
import {
  createServer,
  request as httpRequest,
  Agent,
  type IncomingMessage,
  type ServerResponse,
  type Server,
  type OutgoingHttpHeaders,
} from 'node:http';
import { PassThrough } from 'node:stream';
import { afterEach } from 'vitest';
import { Proxy, type ProxyOptions } from '../../src/proxy-runtime/proxy.js';
import { ProxyLog } from '../../src/proxy-runtime/ground/log.js';

type Closeable = { close(): Promise<void> | void };
const toClose: Closeable[] = [];

/** Closes everything a test started, in reverse order. */
afterEach(async () => {
  while (toClose.length > 0) await toClose.pop()!.close();
});

/** Registers something to close after the test. */
export function closeAfter<T extends Closeable>(x: T): T {
  toClose.push(x);
  return x;
}

/** A request as an upstream saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real HTTP/1.1 upstream; `handler` answers, every request is recorded in `seen`. */
export async function startUpstream(
  name: string,
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void = (_req, res) => {
    res.end(name);
  },
): Promise<{ port: number; seen: SeenRequest[]; server: Server }> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closeAfter({
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
  return { port: (server.address() as { port: number }).port, seen, server };
}

/** A proxy started from `config` with admin and telemetry on free ports; access log lines collected. */
export async function startProxy(
  config: unknown,
  opts: ProxyOptions = {},
): Promise<{ proxy: Proxy; accessLog: () => Record<string, unknown>[]; logLines: string[] }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const logLines: string[] = [];
  const proxy = await Proxy.start(config, {
    adminPort: 0,
    telemetryPort: 0,
    accessLog: out,
    log: new ProxyLog('warn', (l) => logLines.push(l)),
    ...opts,
  });
  closeAfter(proxy);
  return {
    proxy,
    logLines,
    accessLog: () => {
      proxy.telemetry.accessLog.flush();
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
}

/** The response of `send`. */
export interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Sends one HTTP/1.1 request (a fresh connection unless an agent is given). */
export function send(
  port: number,
  o: {
    method?: string;
    path?: string;
    host?: string;
    headers?: OutgoingHttpHeaders;
    body?: string;
    agent?: Agent;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: o.method ?? 'GET',
        path: o.path ?? '/',
        headers: { host: o.host ?? 'svc', ...(o.headers ?? {}) },
        agent: o.agent ?? false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Fetches a JSON admin path. */
export async function admin<T = unknown>(proxy: Proxy, path: string, method = 'GET'): Promise<T> {
  const r = await fetch(`http://127.0.0.1:${proxy.adminPort}${path}`, {
    method,
    headers: method === 'GET' ? {} : { authorization: `Bearer ${proxy.adminToken}` },
  });
  return (await r.json()) as T;
}

/** Reads a metric sample value from the Prometheus text of the telemetry port. */
export async function metricValue(
  proxy: Proxy,
  name: string,
  labels: Record<string, string>,
): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${proxy.telemetryPort}/stats/prometheus`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/** A minimal outbound config: one listener on a free port routing every authority to `clusters[0]`. */
export function simpleConfig(o: {
  clusters: unknown[];
  routes?: unknown[];
  version?: string;
  listener?: Record<string, unknown>;
  chain?: Record<string, unknown>;
  extra?: Record<string, unknown>;
}): Record<string, unknown> {
  const first = (o.clusters[0] as { name: string }).name;
  return {
    apiVersion: 'proxy.meshctl.dev/v1',
    version: o.version ?? 'v1',
    listeners: [
      {
        name: 'out',
        port: 0,
        direction: 'outbound',
        chains: [{ routeConfig: 'rc', ...(o.chain ?? {}) }],
        ...(o.listener ?? {}),
      },
    ],
    routes: [
      {
        name: 'rc',
        virtualHosts: [{ name: 'all', domains: ['*'], routes: o.routes ?? [{ route: [{ cluster: first }] }] }],
      },
    ],
    clusters: o.clusters,
    ...(o.extra ?? {}),
  };
}

/** A static cluster of loopback endpoints. */
export function cluster(
  name: string,
  ports: number[],
  extra: Record<string, unknown> = {},
  labels: Record<string, string>[] = [],
): Record<string, unknown> {
  return {
    name,
    endpoints: ports.map((port, i) => ({ address: '127.0.0.1', port, ...(labels[i] ? { labels: labels[i] } : {}) })),
    ...extra,
  };
}

/** Waits until `check` is true (polling), for effects that happen asynchronously (mirrors). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, tries = 1000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

export { Agent };

export { freePort } from '../support/ports.js';
