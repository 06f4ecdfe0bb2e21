/**
 * Finding 6: request heads read as RFC 9110/9112 say, over real sockets through a real proxy
 * (fast path and protocol detection): duplicate Content-Length values, Host syntax, empty lines
 * before the request line.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { cluster, simpleConfig, startProxy, startUpstream } from '../../support.js';

function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (/\r\n\r\n/.test(got) && /content-length: 0\r\n\r\n$|\r\n\r\n[^]*\S$/i.test(got)) s.end();
    });
    s.on('error', () => resolve(got));
    s.on('close', () => resolve(got));
    s.setTimeout(2000, () => s.destroy());
    s.write(bytes);
  });
}

for (const chain of [{ protocol: 'http1' }, { protocol: 'auto', tcpCluster: 'app' }]) {
  describe(`request heads on a ${chain.protocol} chain`, () => {
    async function setup() {
      const up = await startUpstream('app');
      const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('app', [up.port])], chain }));
      return { up, port: proxy.listenerPort('out') };
    }

    it('forwards "Content-Length: 5, 5" as one value, and refuses differing ones', async () => {
      const { up, port } = await setup();
      expect(
        await raw(port, 'POST /a HTTP/1.1\r\nHost: svc\r\nContent-Length: 5, 5\r\nConnection: close\r\n\r\nhello'),
      ).toMatch(/^HTTP\/1\.1 200 /);
      expect(up.seen[0]).toMatchObject({ body: 'hello' });
      expect(up.seen[0]!.headers['content-length']).toBe('5');
      expect(await raw(port, 'POST /b HTTP/1.1\r\nHost: svc\r\nContent-Length: 5, 6\r\n\r\nhello!')).toMatch(
        /^HTTP\/1\.1 400 /,
      );
      expect(up.seen).toHaveLength(1);
    });

    it('refuses a Host that is a list or carries userinfo or a path (400, nothing forwarded)', async () => {
      const { up, port } = await setup();
      for (const host of ['a, b', 'a/b@c', 'user@svc', 'svc/x', 'svc?q', 'svc:80:90']) {
        expect(await raw(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`), host).toMatch(
          /^HTTP\/1\.1 400 /,
        );
      }
      for (const host of ['svc', 'svc:8080', '127.0.0.1:80', '[::1]:80', 'a-b.c_d.example']) {
        expect(await raw(port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`), host).toMatch(
          /^HTTP\/1\.1 200 /,
        );
      }
      expect(up.seen).toHaveLength(5);
    });

    it('ignores one empty line before the request line, and refuses more', async () => {
      const { up, port } = await setup();
      expect(await raw(port, '\r\nGET /one HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n')).toMatch(
        /^HTTP\/1\.1 200 /,
      );
      expect(up.seen.map((s) => s.url)).toEqual(['/one']);
      expect(await raw(port, '\r\n\r\nGET /two HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n')).toMatch(
        /^HTTP\/1\.1 400 /,
      );
      expect(up.seen.map((s) => s.url)).toEqual(['/one']);
    });
  });
}
