/**
 * The HTTP/1.1 fast path end to end through a real proxy: smuggling-shaped requests refused with
 * nothing forwarded, pipelining, streaming without buffering, HTTP/1.0 and HEAD framing, a
 * kept-alive client following config swaps per request, and the upstream pool's idle timeout.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { request as httpRequest, createServer as createH1Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  Agent,
  admin,
  closeAfter,
  cluster,
  eventually,
  send,
  simpleConfig,
  startProxy,
  startUpstream,
} from '../../support.js';

/** Writes `payload` on a fresh connection and collects everything until the proxy closes (or `untilText` arrived). */
function raw(port: number, payload: string, untilText?: string): Promise<string> {
  return new Promise((resolve) => {
    const s: Socket = netConnect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => {
      out += d.toString('latin1');
      if (untilText !== undefined && out.includes(untilText)) s.destroy();
    });
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    s.write(payload);
    setTimeout(() => s.destroy(), 10_000).unref();
  });
}

describe('HTTP/1.1 fast path: request smuggling defences', () => {
  it('refuses each ambiguous framing with its 4xx, closes, and forwards nothing', async () => {
    const up = await startUpstream('svc');
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const port = proxy.listenerPort('out');
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: svc\r\n\r\n';
    const cases: [string, string][] = [
      [
        `POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n${smuggled}`,
        '400',
      ],
      [`POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n${smuggled}`, '400'],
      [`POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${smuggled}`, '400'],
      [`POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${smuggled}`, '400'],
      [`POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n${smuggled}`, '501'],
      [`POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${smuggled}`, '400'],
      [`POST / HTTP/1.1\r\nHost: svc\r\nX-Pad: a\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`, '400'],
      [`POST / HTTP/1.1\nHost: svc\nContent-Length: 0\n\n${smuggled}`, '400'],
      [`GET / HTTP/1.1\r\nHost: svc\r\nX: a\rb\r\n\r\n${smuggled}`, '400'],
      [`GET / HTTP/1.1\r\nHost: svc\r\nHost: other\r\n\r\n${smuggled}`, '400'],
      [`GET / HTTP/1.1\r\nX: no-host\r\n\r\n${smuggled}`, '400'],
      [`POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`, '400'],
      [`GET / HTTP/1.1\r\nHost: svc\r\n${'X-Many: y\r\n'.repeat(300)}\r\n`, '431'],
    ];
    for (const [payload, code] of cases) {
      const out = await raw(port, payload);
      expect({ payload, status: out.slice(0, 12) }).toEqual({ payload, status: `HTTP/1.1 ${code}` });
      expect(out).toContain('connection: close');
      expect(out).not.toContain('svc'); // no upstream answer on this connection
    }
    expect(up.seen).toEqual([]);
  });

  it('answers a request whose chunked body turns out invalid with 400, and the upstream never gets a complete request', async () => {
    const up = await startUpstream('svc');
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const out = await raw(
      proxy.listenerPort('out'),
      'POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3x\r\ndef\r\n0\r\n\r\n',
    );
    expect(out).toMatch(/^HTTP\/1\.1 400/);
    expect(up.seen).toEqual([]);
  });
});

describe('HTTP/1.1 fast path: framing', () => {
  it('answers pipelined requests in order on one connection', async () => {
    const up = await startUpstream('svc', (req, res) => {
      // the first answer is the slowest: order must still hold
      setTimeout(() => res.end(`answer ${req.url}`), req.url === '/1' ? 50 : 0);
    });
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const out = await raw(
      proxy.listenerPort('out'),
      'GET /1 HTTP/1.1\r\nHost: svc\r\n\r\nPOST /2 HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n',
    );
    const bodies = [...out.matchAll(/answer (\/\d)/g)].map((m) => m[1]);
    expect(bodies).toEqual(['/1', '/2', '/3']);
    expect(up.seen.find((s) => s.url === '/2')?.body).toBe('abc');
  });

  it('streams a request body to the upstream before the client has finished sending it', async () => {
    let firstPart: (() => void) | undefined;
    const sawFirst = new Promise<void>((r) => (firstPart = r));
    const up = await startUpstream('svc', (_req, res, body) => res.end(`got ${body}`));
    up.server.prependListener('request', (req) => req.once('data', () => firstPart!()));
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const reply = await new Promise<string>((resolve, reject) => {
      const r = httpRequest(
        { host: '127.0.0.1', port: proxy.listenerPort('out'), method: 'POST', path: '/', headers: { host: 'svc' } },
        (res) => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c));
          res.on('end', () => resolve(b));
        },
      );
      r.on('error', reject);
      r.write('first-');
      // the second part is only sent once the upstream has received the first
      void sawFirst.then(() => r.end('second'));
    });
    expect(reply).toBe('got first-second');
  });

  it('answers HTTP/1.0 clients with a close-delimited body, and HEAD without a body', async () => {
    const up = await startUpstream('svc', (req, res) => {
      res.setHeader('content-type', 'text/plain');
      if (req.url === '/stream') {
        res.write('part-a ');
        res.end('part-b');
      } else res.end('hello');
    });
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const old = await raw(proxy.listenerPort('out'), 'GET /stream HTTP/1.0\r\nHost: svc\r\n\r\n');
    expect(old).toMatch(/^HTTP\/1\.1 200/);
    expect(old).not.toMatch(/transfer-encoding/i);
    expect(old).toContain('connection: close');
    expect(old.endsWith('\r\n\r\npart-a part-b')).toBe(true);
    const head = await raw(
      proxy.listenerPort('out'),
      'HEAD / HTTP/1.1\r\nHost: svc\r\n\r\nGET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n',
    );
    const responses = head.split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    // the HEAD answer ends with its head: no body bytes, and the next response follows intact
    expect(responses[0]!.endsWith('\r\n\r\n')).toBe(true);
    expect(responses[0]).not.toContain('hello');
    expect(responses[1]!.endsWith('hello')).toBe(true);
    expect(up.seen.map((s) => s.method)).toEqual(['GET', 'HEAD', 'GET']);
  });
});

