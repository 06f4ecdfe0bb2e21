/** HTTP/1.1 details, h2c, gRPC, WebSocket-style upgrades and request-smuggling defences, end to end. */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as h2connect, createServer as createH2Server, type ClientHttp2Session } from 'node:http2';
import { request as httpRequest, createServer as createH1Server } from 'node:http';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cluster, closeAfter, eventually, send, simpleConfig, startProxy, startUpstream } from '../support.js';

function rawExchange(port: number, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    s.write(payload);
    // The proxy answers and closes; the timer only ends a test that would otherwise hang.
    setTimeout(() => s.destroy(), 10_000).unref();
  });
}

describe('HTTP/1.1', () => {
  it('streams chunked bodies both ways without content-length and keeps trailers', async () => {
    const up = await startUpstream('echo', (req, res, body) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked', trailer: 'x-checksum' });
      res.write('got:');
      res.write(body);
      res.addTrailers({ 'x-checksum': 'abc' });
      res.end();
    });
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('echo', [up.port])] }));
    const reply = await new Promise<{ body: string; trailers: NodeJS.Dict<string>; te: string | undefined }>(
      (resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port: proxy.listenerPort('out'), method: 'POST', path: '/', headers: { host: 'svc' } },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c));
            res.on('end', () => resolve({ body, trailers: res.trailers, te: res.headers['transfer-encoding'] }));
          },
        );
        req.on('error', reject);
        req.write('part1-');
        setTimeout(() => req.end('part2'), 20);
      },
    );
    expect(reply.body).toBe('got:part1-part2');
    expect(reply.te).toBe('chunked');
    expect(reply.trailers['x-checksum']).toBe('abc');
    // Upstream framing is the proxy's choice (chunked while streaming, a length once the body is complete).
    expect(up.seen[0]!.body).toBe('part1-part2');
  });

  it('answers Expect: 100-continue and forwards the body', async () => {
    const up = await startUpstream('svc', (_req, res, body) => res.end(`len=${body.length}`));
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port: proxy.listenerPort('out'),
        method: 'PUT',
        path: '/',
        headers: { host: 'svc', expect: '100-continue', 'content-length': '5' },
      });
      req.on('continue', () => req.end('12345'));
      req.on('response', (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c));
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
    });
    expect(body).toBe('len=5');
  });

  it('reuses keep-alive connections downstream and upstream', async () => {
    const upstreamConnections = new Set<unknown>();
    const up = await startUpstream('svc', (req, res) => {
      upstreamConnections.add(req.socket);
      res.end('ok');
    });
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 5; i++) expect((await send(proxy.listenerPort('out'), { agent })).status).toBe(200);
    agent.destroy();
    expect(upstreamConnections.size).toBe(1);
  });

  it('refuses request smuggling (Content-Length with Transfer-Encoding) with 400 and forwards nothing', async () => {
    const up = await startUpstream('svc');
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const out = await rawExchange(
      proxy.listenerPort('out'),
      'POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: svc\r\n\r\n',
    );
    expect(out).toMatch(/^HTTP\/1\.1 400/);
    expect(up.seen).toHaveLength(0);
  });

  it('refuses two conflicting Content-Length headers and invalid chunk sizes with 400', async () => {
    const up = await startUpstream('svc');
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const a = await rawExchange(
      proxy.listenerPort('out'),
      'POST / HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde',
    );
    expect(a).toMatch(/^HTTP\/1\.1 400/);
    const b = await rawExchange(
      proxy.listenerPort('out'),
      'POST / HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n',
    );
    expect(b).toMatch(/^HTTP\/1\.1 400/);
    expect(up.seen).toHaveLength(0);
  });

  it('refuses oversized request heads with 431 and forwards nothing', async () => {
    const up = await startUpstream('svc');
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const out = await rawExchange(
      proxy.listenerPort('out'),
      `GET / HTTP/1.1\r\nHost: svc\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`,
    );
    expect(out).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large/);
    expect(up.seen).toHaveLength(0);
  });

  it('passes WebSocket upgrades through (101, then frames both ways)', async () => {
    const server = createH1Server((_req, res) => res.end('plain'));
    server.on('upgrade', (req, socket: Socket) => {
      const accept = createHash('sha1')
        .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      socket.on('data', (d) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
      socket.on('end', () => socket.end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closeAfter({
      close: () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    });
    const { proxy, accessLog } = await startProxy(
      simpleConfig({ clusters: [cluster('ws', [(server.address() as { port: number }).port])] }),
    );
    const got = await new Promise<{ status: string; echoed: string }>((resolve, reject) => {
      const s = netConnect(proxy.listenerPort('out'), '127.0.0.1');
      let buf = '';
      let status = '';
      s.on('data', (d) => {
        buf += d.toString();
        if (!status && buf.includes('\r\n\r\n')) {
          status = buf.split('\r\n')[0]!;
          buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
          s.write('frame-1');
        }
        if (buf.includes('echo:frame-1')) {
          s.destroy();
          resolve({ status, echoed: buf });
        }
      });
      s.on('error', reject);
      s.write(
        'GET /chat HTTP/1.1\r\nHost: ws.local\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    expect(got.status).toBe('HTTP/1.1 101 Switching Protocols');
    expect(got.echoed).toContain('echo:frame-1');
    await eventually(
      () => accessLog().some((l) => l.response_code === 101 && l.path === '/chat'),
      'access log line of the upgrade',
    );
  });
});

describe('HTTP/2 cleartext', () => {
  it('detects h2c from the preface and proxies many streams over one upstream session', async () => {
    const sessions = new Set<unknown>();
    const h2 = createH2Server();
    h2.on('stream', (stream, headers) => {
      sessions.add(stream.session);
      stream.respond({ ':status': 200, 'x-path': String(headers[':path']) });
      stream.end(`h2:${headers[':path']}`);
    });
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', () => r()));
    closeAfter({ close: () => new Promise<void>((r) => h2.close(() => r())) });
    const cfg = simpleConfig({
      clusters: [cluster('h2', [(h2.address() as { port: number }).port], { protocol: 'http2' })],
    });
    const { proxy, accessLog } = await startProxy(cfg);
    const client: ClientHttp2Session = h2connect(`http://127.0.0.1:${proxy.listenerPort('out')}`);
    closeAfter({ close: () => void client.close() });
    const one = (p: string) =>
      new Promise<string>((resolve, reject) => {
        const s = client.request({ ':path': p });
        let b = '';
        s.on('data', (c: Buffer) => (b += c));
        s.on('end', () => resolve(b));
        s.on('error', reject);
      });
    const bodies = await Promise.all(['/a', '/b', '/c', '/d'].map(one));
    expect(bodies).toEqual(['h2:/a', 'h2:/b', 'h2:/c', 'h2:/d']);
    expect(sessions.size).toBe(1);
    expect(accessLog().every((l) => l.protocol === 'HTTP/2')).toBe(true);
  });

  it('translates h2 downstream to an HTTP/1.1 upstream', async () => {
    const up = await startUpstream('h1', (req, res) => res.end(`h1 saw ${req.headers.host}${req.url}`));
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('h1', [up.port], { protocol: 'http1' })] }));
    const client = h2connect(`http://127.0.0.1:${proxy.listenerPort('out')}`);
    closeAfter({ close: () => void client.close() });
    const body = await new Promise<string>((resolve, reject) => {
      const s = client.request({ ':path': '/x', ':authority': 'reviews:9080' });
      let b = '';
      s.on('data', (c: Buffer) => (b += c));
      s.on('end', () => resolve(b));
      s.on('error', reject);
    });
    expect(body).toBe('h1 saw reviews:9080/x');
  });
});
