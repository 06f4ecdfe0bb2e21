/**
 * The span exporter's batches on a real collector over loopback: many spans cross several batch
 * buffers (and reuse them) without losing or repeating one, and a span bigger than a whole batch
 * buffer still arrives intact.
 */
import { createServer, type Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { SpanExporter } from '../../../src/proxy-runtime/telemetry/span-export.js';
import type { HexId } from '../../../src/proxy-runtime/http/exchange.js';
import { spanConstants, type SpanRecord } from '../../../src/proxy-runtime/telemetry/span-encoding.js';
import { closeAfter, eventually } from '../support.js';

async function collector(): Promise<{
  address: string;
  spans: { id: string; tags: Record<string, string> }[];
  posts: number[];
}> {
  const spans: { id: string; tags: Record<string, string> }[] = [];
  const posts: number[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const batch = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        id: string;
        tags: Record<string, string>;
      }[];
      posts.push(batch.length);
      spans.push(...batch);
      res.writeHead(202).end();
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
  return { address: `127.0.0.1:${(server.address() as { port: number }).port}`, spans, posts };
}

const constants = spanConstants('svc.default', [['node_id', 'n']], [['upstream_cluster', 'c']]);

function span(i: number, path = '/'): SpanRecord {
  return {
    traceId: i.toString(16).padStart(32, '0') as HexId,
    spanId: i.toString(16).padStart(16, '0') as HexId,
    parentId: undefined,
    kind: 'SERVER',
    service: 'svc',
    port: '80',
    startUs: 1_764_900_000_000_000 + i,
    durationUs: 10,
    error: false,
    constants,
    scheme: 'http',
    authority: 'svc',
    path,
    method: 'GET',
    protocol: 'HTTP/1.1',
    status: 200,
    requestSize: 0,
    responseSize: 0,
    flags: '-',
    peerAddress: '127.0.0.1',
    requestId: `r${i}`,
    requestIdIsUuid: false,
    userAgent: '-',
    custom: undefined,
    remoteAddress: '127.0.0.1',
    remotePort: 1,
  };
}

describe('span exporter batches', () => {
  it('sends thousands of spans over several batches, each once, and a span bigger than a batch buffer intact', async () => {
    const c = await collector();
    const ex = new SpanExporter();
    ex.configure({ sampling: 100, maxQueuedSpans: 100_000, zipkin: { address: c.address } });
    closeAfter({ close: async () => ex.close() });
    const big = '/' + 'b'.repeat(600 * 1024);
    const total = 3001;
    for (let i = 0; i < total - 1; i++) {
      ex.offer(span(i));
      if (i === 1000) ex.offer(span(99_999, big));
    }
    expect(ex.counters.dropped).toBe(0);
    ex.flush();
    await eventually(() => ex.counters.exported === total, 'every span exported', 2000);
    expect(c.spans).toHaveLength(total);
    expect(new Set(c.spans.map((s) => s.id)).size).toBe(total);
    expect(c.posts.length).toBeGreaterThan(2);
    expect(c.spans.find((s) => s.id === (99_999).toString(16).padStart(16, '0'))!.tags['http.url']).toBe(
      `http://svc${big}`,
    );
    expect(ex.queued).toBe(0);
    expect(ex.counters.dropped).toBe(0);
  });
});
