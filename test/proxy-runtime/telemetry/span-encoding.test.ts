/**
 * The hand-written span encoders give the very bytes JSON.stringify gives for the same spans (the
 * encoders they replaced are kept here as the reference, Zipkin's with its keys in the order the
 * encoder writes them: per-request values first and last): Zipkin v2 and OTLP/HTTP JSON, with
 * hostile strings (quotes, backslashes, control characters, non-ASCII, lone surrogates), custom
 * tags that replace standard ones, and spans bigger than a batch buffer.
 */
import { describe, expect, it } from 'vitest';
import type { HexId } from '../../../src/proxy-runtime/http/exchange.js';
import {
  BatchWriter,
  otlp,
  spanConstants,
  zipkin,
  type SpanEncoding,
  type SpanRecord,
} from '../../../src/proxy-runtime/telemetry/span-encoding.js';

/** The span as the earlier exporter held it: a tags map in Istio's order. */
interface RefSpan {
  traceId: string;
  spanId: string;
  parentId: string | undefined;
  kind: 'CLIENT' | 'SERVER';
  name: string;
  startUs: number;
  durationUs: number;
  serviceName: string;
  error: boolean;
  tags: Record<string, string>;
  remote: { address: string; port: number } | undefined;
  /** the encoder's own layout (no whole tags map given): Zipkin tags in its order */
  fast: boolean;
}

/** The tags Zipkin's encoder writes last (per request); the rest keep their order. */
const ZIPKIN_LAST = ['http.url', 'request_size', 'response_size', 'guid:x-request-id'];

function zipkinTags(s: RefSpan): Record<string, string> {
  const tags = s.error ? { ...s.tags, error: 'true' } : s.tags;
  if (!s.fast) return tags;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags)) if (!ZIPKIN_LAST.includes(k)) out[k] = v;
  for (const k of ZIPKIN_LAST) out[k] = tags[k]!;
  return out;
}

function refZipkin(spans: readonly RefSpan[]): string {
  const endpoint = (r: { address: string; port: number }) => {
    const v6 = r.address.includes(':');
    const address = r.address.startsWith('::ffff:') ? r.address.slice(7) : r.address;
    return { [v6 && !r.address.startsWith('::ffff:') ? 'ipv6' : 'ipv4']: address, port: r.port };
  };
  return JSON.stringify(
    spans.map((s) => ({
      traceId: s.traceId,
      id: s.spanId,
      timestamp: s.startUs,
      duration: Math.max(1, s.durationUs),
      parentId: s.parentId || undefined,
      remoteEndpoint: s.remote ? endpoint(s.remote) : undefined,
      kind: s.kind,
      name: s.name,
      localEndpoint: { serviceName: s.serviceName },
      tags: zipkinTags(s),
    })),
  );
}

function refOtlp(spans: readonly RefSpan[]): string {
  const byService = new Map<string, RefSpan[]>();
  for (const s of spans) {
    const list = byService.get(s.serviceName);
    if (list) list.push(s);
    else byService.set(s.serviceName, [s]);
  }
  const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
  return JSON.stringify({
    resourceSpans: [...byService].map(([service, list]) => ({
      resource: { attributes: [str('service.name', service)] },
      scopeSpans: [
        {
          scope: { name: 'meshctl-proxy' },
          spans: list.map((s) => ({
            traceId: s.traceId,
            spanId: s.spanId,
            ...(s.parentId ? { parentSpanId: s.parentId } : {}),
            name: s.name,
            kind: s.kind === 'SERVER' ? 2 : 3,
            startTimeUnixNano: `${s.startUs}000`,
            endTimeUnixNano: `${s.startUs + Math.max(1, s.durationUs)}000`,
            attributes: Object.entries(s.tags).map(([k, v]) => str(k, v)),
            status: s.error ? { code: 2 } : {},
          })),
        },
      ],
    })),
  });
}

