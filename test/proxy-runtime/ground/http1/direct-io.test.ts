/**
 * Direct socket I/O on the fast path (http1/direct-io): every read of every connection lands in
 * one shared buffer, so these tests make many connections read at once and check that no byte of
 * any request or response body is lost, reordered or taken from another connection; that heads
 * arriving a byte at a time (kept across reads) are read right. (A connection handed to node:http
 * for an Upgrade after direct reads: fast-path.test.ts.)
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { request as httpRequest, Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { DIRECT_IO } from '../../../../src/proxy-runtime/ground/http1/direct-io.js';
import { closeAfter, cluster, simpleConfig, startProxy, startUpstream } from '../../support.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Deterministic bytes for response `id` (the client checks them without asking the server). */
function responseBody(id: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = (id * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe('HTTP/1.1 fast path: direct socket I/O', () => {
  it('is in use on this Node.js (otherwise these tests would only test the stream fallback)', () => {
    expect(DIRECT_IO).toBe(true);
  });

  it('keeps every body intact with 24 connections uploading and downloading at once, chunked and sized', async () => {
    const up = await startUpstream('svc');
    up.server.removeAllListeners('request');
    up.server.on('request', (req, res) => {
      const parts: Buffer[] = [];
      const slowReader = Number(req.headers['x-id']) % 3 === 2;
      req.on('data', (c: Buffer) => {
        parts.push(c);
        if (slowReader && parts.length % 4 === 0) {
          req.pause();
          setTimeout(() => req.resume(), 5);
        }
      });
      req.on('end', () => {
        const id = Number(req.headers['x-id']);
        const size = Number(req.headers['x-want']);
        const body = responseBody(id, size);
        const headers: Record<string, string> = { 'x-got-sha': sha(Buffer.concat(parts)) };
        if (id % 2 === 0) headers['content-length'] = String(size);
        res.writeHead(200, headers);
        // written in uneven pieces, so the proxy reads partial chunks and chunk heads split across reads
        let at = 0;
        const step = (): void => {
          while (at < size) {
            const n = Math.min(size - at, 1 + ((at * 7919) % 20000));
            const ok = res.write(body.subarray(at, at + n));
            at += n;
            if (!ok) return void res.once('drain', step);
          }
          res.end();
        };
        step();
      });
    });
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const port = proxy.listenerPort('out');
    const agent = new Agent({ keepAlive: true, maxSockets: 24 });
    closeAfter({ close: () => agent.destroy() });
    const one = (id: number): Promise<{ id: number; ok: boolean; gotSha: string; sentSha: string }> =>
      new Promise((resolve, reject) => {
        const upload = randomBytes(50_000 + id * 3_001);
        const want = 300_000 + id * 17_919;
        const headers: Record<string, string | number> = { host: 'svc', 'x-id': id, 'x-want': want };
        if (id % 3 === 0) headers['content-length'] = upload.length; // else chunked
        const r = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: `/${id}`, headers, agent }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            parts.push(c);
            // Every third client reads slowly: the proxy then holds response bytes it read while
            // other connections read into the same shared buffer.
            if (id % 3 === 1 && parts.length === 1) {
              res.pause();
              setTimeout(() => res.resume(), 100);
            }
          });
          res.on('end', () =>
            resolve({
              id,
              ok: Buffer.concat(parts).equals(responseBody(id, want)),
              gotSha: String(res.headers['x-got-sha']),
              sentSha: sha(upload),
            }),
          );
          res.on('error', reject);
        });
        r.on('error', reject);
        for (let at = 0; at < upload.length; at += 4_096) r.write(upload.subarray(at, at + 4_096));
        r.end();
      });
    const results = await Promise.all(Array.from({ length: 48 }, (_, i) => one(i)));
    for (const r of results) {
      expect({ id: r.id, responseIntact: r.ok, uploadIntact: r.gotSha === r.sentSha }).toEqual({
        id: r.id,
        responseIntact: true,
        uploadIntact: true,
      });
    }
  });

  it('reads heads and bodies that arrive a byte at a time while other connections read', async () => {
    const up = await startUpstream('svc', (req, res, body) =>
      res.end(`${req.method} ${req.url} ${req.headers['x-tag']} ${body}`),
    );
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const port = proxy.listenerPort('out');
    const slow = (tag: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = netConnect(port, '127.0.0.1');
        s.setNoDelay(true);
        let out = '';
        s.on('data', (d: Buffer) => (out += d.toString('latin1')));
        s.on('close', () => resolve(out));
        s.on('error', reject);
        const msg =
          `POST /slow-${tag} HTTP/1.1\r\nHost: svc\r\nX-Tag: ${tag}\r\nContent-Length: 5\r\n\r\nhello` +
          `GET /after-${tag} HTTP/1.1\r\nHost: svc\r\nX-Tag: ${tag}\r\nConnection: close\r\n\r\n`;
        let i = 0;
        const next = (): void => {
          if (i >= msg.length) return;
          s.write(msg[i++]!);
          setTimeout(next, 1);
        };
        next();
      });
    // busy neighbours reading at the same time
    let stop = false;
    const noise = (async () => {
      const agent = new Agent({ keepAlive: true });
      while (!stop) {
        await new Promise<void>((resolve) =>
          httpRequest(
            { host: '127.0.0.1', port, path: '/noise', headers: { host: 'svc', 'x-tag': 'noise' }, agent },
            (res) => res.resume().on('end', resolve),
          ).end(),
        );
      }
      agent.destroy();
    })();
    const [a, b] = await Promise.all([slow('a'), slow('b')]);
    stop = true;
    await noise;
    for (const [tag, out] of [
      ['a', a],
      ['b', b],
    ] as const) {
      expect(out).toContain(`POST /slow-${tag} ${tag} hello`);
      expect(out).toContain(`GET /after-${tag} ${tag} `);
    }
  });

  it('holds what a stalled reader has not taken yet, while other connections read, and delivers it intact', async () => {
    const size = 12 * 1024 * 1024;
    let uploadSeen: Buffer | undefined;
    let releaseUpstreamReader!: () => void;
    const upstreamMayRead = new Promise<void>((r) => (releaseUpstreamReader = r));
    const up = await startUpstream('svc');
    up.server.removeAllListeners('request');
    up.server.on('request', (req, res) => {
      if (req.url === '/noise') return void req.resume().on('end', () => res.end('n'));
      if (req.url === '/download') {
        res.writeHead(200, { 'content-length': String(size) });
        res.end(responseBody(1, size));
        return;
      }
      // /upload: the upstream does not read until told to
      req.pause();
      void upstreamMayRead.then(() => {
        const parts: Buffer[] = [];
        req.on('data', (c: Buffer) => parts.push(c));
        req.on('end', () => {
          uploadSeen = Buffer.concat(parts);
          res.end('ok');
        });
        req.resume();
      });
    });
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('svc', [up.port])] }));
    const port = proxy.listenerPort('out');
    const stalled = (): Promise<void> => new Promise((r) => setTimeout(r, 300));
    const noise = async (n: number): Promise<void> => {
      const agent = new Agent({ keepAlive: true, maxSockets: 8 });
      await Promise.all(
        Array.from(
          { length: n },
          () =>
            new Promise<void>((resolve) =>
              httpRequest(
                { host: '127.0.0.1', port, method: 'POST', path: '/noise', headers: { host: 'svc' }, agent },
                (res) => res.resume().on('end', resolve),
              ).end(randomBytes(30_000)),
            ),
        ),
      );
      agent.destroy();
    };

    // Download: the client stops reading; once the flow has stalled (the proxy holding what the
    // upstream sent beyond the kernel's buffers), other connections read, then the client goes on.
    const download = new Promise<Buffer>((resolve, reject) => {
      httpRequest({ host: '127.0.0.1', port, path: '/download', headers: { host: 'svc' } }, (res) => {
        res.pause();
        const parts: Buffer[] = [];
        void stalled().then(async () => {
          await noise(200);
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve(Buffer.concat(parts)));
          res.resume();
        });
      })
        .on('error', reject)
        .end();
    });
    expect((await download).equals(responseBody(1, size))).toBe(true);

    // Upload: the upstream does not read; once the flow has stalled, other connections read, then it does.
    const upload = randomBytes(size);
    const reply = new Promise<string>((resolve, reject) => {
      const r = httpRequest(
        { host: '127.0.0.1', port, method: 'POST', path: '/upload', headers: { host: 'svc', 'content-length': size } },
        (res) => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c));
          res.on('end', () => resolve(b));
        },
      );
      r.on('error', reject);
      r.end(upload);
      void stalled().then(async () => {
        await noise(200);
        releaseUpstreamReader();
      });
    });
    expect(await reply).toBe('ok');
    expect(uploadSeen !== undefined && sha(uploadSeen) === sha(upload)).toBe(true);
  });
});
