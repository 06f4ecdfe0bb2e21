/** Finding 3: an upstream response with broken framing is a failed response, never the end of the proxy. */
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closeAfter, cluster, send, simpleConfig, startProxy, startUpstream } from '../../support.js';

/** A raw TCP upstream that answers every request with the same bytes, in one write, then keeps the socket open. */
async function rawUpstream(answer: string): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.once('data', () => s.write(answer));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  closeAfter({
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  });
  return (server.address() as { port: number }).port;
}

const head = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n';
const broken: [string, string][] = [
  ['chunk data longer than its size', `${head}2\r\nokXX0\r\n\r\n`],
  ['a chunk size that is not hex', `${head}zz\r\nhello\r\n0\r\n\r\n`],
  ['a trailer line ending in a bare LF', `${head}2\r\nok\r\n0\r\nx-t: 1\n\r\n`],
  ['a chunk extension with a NUL', `${head}2;a=\0\r\nok\r\n0\r\n\r\n`],
  ['a chunk size overflowing 2^53', `${head}ffffffffffffffffff\r\nok\r\n0\r\n\r\n`],
];

describe('upstream responses with invalid framing in the same read as the head', () => {
  for (const [what, bytes] of broken) {
    it(`${what}: the client gets a failed response and the proxy keeps serving`, async () => {
      const bad = await rawUpstream(bytes);
      const good = await startUpstream('good');
      const cfg = simpleConfig({
        clusters: [cluster('bad', [bad]), cluster('good', [good.port])],
        routes: [
          { match: [{ headers: { 'x-to': { exact: 'bad' } } }], route: [{ cluster: 'bad' }] },
          { route: [{ cluster: 'good' }] },
        ],
      });
      const { proxy } = await startProxy(cfg);
      const port = proxy.listenerPort('out');
      // The head was already sent downstream: the response breaks off (or is a 503 when nothing was sent).
      const r = await send(port, { headers: { 'x-to': 'bad' } }).then(
        (x) => x.status,
        () => 'broken off',
      );
      expect([503, 'broken off']).toContain(r);
      expect(await send(port)).toMatchObject({ status: 200, body: 'good' });
    });
  }
});