/** The earlier span of the same request, built the earlier way (one assignment per tag, custom ones last). */
function reference(s: SpanRecord, custom: readonly (readonly [string, string])[] = []): RefSpan {
  const tags: Record<string, string> = {};
  for (const [k, v] of s.constants.nodeTags) tags[k] = v;
  Object.assign(tags, {
    'http.url': `${s.scheme}://${s.authority}${s.path}`,
    'http.method': s.method,
    'http.protocol': s.protocol,
    'http.status_code': String(s.status),
    request_size: String(s.requestSize),
    response_size: String(s.responseSize),
    response_flags: s.flags,
  });
  for (const [k, v] of s.constants.clusterTags) tags[k] = v;
  Object.assign(tags, { 'peer.address': s.peerAddress, 'guid:x-request-id': s.requestId, user_agent: s.userAgent });
  for (const [k, v] of custom) tags[k] = v;
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    parentId: s.parentId,
    kind: s.kind,
    name: `${s.service}:${s.port}/*`,
    startUs: s.startUs,
    durationUs: s.durationUs,
    serviceName: s.constants.serviceName,
    error: s.error,
    tags,
    remote: s.remoteAddress === undefined ? undefined : { address: s.remoteAddress, port: s.remotePort },
    fast: s.tags === undefined,
  };
}

const NODE: [string, string][] = [
  ['node_id', 'sidecar~10.0.0.1~productpage-v1.default'],
  ['istio.canonical_service', 'productpage'],
  ['istio.canonical_revision', 'v1'],
  ['istio.namespace', 'default'],
  ['istio.mesh_id', 'cluster.local'],
  ['component', 'proxy'],
];
const clusterTags = (c: string): [string, string][] => [
  ['upstream_cluster', c],
  ['upstream_cluster.name', c],
  ['downstream_cluster', '-'],
];
const constants = spanConstants('productpage.default', NODE, clusterTags('outbound|9080||reviews.default.svc'));

function span(over: Partial<SpanRecord> = {}): SpanRecord {
  return {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736' as HexId,
    spanId: '00f067aa0ba902b7' as HexId,
    parentId: 'a3ce929d0e0e4736' as HexId,
    kind: 'CLIENT',
    service: 'reviews.default.svc.cluster.local',
    port: '9080',
    startUs: 1_764_900_000_123_456,
    durationUs: 1234,
    error: false,
    constants,
    scheme: 'http',
    authority: 'reviews:9080',
    path: '/reviews/1?x=1',
    method: 'GET',
    protocol: 'HTTP/1.1',
    status: 200,
    requestSize: 0,
    responseSize: 1024,
    flags: '-',
    peerAddress: '10.0.0.1',
    requestId: '7f3c2a9e-1b2c-4d5e-8f90-123456789abc',
    requestIdIsUuid: true,
    userAgent: 'curl/8.5.0',
    custom: undefined,
    remoteAddress: '10.0.0.2',
    remotePort: 9080,
    ...over,
  };
}

function encode(enc: SpanEncoding, spans: readonly SpanRecord[], size = 1 << 20): string {
  const w = new BatchWriter(Buffer.alloc(size));
  enc.open(w);
  for (const s of spans) {
    enc.span(w, s);
    w.count++;
  }
  enc.close(w);
  expect(w.overflowed).toBe(false);
  return w.buf.toString('utf8', 0, w.pos);
}

const HOSTILE = [
  'say "hi"',
  'back\\slash',
  'tab\there\nnewline\r\u0000\u001f',
  'café ünïcödé',
  'emoji 🚀 and ☃',
  'lone \ud800 surrogate \udc00',
  'del \u007f',
  '\u2028\u2029',
  '',
];

