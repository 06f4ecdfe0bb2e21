/**
 * What a long-lived request (a gRPC stream, a response that streams for hours) costs in memory for its ids. Ids are
 * slices of a generation of the random pool's text (and a UUID batch), so a request still running when the pool has
 * moved on would keep its whole generation alive, about 20 KiB (41 with a tracing proxy's bytes), one per stream
 * when streams start at different times. Measured through a real proxy over HTTP/1.1 and HTTP/2: streams started
 * generations apart may cost no more than streams started together.
 */
import { request as httpRequest, type ClientRequest } from 'node:http';
import { connect as h2connect, createServer as createH2Server, type ServerHttp2Stream } from 'node:http2';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { closeAfter, cluster, simpleConfig, startProxy, startUpstream } from '../support.js';
import { requestId } from '../../../src/proxy-runtime/telemetry/trace.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap and buffer memory after a full collection. */
function memory(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Moves the random pool on by about two generations, as a few hundred other requests would. */
function otherRequests(): void {
  for (let i = 0; i < 1100; i++) requestId();
}

const STREAMS = 100;
const tracing = { telemetry: { tracing: { sampling: 100 } } };

/**
 * Opens `STREAMS` long-lived requests with `open`, either back to back or generations apart, and returns the memory
 * they hold per stream in each case (bytes).
 */
async function perStream(open: () => Promise<() => void>): Promise<{ together: number; apart: number }> {
  const run = async (apart: boolean): Promise<number> => {
    const before = memory();
    const closes: (() => void)[] = [];
    for (let i = 0; i < STREAMS; i++) {
      if (apart) otherRequests();
      closes.push(await open());
    }
    otherRequests();
    otherRequests();
    const held = memory() - before;
    for (const c of closes) c();
    await new Promise((r) => setTimeout(r, 50));
    return held / STREAMS;
  };
  await run(false); // warm-up: code, pools and caches that any first request makes
  const together = await run(false);
  const apart = await run(true);
  return { together, apart };
}

describe('ids of long-lived requests', () => {
  it('do not keep a generation of the random pool alive (HTTP/1.1)', async () => {
    const held: (() => void)[] = [];
    const up = await startUpstream('stream', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      held.push(() => res.end());
    });
    const { proxy } = await startProxy(simpleConfig({ clusters: [cluster('stream', [up.port])], extra: tracing }));
    const open = (): Promise<() => void> =>
      new Promise((resolve, reject) => {
        const req: ClientRequest = httpRequest(
          {
            host: '127.0.0.1',
            port: proxy.listenerPort('out'),
            path: '/events',
            headers: { host: 'svc' },
            agent: false,
          },
          (res) => {
            res.once('data', () => resolve(() => req.destroy()));
            res.on('error', () => undefined);
          },
        );
        req.on('error', reject);
        req.end();
      });
    const { together, apart } = await perStream(open);
    for (const h of held) h();
    // Before: apart held about 41 KiB more per stream than together.
    expect(apart - together, `per stream: together ${together} B, apart ${apart} B`).toBeLessThan(4096);
  });

  it('do not keep a generation of the random pool alive (HTTP/2 to an HTTP/2 upstream)', async () => {
    const streams: ServerHttp2Stream[] = [];
    const server = createH2Server();
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write('first');
      streams.push(stream);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closeAfter({ close: () => new Promise<void>((r) => server.close(() => r())) });
    const port = (server.address() as { port: number }).port;
    const { proxy } = await startProxy(
      simpleConfig({ clusters: [cluster('h2', [port], { protocol: 'http2' })], extra: tracing }),
    );
    const client = h2connect(`http://127.0.0.1:${proxy.listenerPort('out')}`);
    closeAfter({ close: () => new Promise<void>((r) => client.close(() => r())) });
    const open = (): Promise<() => void> =>
      new Promise((resolve, reject) => {
        const s = client.request({
          ':method': 'POST',
          ':path': '/svc.Stream/Watch',
          'content-type': 'application/grpc',
        });
        s.once('data', () => resolve(() => s.close()));
        s.on('error', reject);
      });
    const { together, apart } = await perStream(open);
    for (const s of streams) s.close();
    expect(apart - together, `per stream: together ${together} B, apart ${apart} B`).toBeLessThan(4096);
  });
});