describe('HTTP/1.1 fast path: hand-off to node:http', () => {
  it('passes an Upgrade that comes after plain requests on the same kept-alive connection', async () => {
    const app = createH1Server((req, res) => res.end(`plain ${req.url}`));
    app.on('upgrade', (_req, socket: Socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString()}`));
      socket.on('end', () => socket.end());
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
    closeAfter({
      close: () =>
        new Promise<void>((r) => {
          app.closeAllConnections();
          app.close(() => r());
        }),
    });
    const { proxy, accessLog } = await startProxy(
      simpleConfig({ clusters: [cluster('ws', [(app.address() as { port: number }).port])] }),
    );
    const got = await new Promise<string>((resolve, reject) => {
      const s = netConnect(proxy.listenerPort('out'), '127.0.0.1');
      let buf = '';
      let step = 0;
      s.on('data', (d) => {
        buf += d.toString('latin1');
        if (step === 0 && buf.includes('plain /first')) {
          step = 1;
          s.write(
            'GET /chat HTTP/1.1\r\nHost: ws.local\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
          );
        } else if (step === 1 && buf.includes('101 Switching Protocols') && buf.endsWith('\r\n\r\n')) {
          step = 2;
          s.write('frame');
        } else if (step === 2 && buf.includes('echo:frame')) {
          s.destroy();
          resolve(buf);
        }
      });
      s.on('error', reject);
      s.write('GET /first HTTP/1.1\r\nHost: ws.local\r\n\r\n');
    });
    expect(got).toMatch(/^HTTP\/1\.1 200/);
    expect(got).toContain('HTTP/1.1 101 Switching Protocols');
    expect(got.endsWith('echo:frame')).toBe(true);
    await eventually(
      () => accessLog().some((l) => l.response_code === 101 && l.path === '/chat'),
      'access log line of the upgrade',
    );
    expect(accessLog().find((l) => l.path === '/first')).toMatchObject({ response_code: 200, protocol: 'HTTP/1.1' });
  });
});

describe('HTTP/1.1 fast path: routing per request', () => {
  it('a kept-alive client follows a weight swap (100/0 -> 0/100) on its next requests', async () => {
    const a = await startUpstream('A');
    const b = await startUpstream('B');
    const cfg = (wa: number, wb: number, v: string) =>
      simpleConfig({
        version: v,
        clusters: [cluster('a', [a.port]), cluster('b', [b.port])],
        routes: [
          {
            route: [
              { cluster: 'a', weight: wa },
              { cluster: 'b', weight: wb },
            ],
          },
        ],
      });
    const { proxy } = await startProxy(cfg(100, 0, 'v1'));
    const port = proxy.listenerPort('out');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    const one = () =>
      new Promise<string>((resolve, reject) => {
        const r = httpRequest({ host: '127.0.0.1', port, path: '/', headers: { host: 'svc' }, agent }, (res) => {
          sockets.add(res.socket);
          let body = '';
          res.on('data', (c: Buffer) => (body += c));
          res.on('end', () => resolve(body));
        });
        r.on('error', reject);
        r.end();
      });
    const before: string[] = [];
    for (let i = 0; i < 5; i++) before.push(await one());
    expect((await proxy.applyConfig(cfg(0, 100, 'v2'))).ok).toBe(true);
    const after: string[] = [];
    for (let i = 0; i < 5; i++) after.push(await one());
    agent.destroy();
    expect(before).toEqual(['A', 'A', 'A', 'A', 'A']);
    expect(after).toEqual(['B', 'B', 'B', 'B', 'B']);
    // one client connection for all ten requests
    expect(sockets.size).toBe(1);
  });
});

describe('HTTP/1.1 fast path: upstream pool', () => {
  it('reuses an upstream connection, closes it after idleTimeout, and opens a new one for the next request', async () => {
    const opened: Socket[] = [];
    const up = await startUpstream('svc');
    up.server.on('connection', (s: Socket) => opened.push(s));
    const { proxy } = await startProxy(
      simpleConfig({ clusters: [cluster('svc', [up.port], { connectionPool: { http: { idleTimeout: '150ms' } } })] }),
    );
    for (let i = 0; i < 3; i++) expect((await send(proxy.listenerPort('out'))).body).toBe('svc');
    expect(opened).toHaveLength(1);
    await eventually(() => opened[0]!.destroyed, 'the idle upstream connection closed by the proxy');
    const clusters = await admin<{ name: string; connections: number }[]>(proxy, '/clusters');
    expect(clusters.find((c) => c.name === 'svc')?.connections).toBe(0);
    expect((await send(proxy.listenerPort('out'))).body).toBe('svc');
    expect(opened).toHaveLength(2);
  });

  it('opens no more than tcp.maxConnections upstream connections; requests beyond them wait their turn', async () => {
    const opened = new Set<unknown>();
    const up = await startUpstream('svc', (req, res) => {
      opened.add(req.socket);
      setTimeout(() => res.end('ok'), 20);
    });
    const { proxy } = await startProxy(
      simpleConfig({ clusters: [cluster('svc', [up.port], { connectionPool: { tcp: { maxConnections: 2 } } })] }),
    );
    const agent = new Agent({ keepAlive: true, maxSockets: 6 });
    const replies = await Promise.all(Array.from({ length: 6 }, () => send(proxy.listenerPort('out'), { agent })));
    agent.destroy();
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(opened.size).toBe(2);
  });
});