describe('span encoding', () => {
  it('writes the bytes JSON.stringify wrote, Zipkin and OTLP, for plain and varied spans', () => {
    const spans = [
      span(),
      span({ parentId: undefined, kind: 'SERVER', remoteAddress: undefined, error: true, status: 503, flags: 'UF' }),
      span({ remoteAddress: '::ffff:10.1.2.3', remotePort: 1 }),
      span({ remoteAddress: 'fd00::1', remotePort: 65535, status: 0, error: true }),
      span({ durationUs: 0, requestSize: 12_345_678_901, startUs: 0 }),
      span({
        startUs: 1_000_000_000_000_005,
        requestSize: 100_000_000,
        responseSize: 99_999_999,
        durationUs: 100_000_007,
      }),
      span({ custom: ['team', 'books', 'tenant', 'acme'] }),
      span({ traceId: 'a3ce929d0e0e4736' as HexId, parentId: undefined }),
    ];
    const refs = spans.map((s, i) =>
      reference(
        s,
        i === 6
          ? [
              ['team', 'books'],
              ['tenant', 'acme'],
            ]
          : [],
      ),
    );
    expect(encode(zipkin, spans)).toBe(refZipkin(refs));
    expect(encode(otlp, spans)).toBe(refOtlp(refs));
    expect(JSON.parse(encode(zipkin, spans))).toHaveLength(8);
  });

  it('escapes every hostile string as JSON.stringify does', () => {
    for (const h of HOSTILE) {
      const hostileConstants = spanConstants(
        h,
        NODE.map(([k]) => [k, h] as [string, string]),
        clusterTags(h),
      );
      const s = span({
        constants: hostileConstants,
        service: h,
        port: h,
        authority: h,
        path: h,
        method: h,
        flags: h,
        peerAddress: h,
        requestId: h,
        requestIdIsUuid: false,
        userAgent: h,
        remoteAddress: h,
        custom: [h, h],
      });
      const ref = reference(s, [[h, h]]);
      expect(encode(zipkin, [s])).toBe(refZipkin([ref]));
      expect(encode(otlp, [s])).toBe(refOtlp([ref]));
    }
  });

  it('writes a whole tags map when custom tags replace standard ones or have integer names (JSON.stringify order)', () => {
    const custom: [string, string][] = [
      ['component', 'mine'],
      ['7', 'seven'],
      ['error', 'nope'],
    ];
    for (const error of [false, true]) {
      const base = span({ error });
      // the span carries its whole tags map, written in the map's order
      const ref = { ...reference(base, custom), fast: false };
      const s = span({ error, tags: ref.tags });
      expect(encode(zipkin, [s])).toBe(refZipkin([ref]));
      expect(encode(otlp, [s])).toBe(refOtlp([ref]));
    }
  });

  it('groups OTLP spans by service as the batch goes (a config change renaming the workload mid-batch)', () => {
    const other = spanConstants('reviews.default', NODE, clusterTags('inbound|9080||'));
    const spans = [span(), span(), span({ constants: other }), span({ constants: other })];
    const parsed = JSON.parse(encode(otlp, spans)) as { resourceSpans: unknown[] };
    expect(parsed.resourceSpans).toHaveLength(2);
    expect(encode(otlp, spans)).toBe(refOtlp(spans.map((s) => reference(s))));
  });

  it('gives the same bytes when runs are copied from earlier spans: every value changed in turn, two batches interleaved, a rewound span', () => {
    const other = spanConstants('reviews.default', NODE, clusterTags('inbound|9080||'));
    const changes: Partial<SpanRecord>[] = [
      {},
      { kind: 'SERVER' },
      { service: 'ratings' },
      { port: '9081' },
      { constants: other },
      { remoteAddress: undefined },
      { remotePort: 1 },
      { scheme: 'https' },
      { authority: 'reviews:9081' },
      { path: '/reviews/2' },
      { method: 'POST' },
      { protocol: 'HTTP/2' },
      { status: 404 },
      { requestSize: 5, responseSize: 6 },
      { flags: 'NR' },
      { peerAddress: '10.0.0.9' },
      { requestId: 'another-id', requestIdIsUuid: false },
      { requestId: 'say "hi"', requestIdIsUuid: false },
      { userAgent: 'wget' },
      { custom: ['team', 'books'] },
      { error: true, status: 500 },
    ];
    // each change twice in a row (the second copies runs), then back to the plain span
    const spans = changes.flatMap((c, i) => [
      span({ ...c, startUs: i }),
      span({ ...c, spanId: 'ab'.repeat(8) as HexId }),
      span(),
    ]);
    const refs = spans.map((s) => reference(s, s.custom ? [['team', 'books']] : []));
    expect(encode(zipkin, spans)).toBe(refZipkin(refs));
    // two batches written in turn: a run kept in one is never copied into the other
    const a = new BatchWriter(Buffer.alloc(1 << 16));
    const b = new BatchWriter(Buffer.alloc(1 << 16));
    zipkin.open(a);
    zipkin.open(b);
    spans.forEach((s, i) => {
      const w = i % 2 === 0 ? a : b;
      zipkin.span(w, s);
      w.count++;
    });
    zipkin.close(a);
    zipkin.close(b);
    expect(a.buf.toString('utf8', 0, a.pos)).toBe(refZipkin(refs.filter((_, i) => i % 2 === 0)));
    expect(b.buf.toString('utf8', 0, b.pos)).toBe(refZipkin(refs.filter((_, i) => i % 2 === 1)));
    // a span taken out again (rewind) and overwritten: runs it kept are not copied afterwards
    const w = new BatchWriter(Buffer.alloc(1 << 16));
    zipkin.open(w);
    zipkin.span(w, span());
    w.count++;
    const mark = w.pos;
    zipkin.span(w, span({ service: 'ratings', path: '/x', flags: 'UF', userAgent: 'u' }));
    w.rewind(mark);
    w.lit(',' + 'x'.repeat(900));
    w.rewind(mark);
    zipkin.span(w, span({ service: 'ratings', path: '/x', flags: 'UF', userAgent: 'u' }));
    w.count++;
    zipkin.close(w);
    const again = [span(), span({ service: 'ratings', path: '/x', flags: 'UF', userAgent: 'u' })];
    expect(w.buf.toString('utf8', 0, w.pos)).toBe(refZipkin(again.map((s) => reference(s))));
  });

  it('copies ids the proxy generated from their bytes: the same spans as from the strings, at any offset', () => {
    // the ids' hex digits somewhere inside bigger buffers, as trace.ts hands them over (its pool and UUID batch)
    const hex = Buffer.from('x'.repeat(100) + '4bf92f3577b34da6a3ce929d0e0e4736' + '00f067aa0ba902b7' + 'y'.repeat(7));
    const uuid = Buffer.from('-'.repeat(37) + '7f3c2a9e-1b2c-4d5e-8f90-123456789abc' + '-');
    const bytes = { idBytes: hex, idBytesAt: 100, requestIdBytes: uuid, requestIdAt: 37 };
    const spans = [
      span(),
      span({ parentId: undefined }),
      span({ parentId: undefined, kind: 'SERVER', remoteAddress: undefined, error: true, status: 503 }),
    ];
    for (const enc of [zipkin, otlp]) {
      const fromStrings = encode(enc, spans);
      expect(encode(enc, [...spans.map((s) => ({ ...s, ...bytes }))])).toBe(fromStrings);
      // bytes for the ids only, or for the request id only
      expect(
        encode(
          enc,
          spans.map((s) => ({ ...s, idBytes: hex, idBytesAt: 100 })),
        ),
      ).toBe(fromStrings);
      expect(
        encode(
          enc,
          spans.map((s) => ({ ...s, requestIdBytes: uuid, requestIdAt: 37 })),
        ),
      ).toBe(fromStrings);
    }
    expect(JSON.parse(encode(zipkin, [span({ ...bytes, parentId: undefined })]))[0]).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      id: '00f067aa0ba902b7',
      tags: { 'guid:x-request-id': '7f3c2a9e-1b2c-4d5e-8f90-123456789abc' },
    });
    // a batch too small for the span notices (the exporter then writes it into a bigger one)
    const w = new BatchWriter(Buffer.alloc(40));
    zipkin.span(w, span({ ...bytes }));
    expect(w.overflowed).toBe(true);
  });

  it('notices a span that does not fit and never writes past the buffer', () => {
    const buf = Buffer.alloc(600, 0x2a);
    const w = new BatchWriter(buf.subarray(0, 500));
    zipkin.open(w);
    zipkin.span(w, span({ path: '/' + 'p'.repeat(2000) }));
    expect(w.overflowed).toBe(true);
    expect(buf.subarray(500).every((b) => b === 0x2a)).toBe(true);
  });
});
